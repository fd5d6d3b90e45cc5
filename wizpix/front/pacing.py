"""Load shedding by what a request can still afford, on any host speed.

A runner works one batch at a time. This front knows how many of its requests each runner
has in hand and how long one has taken lately (measured here, so it follows the host's
speed and the load beside it), and each request's deadline (the server's, or the caller's
``X-WizPix-Deadline-Ms``). A request is refused with ``503 busy`` only when the queue ahead
of it cannot drain in the time it has left; otherwise it waits its turn, however long the
queue. A millisecond budget fixed on one machine shed load another machine would have
served: four clients sending 12 MP photos were refused on a host three times slower.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from wizpix.core.errors import Unavailable

# When the request being served must be answered, on the event loop's clock: set by the
# admission guard (and per image by a batch). None outside a request.
DEADLINE: ContextVar[float | None] = ContextVar("wizpix_deadline", default=None)
SMOOTHING = 0.3  # weight of the newest inference in the running mean


def time_left() -> float | None:
    deadline = DEADLINE.get()
    return None if deadline is None else deadline - asyncio.get_running_loop().time()


class Pacer:
    """One runner's queue as this front sees it: requests in hand, seconds per request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_hand = 0
        self.seconds: float | None = None  # running mean of the time one request takes it
        # running mean of (time a request really took) / (the queue × pace it was sent into):
        # batches finish together, and a lone request pays a whole batch, which a drain rate
        # alone underestimates; measured, so it follows the runner's batching as it is
        self.calibration = 1.0
        self._last_done = 0.0

    def _queue_s(self) -> float | None:
        return None if self.seconds is None else (self.in_hand + 1) * self.seconds

    def expected_s(self) -> float | None:
        """How long a request sent now would take: the queue ahead of it, then itself."""
        queue = self._queue_s()
        return None if queue is None else queue * self.calibration

    def admit(self) -> None:
        """Refuse now what the queue cannot finish before the request's deadline."""
        left, expected = time_left(), self.expected_s()
        if left is None or expected is None or expected <= left:
            return
        raise Unavailable(
            "busy",
            f"the {self.name} runner has {self.in_hand} request(s) in hand at ~{self.seconds:.1f} s each: "
            f"this one would take ~{expected:.1f} s, and {max(0.0, left):.1f} s of its deadline are left",
            headers={"Retry-After": str(max(1, math.ceil(expected - max(0.0, left))))},
        )

    @contextmanager
    def sent(self) -> Iterator[None]:
        """Around one call to the runner: counted in hand while it is, and on success its
        share of the runner's time: since it was sent, or since the runner finished the
        previous one if it has waited behind it (the queue's drain rate, not a round trip
        that includes the wait)."""
        queue = self._queue_s()
        self.in_hand += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self.in_hand -= 1
        done = time.perf_counter()
        self.observe(done - max(started, self._last_done))
        self._last_done = done
        if queue:
            ratio = min(4.0, max(0.5, (done - started) / queue))
            self.calibration = (1 - SMOOTHING) * self.calibration + SMOOTHING * ratio

    def observe(self, seconds: float) -> None:
        previous = self.seconds
        self.seconds = seconds if previous is None else (1 - SMOOTHING) * previous + SMOOTHING * seconds
