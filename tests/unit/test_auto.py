"""quality=auto in the cutter, with in-process runners: fast first, pro as well above the
threshold (fused with the fast mask already made), and the fast mask whenever pro cannot
serve in time; the answer says what was asked, what served and why."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.unit.test_frontend import Crashing, InProcess, WarmingUp
from tests.unit.test_masks import two_model_cutter
from wizpix.core.enums import Quality, RoleName
from wizpix.core.errors import Unavailable


class Counting(InProcess):
    """Counts the images it is asked for."""

    calls = 0

    async def predict(self, images: np.ndarray) -> np.ndarray:
        type(self).calls += len(images)
        return await super().predict(images)


class Busy(InProcess):
    async def predict(self, images: np.ndarray) -> np.ndarray:
        raise Unavailable("busy", "the model runner is at capacity; retry shortly")


def _cut(disc_png: bytes, pro_kind: type = InProcess, **settings: object):
    cutter = two_model_cutter(pro_kind, **settings)
    return cutter, asyncio.run(cutter.remove_background(disc_png, Quality.AUTO))


def test_a_sure_fast_mask_is_served_as_it_is(disc_png: bytes) -> None:
    Counting.calls = 0
    _, cut = _cut(disc_png, Counting, auto_threshold=1.0)
    assert cut.headers["X-WizPix-Quality"] == "fast" and cut.headers["X-WizPix-Model"] == "mock"
    assert cut.headers["X-WizPix-Asked"] == "auto"
    unsure = float(cut.headers["X-WizPix-Fast-Uncertainty"])
    assert cut.headers["X-WizPix-Escalation"] == f"fast's uncertainty {unsure:.3f} <= 1: fast"
    assert all(value.isascii() for value in cut.headers.values())  # HTTP headers are latin-1
    assert Counting.calls == 0  # pro never ran
    assert cut.facts["asked"] == "auto" and cut.facts["served"] == "fast"


def test_an_unsure_fast_mask_escalates_to_pro_fused_with_it(disc_png: bytes) -> None:
    Counting.calls = 0
    cutter, cut = _cut(disc_png, Counting, auto_threshold=0.0)
    assert cut.headers["X-WizPix-Quality"] == "pro" and cut.headers["X-WizPix-Model"] == "mock-pro+mock"
    assert (
        cut.headers["X-WizPix-Escalation"].endswith(": pro") and "> 0" in cut.headers["X-WizPix-Escalation"]
    )
    # the fast mask was made once, for both the decision and the fusion: one image each
    assert Counting.calls == 1 and cutter.runners[RoleName.FAST].slot.served == 1
    # the same as quality=pro's answer, which fuses the same two masks
    pro = asyncio.run(two_model_cutter().remove_background(disc_png, Quality.PRO))
    assert pro.data == cut.data


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        (Busy, "but pro cannot meet the deadline: fast"),
        (Crashing, "but pro failed (onnxruntime: bad allocation): fast"),
        (WarmingUp, "but pro is loading: fast"),
    ],
)
def test_when_pro_cannot_serve_the_fast_mask_serves_and_says_why(
    disc_png: bytes, kind: type, said: str
) -> None:
    _, cut = _cut(disc_png, kind, auto_threshold=0.0)
    assert cut.headers["X-WizPix-Quality"] == "fast" and cut.headers["X-WizPix-Model"] == "mock"
    assert cut.headers["X-WizPix-Escalation"].endswith(said), cut.headers["X-WizPix-Escalation"]
    assert "X-WizPix-Fallback" not in cut.headers  # auto was served as asked: not a fallback


def test_an_unpaired_pro_model_escalates_alone(disc_png: bytes) -> None:
    _, cut = _cut(disc_png, auto_threshold=0.0, pro_fuse_fast="false")
    assert cut.headers["X-WizPix-Quality"] == "pro" and cut.headers["X-WizPix-Model"] == "mock-pro"
