"""The HTTP contract on a real `bentoml serve` with the deterministic mock model: no weights."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, alpha_of, bentoml_serve

pytestmark = pytest.mark.server


def test_health_reports_models_warmup_device_and_fallback_settings(server: Server) -> None:
    body = server.health()
    assert body["status"] == "ok"
    for role in ("fast", "pro"):
        model = body["models"][role]
        assert model["name"] == "mock" and model["state"] == "ready" and model["warmup"] == "done"
    assert body["device"] == "none (mock)"
    assert body["warmup"]["on_startup"] is True and body["warmup"]["blocking"] is False
    assert body["fallback"] == {"auto_fallback_fast": True, "allow_remote_download": False}


@pytest.mark.parametrize("quality", ["fast", "pro"])
def test_remove_bg_returns_an_rgba_cutout_the_size_of_the_input(
    server: Server, disc_png: bytes, quality: str
) -> None:
    with server.client() as client:
        response = client.post(
            f"/remove-bg?quality={quality}", files={"file": ("disc.png", disc_png, "image/png")}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-wizpix-quality"] == quality and response.headers["x-wizpix-model"] == "mock"
    assert "x-wizpix-fallback" not in response.headers
    alpha = alpha_of(response.content)
    assert alpha.shape == (240, 320)
    assert alpha[120, 160] == 255 and alpha[5, 5] == 0 and alpha[230, 310] == 0


def test_quality_defaults_to_fast(server: Server, disc_png: bytes) -> None:
    with server.client() as client:
        response = client.post("/remove-bg", files={"file": ("disc.png", disc_png)})
    assert response.status_code == 200 and response.headers["x-wizpix-quality"] == "fast"


def test_exif_rotation_and_existing_transparency_are_respected(server: Server) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), (250, 250, 250)).save(buffer, format="JPEG", exif=exif)
    with server.client() as client:
        rotated = client.post("/remove-bg", files={"file": ("r.jpg", buffer.getvalue())})
        assert Image.open(io.BytesIO(rotated.content)).size == (100, 200)
        rgba = np.zeros((64, 64, 4), np.uint8)
        rgba[16:48, 16:48] = (0, 0, 255, 255)  # a blue square, everything else already transparent
        buffer = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
        response = client.post("/remove-bg", files={"file": ("t.png", buffer.getvalue())})
    alpha = alpha_of(response.content)
    assert alpha[32, 32] == 255 and alpha[2, 2] == 0


def test_openapi_documents_the_routes(server: Server) -> None:
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/remove-bg", "/health"} <= set(paths)
    parameters = {p["name"] for p in paths["/remove-bg"]["post"]["parameters"]}
    assert "quality" in parameters


def run_probe(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEALTH_URL": url, "HEALTH_TIMEOUT": "5"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/health_probe.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_health_probe_exit_codes(server: Server) -> None:
    assert run_probe(f"{server.url}/health").returncode == 0
    unreachable = run_probe("http://127.0.0.1:9/health")
    assert unreachable.returncode == 2 and "unreachable" in unreachable.stderr
    assert run_probe(f"{server.url}/openapi.json").returncode == 2  # not a health document


def test_locust_load_test_runs_headless_without_failures(server: Server, tmp_path: Path) -> None:
    locust = Path(sys.executable).with_name("locust")
    result = subprocess.run(
        [
            str(locust),
            "-f",
            str(ROOT / "loadtest/locustfile.py"),
            "--headless",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "6s",
            "--host",
            server.url,
            "--only-summary",
            "--csv",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    stats = (tmp_path / "run_stats.csv").read_text()
    assert "/remove-bg?quality=fast" in stats and "/remove-bg?quality=pro" in stats


@pytest.fixture(scope="module")
def lazy_without_fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Warmup off, and a fast model whose weights are not fetched (u2net)."""
    env = {"FAST_MODEL_NAME": "silueta", "PRO_MODEL_NAME": "mock", "WARMUP_ON_STARTUP": "false"}
    with bentoml_serve(tmp_path_factory.mktemp("lazy"), **env) as running:
        running.wait_for(
            lambda body: (
                body["models"]["pro"]["state"] == "idle" and body["models"]["fast"]["state"] == "missing"
            ),
            timeout=60,
            what="both runners up",
        )
        yield running


def test_warmup_off_loads_on_first_use_and_a_missing_fast_model_is_a_503(
    lazy_without_fast: Server, disc_png: bytes
) -> None:
    body = lazy_without_fast.health()
    assert body["status"] == "degraded" and body["warmup"]["on_startup"] is False
    assert body["models"]["pro"]["state"] == "idle" and body["models"]["fast"]["state"] == "missing"
    with lazy_without_fast.client() as client:
        fast = client.post("/remove-bg?quality=fast", files={"file": ("d.png", disc_png)})
        pro = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
    assert fast.status_code == 503 and fast.json()["error"]["code"] == "fast_unavailable"
    assert "fetch_models.py --model silueta" in fast.json()["error"]["message"]
    assert pro.status_code == 200 and pro.headers["x-wizpix-quality"] == "pro"
    assert lazy_without_fast.health()["models"]["pro"]["state"] == "ready"
