"""DEVICE=cuda on a machine without a GPU build: the real model is `failed` with what is
missing, /health says `degraded`, and every answer says which device served it."""

from __future__ import annotations

import pytest

from tests.conftest import Server, bentoml_serve

pytestmark = [pytest.mark.server, pytest.mark.weights]


def test_a_strict_cuda_fails_loudly_and_answers_say_their_device(tmp_path, disc_png: bytes) -> None:
    env = {"DEVICE": "cuda", "FAST_MODEL_NAME": "u2netp", "PRO_MODEL_NAME": "mock"}
    with bentoml_serve(tmp_path, **env) as server:
        body: dict = server.wait_for(
            lambda b: b["models"]["fast"]["state"] in ("failed", "ready"), timeout=120, what="fast settled"
        )
        fast = body["models"]["fast"]
        assert fast["state"] == "failed" and body["status"] == "degraded", body
        assert "DEVICE=cuda" in fast["error"] and "onnxruntime-gpu" in fast["error"]
        assert body["device_setting"] == "cuda"
        with server.client() as client:
            refused = client.post("/remove-bg", files={"file": ("d.png", disc_png)})
            pro = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
        assert refused.status_code == 503 and "DEVICE=cuda" in refused.json()["error"]["message"]
        assert pro.status_code == 200 and pro.headers["x-wizpix-device"] == "none"  # the mock


def test_the_real_models_say_they_ran_on_the_cpu(real_server: Server, astronaut: bytes) -> None:
    with real_server.client() as client:
        for quality in ("fast", "pro"):
            answer = client.post(f"/remove-bg?quality={quality}", files={"file": ("a.jpg", astronaut)})
            assert answer.status_code == 200 and answer.headers["x-wizpix-device"] == "cpu"
    assert real_server.health()["devices"] == {"fast": "cpu", "pro": "cpu"}


def test_the_gpu_install_resolves_beside_the_lock(tmp_path) -> None:
    """What `make install-gpu` installs, resolved against this venv without installing it."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
         "-r", str(ROOT / "requirements-gpu.txt")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    names = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert names["onnxruntime-gpu"] == "1.31.1" and "nvidia-cudnn-cu13" in names
    assert "numpy" not in names  # the lock's numpy is kept
