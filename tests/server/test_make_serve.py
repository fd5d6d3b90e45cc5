"""`make serve` itself, the user's command, with a model that cannot be had: the service
starts degraded and the fallback rules apply, instead of make stopping at the fetch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port, spawn, stop

pytestmark = [pytest.mark.server, pytest.mark.weights]


@contextmanager
def make_serve(tmp_path: Path, **env: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / f"make-serve-{port}.log"
    server = Server(f"http://127.0.0.1:{port}", spawn(["make", "serve"], log, PORT=str(port), **env), log)
    try:
        server.wait_for(
            lambda body: all(m["warmup"] in ("done", "failed") for m in body["models"].values()),
            timeout=240,
            what="make serve to answer /health with both warmups over",
        )
        yield server.url, log
    finally:
        stop(server.process)


def test_an_unreachable_pro_model_starts_degraded_and_pro_falls_back(
    tmp_path: Path, astronaut: bytes
) -> None:
    with make_serve(tmp_path, PRO_MODEL_NAME="birefnet-portrait", FAST_MODEL_NAME="u2netp") as (url, log):
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "degraded"
        pro = health["models"]["pro"]
        assert (
            pro["state"] == "missing" and "scripts/fetch_models.py --model birefnet-portrait" in pro["error"]
        )
        answer = httpx.post(
            f"{url}/remove-bg", params={"quality": "pro"}, files={"file": ("a.jpg", astronaut)}, timeout=60
        )
        assert answer.status_code == 200 and answer.headers["x-wizpix-model"] == "u2netp"
        assert answer.headers["x-wizpix-fallback"] == "pro model weights are missing"
        printed = log.read_text()
    # what make printed: the fetch error, the command that fixes it, what the service will do
    assert "could not fetch model 'birefnet-portrait'" in printed
    assert "run: .venv/bin/python scripts/fetch_models.py --model birefnet-portrait" in printed
    assert "the service will start degraded; pro requests are served by fast" in printed


def test_an_unreachable_fast_model_starts_degraded_fast_is_503_pro_serves(
    tmp_path: Path, disc_png: bytes
) -> None:
    with make_serve(tmp_path, FAST_MODEL_NAME="silueta", PRO_MODEL_NAME="mock") as (url, log):
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "degraded" and health["models"]["fast"]["state"] == "missing"
        fast = httpx.post(f"{url}/remove-bg", files={"file": ("d.png", disc_png)}, timeout=60)
        assert fast.status_code == 503, fast.text
        error = fast.json()["error"]
        assert error["code"] == "fast_unavailable" and "silueta is missing" in error["message"]
        assert "fetch_models.py --model silueta" in error["message"]
        pro = httpx.post(f"{url}/remove-bg", params={"quality": "pro"}, files={"file": ("d.png", disc_png)})
        assert pro.status_code == 200 and pro.headers["x-wizpix-quality"] == "pro"
        assert "fast requests get 503 fast_unavailable" in log.read_text()
