"""The benchmark's arithmetic (targets, table), on synthetic cells: no servers, no timing."""

from __future__ import annotations

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "loadtest"))

import bench
from bench import CONCURRENCY, FP32, IN_A_ROW, Cell, markdown, targets

INPUTS = ("512² PNG", "1920×1280 JPEG", "4032×3024 JPEG")


def cells(ours: float, theirs: float, bare: dict[str, float]) -> list[Cell]:
    out = []
    for system, rate in (("wizpix", ours), ("rembg s", theirs)):
        for quality, levels in CONCURRENCY.items():
            for name in INPUTS:
                for c in levels:
                    runs = (rate, 1.1 * rate, 0.9 * rate) if (quality, name, c) in IN_A_ROW else ()
                    out.append(Cell(system, quality, name, c, 8, rate, 1.0 * c, 1.1 * c, 0, runs))
    out += [Cell("bare ORT", q, "any (model input)", 1, 8, rate, 0.2, 0.2, 0) for q, rate in bare.items()]
    out.append(Cell(FP32, "pro", "1920×1280 JPEG", 1, 8, ours / 2, 2.5, 2.6, 0))  # pro before int8
    return out


TIERS = {
    "pro sequential: slowest / median": 1.6,
    "repeat edit: first / repeat": 20.0,
    "fast alone: median s": 0.4,
    "fast beside a busy pro / alone": 1.2,
}
FOLDER = {
    "images": 24,
    "concurrency": 2,
    "wizpix_img_s": 2.0,
    "rembg_img_s": 1.0,
    "ratio": 2.0,
    "ratio_without_startup": 1.5,
}


def test_targets_compare_the_right_cells(monkeypatch) -> None:
    monkeypatch.setitem(bench.PRO_BUILD, "build", "int8")
    goals = dict(
        (goal, (value, met))
        for goal, value, met in targets(
            cells(ours=3.0, theirs=1.0, bare={"fast": 3.2, "pro": 3.0}), memory_after_mb=1400, tiers=TIERS
        )
    )
    # each of our three runs against rembg's best (1.1): the third misses
    assert goals["fast, 12 MP JPEG, c=4: ≥ 3× rembg s, 3 runs in a row"] == ("2.73×, 3.00×, 2.45×", False)
    assert goals["fast, 12 MP JPEG, c=4: no request refused"] == ("0 refused in 3 runs", True)
    assert goals["fast, 512² PNG, c=4: ≥ 0.9× bare inference"] == ("0.94×", True)
    # where the int8 build runs, pro must reach 2× rembg s; 0.9× one bare session of that build
    assert goals["pro (int8), 1920×1280 JPEG, c=2: ≥ 2× rembg s (fp32)"] == ("3.00×", True)
    assert goals["pro, 1920×1280 JPEG, c=2: ≥ 0.9× a bare session of the same int8 graph"] == ("1.00×", True)
    # c=1: our p50 (1.0 s) against the fp32 build's (2.5 s)
    assert goals["pro, 1920×1280 JPEG, c=1: seconds per image ≤ 0.5× the fp32 build's"] == (
        "1.00 s vs 2.50 s = 0.40×",
        True,
    )
    assert goals["p95 at top concurrency ≤ 4× p50 at c=1 (worst cell)"] == ("4.40×", False)
    assert goals["memory of all service processes after the benchmark ≤ 1.5 GB"] == ("1400 MB", True)
    assert goals["fast, 512² PNG, c=4, new uploads: p95 ≤ 1.3× p50"] == ("1.10×", True)
    assert goals["pro, 12 sequential from status=ok: slowest ≤ 1.5× median"] == ("1.60×", False)
    assert goals["pro, 1920×1280: a repeat edit ≥ 8× faster than the first request"] == ("20.0×", True)
    assert goals["fast, 512²: beside a busy pro ≤ 1.5× its time alone"] == ("1.20×", True)


def test_markdown_reports_every_cell_and_verdict() -> None:
    data = cells(ours=1.0, theirs=2.0, bare={"fast": 4.0, "pro": 0.5})
    goals = targets(data, memory_after_mb=1600, tiers=TIERS)
    tiers = {"WizPix": TIERS, "rembg s": {**TIERS, "repeat edit: first / repeat": 1.0}}
    text = markdown(data, {"WizPix": (2 * 2**30, 1600 * 2**20)}, goals, tiers, FOLDER)
    assert text.count("| fast |") == 6 and text.count("| pro |") == 6  # our cells, rembg's beside
    assert "| fast, 12 MP JPEG, c=4: ≥ 3× rembg s, 3 runs in a row | 0.45×, 0.50×, 0.41× | **no** |" in text
    assert "WizPix 2048 / 1600 MB" in text and "Failed requests: 0." in text
    assert "| repeat edit: first / repeat | 20.00 | 1.00 |" in text
    assert "`rembg p` 1.00 img/s: **2.00×** from command start to exit (1.50× leaving out" in text


def test_where_auto_keeps_fp32_pro_is_held_to_1_2x_rembg(monkeypatch) -> None:
    monkeypatch.setitem(bench.PRO_BUILD, "build", "fp32")
    data = cells(ours=1.1, theirs=1.0, bare={"fast": 3.2, "pro": 3.0})
    goals = {goal: (value, met) for goal, value, met in targets(data, 1400, TIERS)}
    assert goals["pro (fp32), 1920×1280 JPEG, c=2: ≥ 1.2× rembg s (fp32)"] == ("1.10×", False)
