"""Fusion of two models' masks and the uncertainty score: pure functions, then the cutter
fusing pro with fast (in-process runners)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from tests.conftest import alpha_of
from tests.unit.test_frontend import Crashing, InProcess
from wizpix.core.catalog import Pairing, load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import build_roles
from wizpix.core.settings import Settings
from wizpix.front.cutter import Cutter
from wizpix.image.masks import fuse, uncertainty


def test_fusion_keeps_agreement_and_contrast_settles_disagreement() -> None:
    agree = np.array([[0, 255], [255, 0]], np.uint8)
    assert (fuse(agree, agree, gain=3) == agree).all()
    pro = np.array([[200, 60, 128]], np.uint8)
    fast = np.array([[240, 20, 128]], np.uint8)
    mean = fuse(pro, fast, gain=1)
    assert mean.tolist() == [[220, 40, 128]]
    sharp = fuse(pro, fast, gain=3)
    assert sharp[0, 0] > 220 and sharp[0, 1] < 40 and abs(int(sharp[0, 2]) - 128) <= 1  # 0.5 stays


def test_fusion_resizes_the_other_mask_to_the_first() -> None:
    pro = np.zeros((64, 64), np.uint8)
    fast = np.full((20, 20), 255, np.uint8)
    fused = fuse(pro, fast, gain=1)
    assert fused.shape == (64, 64) and int(fused.mean()) in (127, 128)


def test_uncertainty_grows_with_the_unsure_band_from_0_to_1() -> None:
    crisp = np.zeros((100, 100), np.uint8)
    crisp[20:80, 20:80] = 255
    assert uncertainty(crisp) == 0.0
    scores = []
    for width in (1, 3, 10, 30):
        soft = crisp.copy()
        soft[20 : 20 + width, :] = 128
        scores.append(uncertainty(soft))
    assert scores == sorted(scores) and 0 < scores[0] < scores[-1] <= 1.0
    assert uncertainty(np.full((10, 10), 128, np.uint8)) == pytest.approx(1.0, abs=1e-3)


def two_model_cutter(pro_kind: type = InProcess, **overrides: object) -> Cutter:
    """Mock on both runners, the pro one under another name: two models to fuse."""
    settings = Settings(fast_model_name="mock", pro_model_name="mock", warmup_on_startup=False, **overrides)
    roles = build_roles(settings, load_catalog())
    pairing = Pairing(fast="mock", measured="a test's pair")  # as the manifest declares ISNet's
    other = roles[RoleName.PRO].model.model_copy(update={"name": "mock-pro", "fuse_with": (pairing,)})
    roles[RoleName.PRO] = dataclasses.replace(roles[RoleName.PRO], model=other)
    runners = {
        RoleName.FAST: InProcess(settings, roles[RoleName.FAST]),
        RoleName.PRO: pro_kind(settings, roles[RoleName.PRO]),
    }
    return Cutter(settings, roles, runners)


def test_pro_is_fused_with_fast_and_says_so(disc_png: bytes) -> None:
    fused = asyncio.run(two_model_cutter().remove_background(disc_png, RoleName.PRO))
    assert fused.headers["X-WizPix-Model"] == "mock-pro+mock" and fused.headers["X-WizPix-Quality"] == "pro"
    assert 0 <= float(fused.headers["X-WizPix-Uncertainty"]) <= 1 and fused.facts["uncertainty"] is not None
    alpha = alpha_of(fused.data)
    assert alpha[120, 160] == 255 and alpha[0, 0] == 0
    alone = asyncio.run(two_model_cutter(pro_fuse_fast=False).remove_background(disc_png, RoleName.PRO))
    assert alone.headers["X-WizPix-Model"] == "mock-pro"
    fast = asyncio.run(two_model_cutter().remove_background(disc_png, RoleName.FAST))
    assert fast.headers["X-WizPix-Model"] == "mock"


def test_a_pro_that_fails_falls_back_to_the_fast_mask_already_made(disc_png: bytes) -> None:
    cut = two_model_cutter(Crashing)
    served = asyncio.run(cut.remove_background(disc_png, RoleName.PRO))
    assert served.headers["X-WizPix-Quality"] == "fast" and served.headers["X-WizPix-Model"] == "mock"
    assert served.headers["X-WizPix-Fallback"] == "pro inference failed"
    assert cut.runners[RoleName.FAST].slot.served == 1  # not run a second time for the fallback
