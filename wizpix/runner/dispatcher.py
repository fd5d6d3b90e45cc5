"""BentoML's adaptive batching, without the learning that made start-up slow and requests stall.

BentoML's dispatcher (``CorkDispatcher``) learns a latency model from its first calls: 13
inferences that a front had to make at start-up (71 s for ISNet on 2 cores), then, under
load, it holds a request back for a partner whenever its model says waiting pays, and it
sheds the oldest request once the whole queue's estimated drain passes a fixed
millisecond budget. Our models run a batch image by image (ISNet's graph cannot take two),
so a batch costs its images' time and nothing more: waiting for a partner never pays.

So each batch here is what has queued while the previous one ran, up to
``max_batch_size``, dispatched at once: batches still adapt to the load, no request waits
for a partner, and there is nothing to learn. A request whose caller has gone (its future
cancelled: the front's deadline) is dropped before it costs an inference. Shedding by
deadline is the front's (``wizpix.front.pacing``), which knows each request's deadline;
here a request is refused only past ``max_latency_ms`` in the queue (BentoML's contract).

Installed in runner processes only, before BentoML builds their app (``service.py``); it
replaces a private class of BentoML 1.4.39, pinned, and a test fails if that class moves.
"""

from __future__ import annotations

import asyncio
import logging
import time

import _bentoml_impl.server.app as bentoml_app
from bentoml._internal.marshal.dispatcher import CorkDispatcher

log = logging.getLogger(__name__)


class QueueDispatcher(CorkDispatcher):
    async def controller(self) -> None:
        while True:
            try:
                async with self._wake_event:  # until there is a request in the queue
                    await self._wake_event.wait_for(self._queue.__len__)
                while self._queue and self._queue[0].future.done():
                    self._queue.popleft()  # its caller has gone: nothing waits for this inference
                if not self._queue:
                    continue
                if self._sema.is_locked():  # the model is busy: the queue grows into the next batch
                    if time.time() - self._queue[0].enqueue_time >= self.max_latency:
                        self._queue.popleft().future.cancel()  # → 503 busy, past max_latency_ms
                        continue
                    await asyncio.sleep(self.TICKET_INTERVAL)
                    continue
                self._sema.acquire()
                jobs = tuple(job for job in self._get_inputs() if not job.future.done())
                if not jobs:
                    self._sema.release()
                    continue
                self._loop.create_task(self.outbound_call(jobs))
            except Exception:
                log.exception("error dispatching a batch")


def install() -> None:
    """Make BentoML's runner app use ``QueueDispatcher`` for every batchable API."""
    if not issubclass(bentoml_app.CorkDispatcher, CorkDispatcher):
        raise RuntimeError("BentoML's app no longer builds a CorkDispatcher: see wizpix.runner.dispatcher")
    bentoml_app.CorkDispatcher = QueueDispatcher
