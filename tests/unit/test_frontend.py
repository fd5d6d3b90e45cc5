"""One request end to end through the front's logic, with in-process runners.

The same Cutter runs inside the BentoML front service; here its runners are model slots
in this process, one of which can be made to fail, vanish or still be warming up.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from anyio import to_thread

from tests.conftest import alpha_of
from wizpix.core.catalog import load_catalog
from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import ModelState, RoleName, WarmupState
from wizpix.core.errors import Unavailable
from wizpix.core.roles import Role, build_roles
from wizpix.core.settings import Settings
from wizpix.front.cutter import Cutter
from wizpix.runner.factory import build_slot


class InProcess:
    def __init__(self, settings: Settings, role: Role) -> None:
        self.slot = build_slot(role, settings)
        self.slot.start()

    async def predict(self, images: np.ndarray) -> np.ndarray:
        return await to_thread.run_sync(self.slot.predict, images)

    async def status(self) -> RunnerStatus:
        return self.slot.status()


class Crashing(InProcess):
    async def predict(self, images: np.ndarray) -> np.ndarray:
        raise RuntimeError("onnxruntime: bad allocation")


class Dead:
    async def predict(self, images: np.ndarray) -> np.ndarray:
        raise ConnectionRefusedError("connection refused")

    async def status(self) -> RunnerStatus:
        raise ConnectionRefusedError("connection refused")


class WarmingUp(InProcess):
    async def status(self) -> RunnerStatus:
        return self.slot.status().model_copy(
            update={"state": ModelState.LOADING, "warmup": WarmupState.RUNNING}
        )


def in_process(settings: Settings, pro_kind: type = InProcess) -> Cutter:
    roles = build_roles(settings, load_catalog())
    pro = pro_kind() if pro_kind is Dead else pro_kind(settings, roles[RoleName.PRO])
    return Cutter(
        settings, roles, {RoleName.FAST: InProcess(settings, roles[RoleName.FAST]), RoleName.PRO: pro}
    )


def cutter(pro_kind: type = InProcess, **overrides: Any) -> Cutter:
    settings = Settings(fast_model_name="mock", pro_model_name="mock", warmup_on_startup=False, **overrides)
    return in_process(settings, pro_kind)


def run(cut: Cutter, data: bytes, quality: str = "pro"):
    return asyncio.run(cut.remove_background(data, quality))  # type: ignore[arg-type]


def test_pro_is_served_by_pro(disc_png: bytes) -> None:
    result = run(cutter(), disc_png)
    assert result.headers["X-WizPix-Quality"] == "pro" and "X-WizPix-Fallback" not in result.headers
    alpha = alpha_of(result.data)
    assert alpha.shape == (240, 320) and alpha[120, 160] == 255 and alpha[0, 0] == 0


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (Crashing, "pro inference failed"),
        (Dead, "pro runner is unreachable"),
        (WarmingUp, "pro model is warming up"),
    ],
)
def test_pro_trouble_falls_back_to_fast_and_says_why(disc_png: bytes, kind: type, reason: str) -> None:
    result = run(cutter(kind), disc_png)
    assert result.headers["X-WizPix-Quality"] == "fast" and result.headers["X-WizPix-Fallback"] == reason
    assert alpha_of(result.data)[120, 160] == 255


@pytest.mark.parametrize("kind", [Crashing, Dead, WarmingUp])
def test_pro_trouble_is_503_without_auto_fallback(disc_png: bytes, kind: type) -> None:
    with pytest.raises(Unavailable) as caught:
        run(cutter(kind, auto_fallback_fast=False), disc_png)
    assert caught.value.status == 503 and caught.value.code == "pro_unavailable"


def test_health_reports_an_unreachable_runner_as_degraded() -> None:
    report = asyncio.run(cutter(Dead).health())
    assert report["status"] == "degraded"
    assert report["models"]["pro"]["state"] == "unreachable" and "refused" in report["models"]["pro"]["error"]
    assert report["models"]["fast"]["state"] == "idle"  # warmup off: loaded on first use


def test_a_missing_fast_model_is_a_503_not_a_crash(disc_png: bytes, tmp_path) -> None:
    settings = Settings(
        fast_model_name="silueta", pro_model_name="mock", warmup_on_startup=False, model_dir=tmp_path
    )
    with pytest.raises(Unavailable) as caught:
        asyncio.run(in_process(settings).remove_background(disc_png, RoleName.FAST))
    assert caught.value.code == "fast_unavailable" and "missing" in caught.value.message
