"""`loadtest/eval.py` (what `make eval` runs) against real servers: a synthetic labelled set
the mock model cuts exactly, and a handful of the real photos of ../shared/eval on the real
weights (the whole sets are `make eval`'s job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, pro_label

pytestmark = pytest.mark.server
EVAL = ROOT / "loadtest" / "eval.py"
SHARED = ROOT.parent / "shared" / "eval"


def run_eval(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(EVAL), *args], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = Path(args[args.index("--out") + 1])
    assert (out / "eval.md").read_text().startswith("Measured") and (out / "eval.png").stat().st_size > 0
    return json.loads((out / "eval.json").read_text())


def discs(folder: Path, count: int = 4) -> Path:
    """Red discs on white, and their masks: what the mock model cuts out exactly."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for index in range(count):
        yy, xx = np.mgrid[0:120, 0:160]
        inside = (yy - 60) ** 2 + (xx - 50 - 15 * index) ** 2 < (25 + 3 * index) ** 2
        photo = np.full((120, 160, 3), 255, np.uint8)
        photo[inside] = (200, 30, 30)
        Image.fromarray(photo).save(folder / "images" / f"{index:04d}.png")
        Image.fromarray((inside * 255).astype(np.uint8)).save(folder / "masks" / f"{index:04d}.png")
    return folder


def test_the_eval_scores_what_the_service_serves(server: Server, tmp_path: Path) -> None:
    data = discs(tmp_path / "discs")
    record = run_eval("--url", server.url, "--data", str(data), "--out", str(tmp_path / "out"), "--no-rembg")
    runs = {run["system"]: run for run in record["runs"]}
    assert set(runs) == {"service fast", "service pro"} and record["counts"] == {"discs": 4}
    for run in runs.values():
        assert run["model"] == "mock" and run["MAE"] < 0.01 and run["IoU"] > 0.95 and run["s/img"] > 0


def test_the_eval_says_what_to_pass_without_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EVAL), "--data", str(tmp_path / "nothing"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "images/ and masks/" in result.stderr and "--data" in result.stderr


@pytest.mark.weights
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/eval is not beside the project")
def test_a_handful_of_real_pairs_through_the_real_weights(real_server: Server, tmp_path: Path) -> None:
    record = run_eval(
        "--url", real_server.url, "--limit", "3", "--tiers", "fast,pro,auto", "--strokes", "2",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    systems = {(run["system"], run["set"]) for run in record["runs"]}
    for tier in ("service fast", "service pro", "rembg u2netp", "rembg isnet-general-use"):
        assert {(tier, "ecssd"), (tier, "alphamatting")} <= systems, systems
    pro = next(run for run in record["runs"] if run["system"] == "service pro")
    assert pro["model"] == pro_label(real_server)
    ecssd = {run["system"]: run for run in record["runs"] if run["set"] == "ecssd"}
    assert 0 <= ecssd["service pro"]["MAE"] < 0.2 and ecssd["rembg u2netp"]["MAE"] == pytest.approx(
        ecssd["service fast"]["MAE"], abs=1e-3
    )  # fast is rembg's own session: the same masks
    assert -1 <= record["spearman"]["pooled"] <= 1
    auto = [run for run in record["runs"] if run["system"] == "service auto"]
    assert len(auto) == 2 and all(run["model"].startswith(("u2netp", "isnet-general-use")) for run in auto)
    strokes = record["strokes"]  # the 2 photos pro errs most on, corrected by simulated strokes
    assert strokes["photos"] == 2 and strokes["strokes"] >= 1
    # the strokes reached the masks; whether they help on average is make eval's figure (30
    # photos, docs/quality.md): on two photos they can hurt, and did on one CI machine
    assert strokes["MAE after"] != strokes["MAE before"] and strokes["s/correction"] > 0
