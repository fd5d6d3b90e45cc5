"""The rate limit's arithmetic, on an injected clock: remove.bg's megapixel weights, refill,
debt, Retry-After and the X-RateLimit-* headers."""

from __future__ import annotations

import pytest

from wizpix.front.removebg.rate_limit import MAX_KEYS, RateLimiter, weight


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("size", "images"),
    [
        ((625, 400), 1),
        ((1200, 800), 1),
        ((1600, 1200), 2),
        ((2500, 1600), 4),
        ((4000, 2500), 10),
        ((1, 1), 1),
    ],
)
def test_weights_are_remove_bg_megapixel_counts(size: tuple[int, int], images: int) -> None:
    assert weight(*size) == images


def test_a_full_bucket_admits_until_spent_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock)  # one image of 1 MP per second
    assert limiter.check("k").remaining == 60 and limiter.check("k").retry_after_s is None
    for _ in range(60):
        assert limiter.check("k").retry_after_s is None
        limiter.charge("k", 1)
    refused = limiter.check("k")
    assert refused.remaining == 0 and refused.retry_after_s == 1
    assert limiter.check("other").remaining == 60  # per key
    clock.now += 1
    assert limiter.check("k").retry_after_s is None and limiter.check("k").remaining == 1
    clock.now += 3600
    assert limiter.check("k").remaining == 60  # never above a minute's worth


def test_a_large_result_puts_the_key_in_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(10, clock)  # 10 per minute: one every 6 s
    after = limiter.charge("k", 25)  # a 25 MP result
    assert after.remaining == 0
    refused = limiter.check("k")
    assert refused.retry_after_s == 96  # 16 images of debt at 6 s each
    assert refused.reset_s == pytest.approx(150)
    clock.now += 96
    assert limiter.check("k").retry_after_s is None


def test_headers() -> None:
    clock = Clock()
    limiter = RateLimiter(500, clock)
    quota = limiter.charge("k", 4)
    headers = quota.headers(now_epoch=1_700_000_000)
    assert headers["X-RateLimit-Limit"] == "500" and headers["X-RateLimit-Remaining"] == "496"
    assert int(headers["X-RateLimit-Reset"]) == 1_700_000_000 + 1  # 4 images at 0.12 s each
    assert "Retry-After" not in headers


def test_keys_are_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock)
    for number in range(MAX_KEYS + 5):
        limiter.charge(f"key{number}", 1)
    assert len(limiter.buckets) <= MAX_KEYS
