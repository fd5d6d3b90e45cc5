"""The front trains each runner's batching dispatcher once its model is warm: the calls in
the pattern BentoML learns from, partners at hand, and the model reported as warming up
(pro requests served by fast) until it is done."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from tests.unit.test_frontend import InProcess, in_process
from wizpix.core.enums import RoleName
from wizpix.core.settings import Settings
from wizpix.front.warmup import DISPATCHER_TRAINING


class Recording(InProcess):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[int] = []
        self.in_flight = self.most_at_once = 0

    async def predict(self, images: np.ndarray) -> np.ndarray:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            self.calls.append(len(images))
            return await super().predict(images)
        finally:
            self.in_flight -= 1


def test_training_follows_the_pattern_and_holds_pro_back_until_done(disc_png: bytes) -> None:
    settings = Settings(fast_model_name="mock", pro_model_name="mock", warmup_on_startup=True)
    cut = in_process(settings, Recording)
    pro = cut.runners[RoleName.PRO]

    async def scenario() -> tuple[dict, Any, dict]:
        before = await cut.runner_status(RoleName.PRO)
        early = await cut.remove_background(disc_png, RoleName.PRO)  # while training is pending
        await cut.warmup.run()
        return before, early, await cut.runner_status(RoleName.PRO)

    before, early, after = asyncio.run(scenario())
    assert before.state == "loading" and before.dispatcher == "pending"
    assert early.headers["X-WizPix-Quality"] == "fast"
    assert early.headers["X-WizPix-Fallback"] == "pro model is warming up"
    assert len(pro.calls) == sum(DISPATCHER_TRAINING) and pro.most_at_once == 2
    assert after.state == "ready" and after.dispatcher == "done"
    served = asyncio.run(cut.remove_background(disc_png, RoleName.PRO))
    assert served.headers["X-WizPix-Quality"] == "pro"


def test_a_model_that_will_not_serve_is_not_trained(tmp_path) -> None:
    settings = Settings(
        fast_model_name="silueta", pro_model_name="mock", warmup_on_startup=True, model_dir=tmp_path
    )
    cut = in_process(settings, Recording)
    asyncio.run(cut.warmup.run())
    assert cut.warmup.states[RoleName.FAST] == "failed" and cut.warmup.states[RoleName.PRO] == "done"


def test_without_warmup_nothing_is_trained_and_nothing_held_back() -> None:
    cut = in_process(
        Settings(fast_model_name="mock", pro_model_name="mock", warmup_on_startup=False), Recording
    )
    asyncio.run(cut.warmup.run())
    assert cut.runners[RoleName.PRO].calls == [] and cut.warmup.states[RoleName.PRO] == "disabled"
    assert asyncio.run(cut.runner_status(RoleName.PRO)).state == "idle"
