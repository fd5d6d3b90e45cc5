"""A user's own weights behind a real `bentoml serve`: PRO_MODEL_PATH with a file that fits
its family is imported, checksummed, shown in /health and serves; FAST_MODEL_PATH with a
file that does not fit is `failed`, saying what was expected and found, and the service
runs degraded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.conftest import bentoml_serve
from tests.standins import build_standin, standin_for

pytestmark = pytest.mark.server


def test_own_files_are_served_or_refused_with_the_reason(tmp_path: Path, disc_png: bytes) -> None:
    mine = standin_for("isnet-general-use", 1024, tmp_path / "fine-tuned")
    wrong = build_standin(tmp_path / "wrong.onnx", 320, channels=4)  # not a U²-Net interface
    env = {
        "BENTOML_HOME": str(tmp_path / "store"),  # a store of the test's own
        "PRO_MODEL_NAME": "isnet-general-use",
        "PRO_MODEL_PATH": str(mine),
        "FAST_MODEL_NAME": "u2netp",
        "FAST_MODEL_PATH": str(wrong),
    }
    with bentoml_serve(tmp_path, **env) as server:
        health = server.wait_for(
            lambda body: all(m["warmup"] in ("done", "failed") for m in body["models"].values()),
            what="both warmups to end",
        )
        pro, fast = health["models"]["pro"], health["models"]["fast"]
        assert health["status"] == "degraded"
        assert pro["state"] == "ready" and pro["name"] == "isnet-general-use-custom"
        assert pro["sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest()
        assert "local file isnet-general-use.onnx" in pro["source"] and str(tmp_path) not in pro["source"]
        assert fast["state"] == "failed"
        assert (
            "does not fit the u2netp family: expected one input tensor(float) [N, 3, 320, 320]"
            in fast["error"]
        )
        assert "found tensor(float) [1, 4, 320, 320]" in fast["error"]
        answer = httpx.post(
            f"{server.url}/remove-bg",
            params={"quality": "pro"},
            files={"file": ("d.png", disc_png)},
            timeout=60,
        )
        assert answer.status_code == 200 and answer.headers["x-wizpix-model"] == "isnet-general-use-custom"
        refused = httpx.post(f"{server.url}/remove-bg", files={"file": ("d.png", disc_png)}, timeout=60)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "fast_unavailable"
        assert "does not fit the u2netp family" in refused.json()["error"]["message"]
