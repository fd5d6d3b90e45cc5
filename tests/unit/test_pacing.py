"""The front's pacer: a request refused only when the queue ahead cannot drain before its
deadline; the pace measured as the queue's drain rate, not as round trips."""

from __future__ import annotations

import asyncio

import pytest

from wizpix.core.errors import Unavailable
from wizpix.front.pacing import DEADLINE, Pacer


def test_the_drain_rate_is_measured_not_the_wait() -> None:
    async def scenario() -> Pacer:
        pacer = Pacer("fast")

        async def call() -> None:
            with pacer.sent():
                async with lock:  # the runner works one at a time
                    await asyncio.sleep(0.1)

        lock = asyncio.Lock()
        await asyncio.gather(*(call() for _ in range(4)))
        return pacer

    pacer = asyncio.run(scenario())
    assert pacer.in_hand == 0 and pacer.seconds == pytest.approx(
        0.1, abs=0.04
    )  # not 0.25, the mean round trip


def test_a_request_is_refused_only_when_its_deadline_cannot_be_met() -> None:
    async def admitted(left_s: float | None, in_hand: int) -> bool:
        pacer = Pacer("pro")
        pacer.seconds, pacer.in_hand = 2.0, in_hand
        if left_s is not None:
            DEADLINE.set(asyncio.get_running_loop().time() + left_s)
        try:
            pacer.admit()
        except Unavailable as refused:
            assert refused.code == "busy" and int(refused.headers["Retry-After"]) >= 1
            assert "pro runner has" in refused.message
            return False
        return True

    assert asyncio.run(admitted(60, in_hand=3))  # 8 s of queue, 60 s left: it waits its turn
    assert not asyncio.run(admitted(5, in_hand=3))  # 8 s of queue, 5 s left: refused at once
    assert asyncio.run(admitted(None, in_hand=30))  # no deadline known: never refused here
    fresh = Pacer("fast")
    assert fresh.expected_s() is None  # nothing measured yet: admitted


def test_the_forecast_learns_what_requests_really_take() -> None:
    """A drain rate measured over batches (two done at once) halves what a lone request
    really waits: the calibration learns the ratio, so the forecast is not short."""

    async def scenario() -> Pacer:
        pacer = Pacer("fast")
        pacer.seconds = 0.05  # the share of a batch of two, as the drain rate measured it
        for _ in range(6):
            with pacer.sent():
                await asyncio.sleep(0.1)  # a lone request pays the whole batch's time
            pacer.seconds = 0.05
        return pacer

    pacer = asyncio.run(scenario())
    assert pacer.calibration > 1.5 and pacer.expected_s() == pytest.approx(0.1, rel=0.3)
