"""A clean stop: on SIGTERM the front drains, so that it is gone within seconds.

uvicorn, on TERM, stops accepting and then waits for every request in flight, with no
limit of its own (BentoML passes none): a slow upload or a long batch kept the front
alive for minutes after its runners had gone. Draining refuses new requests (503
``shutting_down``), gives those in flight ``SHUTDOWN_GRACE_S`` to finish, then answers
them 503 too, and a batch stops between images; uvicorn then has nothing left to wait for.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

from wizpix.front.guards import Load

log = logging.getLogger(__name__)


def drain_on_stop(load: Load, grace_s: float) -> None:
    """Chain a drain before the server's own TERM and INT handlers (installed by uvicorn
    before the lifespan start-up this runs in)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def on_stop(number: int, frame: FrameType | None, previous: object = previous) -> None:
            if not load.draining:
                log.info("stopping: draining %d request(s) in flight, %g s at most", load.in_flight, grace_s)
                loop.call_soon_threadsafe(load.drain, grace_s)
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, on_stop)
