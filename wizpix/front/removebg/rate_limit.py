"""An optional per-key rate limit in remove.bg's unit: "images of 1 megapixel" per minute.

remove.bg's published table weighs a request by its input image: w×h pixels count as
ceil(w×h / 1e6) images, at least one (a 0.25 MP photo counts 1, a 10 MP photo 10). A token
bucket per key holds up to a minute's worth and refills continuously. A request is admitted
while its key has a whole token left and is charged its weight once its input is decoded,
so a large image can take the bucket below zero: the key then waits until the debt is paid
back. Pure, with the clock injected, so its arithmetic is unit-tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 10_000  # buckets remembered; full ones are forgotten first


def weight(width: int, height: int) -> int:
    """remove.bg's count for an input image of ``width`` × ``height`` pixels."""
    return max(1, math.ceil(width * height / 1_000_000))


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int  # whole images of 1 MP left now
    reset_s: float  # until the bucket is full again
    retry_after_s: int | None = None  # set when refused

    def headers(self, now_epoch: float) -> dict[str, str]:
        """X-RateLimit-* as remove.bg sends them (Reset as a Unix time), Retry-After when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(now_epoch + self.reset_s)),
        }
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60  # tokens per second
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when)

    def _tokens(self, key: str) -> float:
        tokens, when = self.buckets.get(key, (self.capacity, self.clock()))
        return min(self.capacity, tokens + (self.clock() - when) * self.rate)

    def _quota(self, tokens: float, refused: bool) -> Quota:
        retry = math.ceil((1 - tokens) / self.rate) if refused else None
        return Quota(
            limit=int(self.capacity),
            remaining=max(0, math.floor(tokens)),
            reset_s=(self.capacity - tokens) / self.rate,
            retry_after_s=max(1, retry) if retry is not None else None,
        )

    def check(self, key: str) -> Quota:
        """The key's quota now; ``retry_after_s`` is set when it may not start a request."""
        tokens = self._tokens(key)
        return self._quota(tokens, refused=tokens < 1)

    def charge(self, key: str, images: int) -> Quota:
        """Take ``images`` from the key's bucket (it may go below zero) and say what is left."""
        tokens = self._tokens(key) - images
        self.buckets[key] = (tokens, self.clock())
        if len(self.buckets) > MAX_KEYS:
            self._forget_full()
        return self._quota(tokens, refused=False)

    def _forget_full(self) -> None:
        for key in [key for key in self.buckets if self._tokens(key) >= self.capacity]:
            del self.buckets[key]
        while len(self.buckets) > MAX_KEYS:  # still too many: the oldest first
            del self.buckets[next(iter(self.buckets))]
