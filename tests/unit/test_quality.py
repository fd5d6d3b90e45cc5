"""The eval's metrics and sets, on synthetic masks and mattes whose errors are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from loadtest.quality import (
    SaliencyScores,
    connectivity_error,
    discover,
    gradient_error,
    matte_scores,
    spearman,
    spread,
)


def disc(size: int = 64, radius: int = 20) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius**2).astype(np.float64)


def test_pysodmetrics_scores_a_perfect_and_a_hazy_mask_as_served() -> None:
    truth = disc()
    perfect, hazy = SaliencyScores(), SaliencyScores()
    assert perfect.add(truth, truth)["mae"] == 0
    hazy.add(np.clip(truth + 0.1, 0, 1), truth)
    best, worse = perfect.results(), hazy.results()
    assert best["MAE"] == 0 and best["maxF"] > 0.99 and best["S"] > 0.99 and best["IoU"] == 1.0
    # a 0.1 haze on the background is scored, not stretched away (normalize=False)
    assert worse["MAE"] == pytest.approx(0.1 * (1 - truth.mean()), rel=1e-6) and worse["edge MAE"] > 0


def test_matte_errors_count_only_the_unknown_region_and_are_zero_for_the_truth() -> None:
    truth = disc()
    soft = truth.copy()
    soft[20:44, 20:44] = np.clip(soft[20:44, 20:44] * 0.5 + 0.25, 0, 1)
    trimap = np.where(truth > 0, 1.0, 0.0)
    trimap[16:48, 16:48] = 0.5  # the unknown band
    assert all(v == 0 for k, v in matte_scores(truth, truth, trimap).items())
    scores = matte_scores(soft, truth, trimap)
    inside = (trimap > 0.1) & (trimap < 0.9)
    assert scores["SAD"] == pytest.approx(np.abs(soft - truth)[inside].sum() / 1000)
    assert scores["MAE"] == pytest.approx(np.abs(soft - truth).mean())
    assert gradient_error(soft, truth, inside) > 0 and connectivity_error(soft, truth, inside) > 0


def test_sets_are_found_by_their_layout_and_spread_evenly(tmp_path: Path) -> None:
    for name in ("masks", "images"):
        (tmp_path / "objects" / name).mkdir(parents=True)
    for folder in ("images", "alphas", "trimaps/Trimap1"):
        (tmp_path / "mattes" / folder).mkdir(parents=True)
    for index in range(10):
        Image.new("RGB", (8, 8)).save(tmp_path / "objects" / "images" / f"{index:04d}.jpg")
        Image.new("L", (8, 8)).save(tmp_path / "objects" / "masks" / f"{index:04d}.png")
    for folder in ("images", "alphas", "trimaps/Trimap1"):
        Image.new("L", (8, 8)).save(tmp_path / "mattes" / folder / "GT01.png")
    sets = discover(tmp_path)
    assert set(sets) == {"objects", "mattes"}
    assert sets["objects"][0].kind == "mask" and sets["mattes"][0].kind == "alpha"
    assert sets["mattes"][0].trimap == tmp_path / "mattes" / "trimaps" / "Trimap1" / "GT01.png"
    assert [p.name for p in spread(sets["objects"], 3)] == ["0000", "0003", "0006"]
    assert [p.name for p in spread(sets["objects"], 3, offset=1)] == ["0001", "0004", "0007"]


def test_spearman_ranks_and_says_nothing_of_constants() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
