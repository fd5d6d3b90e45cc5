"""The command-line parts: model fetching (idempotent, explicit failures) and start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import BENTOML, ROOT, free_port


def fetch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/fetch_models.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_fetch_is_idempotent_for_fetched_models() -> None:
    result = fetch("--model", "u2netp", "--model", "isnet")
    assert result.returncode == 0, result.stderr
    assert (
        "u2netp: already present" in result.stdout and "isnet-general-use: already present" in result.stdout
    )
    assert "downloading" not in result.stderr and "packing" not in result.stderr


def test_fetch_reports_every_source_tried_and_exits_non_zero() -> None:
    result = fetch("--model", "birefnet-portrait")
    assert result.returncode == 1
    assert "could not fetch model 'birefnet-portrait'" in result.stderr
    assert "BiRefNet-portrait-epoch_150.onnx: unreachable" in result.stderr
    assert (
        "to fix: on a machine that reaches a source, download BiRefNet-portrait-epoch_150.onnx"
        in result.stderr
    )


def test_fetch_lists_the_catalogue_and_refuses_unknown_names() -> None:
    listing = fetch("--list")
    assert listing.returncode == 0 and "isnet-general-use (also: inspyrenet, isnet)" in listing.stdout
    families = [line for line in listing.stdout.splitlines() if line and not line.startswith(" ")]
    assert len(families) == 18  # every rembg family, MODNet, BRIA RMBG 1.4, the mock and the slow mock
    assert listing.stdout.count("licence: NON-COMMERCIAL") == 2  # both BRIA models
    assert "recipe: BiRefNet reference inference" in listing.stdout
    assert fetch("--model", "nonexistent").returncode == 1


def test_an_invalid_setting_stops_bentoml_serve_naming_the_variable() -> None:
    env = {**os.environ, "PRO_MODEL_NAME": "sam", "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [str(BENTOML), "serve", "service:WizPix", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "PRO_MODEL_NAME='sam' is invalid" in result.stderr + result.stdout
    assert "not a pro model of the catalogue (allowed: birefnet-cod" in result.stderr + result.stdout
