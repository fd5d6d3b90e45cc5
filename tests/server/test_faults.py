"""Faults on a real `bentoml serve`: the pro runner's process killed while requests flow.

The mock model keeps it quick; what is under test is the process topology (front,
runners, BentoML's supervisor), not the weights.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import BENTOML_STORE, Server, bentoml_serve, mock_server_ok

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", params=["true", "false"], ids=["auto-fallback", "no-fallback"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with mock_server_ok(tmp_path_factory.mktemp("faults"), AUTO_FALLBACK_FAST=request.param) as running:
        running.auto_fallback = request.param == "true"  # type: ignore[attr-defined]
        yield running


def pro_worker(server: Server) -> psutil.Process:
    for process in psutil.Process(server.process.pid).children(recursive=True):
        if "wizpix-pro" in process.cmdline():
            return process
    raise AssertionError("no pro runner process")


def test_killed_pro_runner_falls_back_then_recovers(server: Server, disc_png: bytes) -> None:
    answers: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(2000):  # bounded; stopped much earlier
                if stop.is_set():
                    return
                r = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
                detail = r.headers.get("x-wizpix-fallback", "") if r.status_code == 200 else r.text
                answers.append((r.status_code, r.headers.get("x-wizpix-quality", ""), detail))
                if r.status_code == 503:
                    assert r.headers.get("retry-after"), r.headers

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    time.sleep(1.0)
    victim = pro_worker(server)
    os.kill(victim.pid, signal.SIGKILL)
    seen_degraded = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = server.health()
        seen_degraded |= body["status"] == "degraded" and body["models"]["pro"]["state"] == "unreachable"
        if seen_degraded and body["status"] == "ok":
            break
        time.sleep(0.1)
    time.sleep(1.0)
    stop.set()
    worker.join(timeout=30)

    assert seen_degraded, "health never reported the dead pro runner"
    assert server.health()["status"] == "ok", "the service did not recover"
    assert pro_worker(server).pid != victim.pid  # restarted by BentoML's supervisor
    if server.auto_fallback:  # type: ignore[attr-defined]
        assert answers and all(status == 200 for status, _, _ in answers), {a[0] for a in answers}
        # dead, then restarted and warming up: which a request meets depends on timing
        reasons = {reason for _, q, reason in answers if q == "fast"}
        outage = {"pro runner is unreachable", "pro inference failed", "pro model is warming up"}
        assert reasons and reasons <= outage, reasons
    else:  # while pro is down: 503 with a JSON reason, never fast, never a 500
        assert {status for status, _, _ in answers} <= {200, 503}, {a[0] for a in answers}
        assert any(status == 503 and "pro_unavailable" in text for status, _, text in answers)
        assert all(q == "pro" for status, q, _ in answers if status == 200)
    assert answers[-1][:2] == (200, "pro")  # served by pro again after recovery


@pytest.mark.weights
@pytest.mark.parametrize("damage", ["truncated", "one byte flipped"])
def test_a_corrupt_pro_model_in_the_store_is_refused_and_the_service_runs_degraded(
    tmp_path: Path, disc_png: bytes, damage: str
) -> None:
    """A copy of the real ISNet store entry, damaged after import, in a store of its own."""
    store = tmp_path / "bentoml"
    source = BENTOML_STORE / "models" / "isnet-general-use"
    shutil.copytree(source, store / "models" / "isnet-general-use")
    (weights,) = (store / "models" / "isnet-general-use").glob("*/isnet-general-use.onnx")  # the fp32 graph
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    env = {
        "BENTOML_HOME": str(store),
        "MODEL_DIR": str(tmp_path / "empty"),
        "FAST_MODEL_NAME": "mock",
        "PRO_MODEL_NAME": "isnet-general-use",
    }
    with bentoml_serve(tmp_path, **env) as running:
        health = running.wait_for(
            lambda body: body["models"]["pro"]["state"] == "failed", timeout=60, what="pro failed"
        )
        assert health["status"] == "degraded", health
        assert "does not match the recorded" in health["models"]["pro"]["error"], health
        assert str(store) not in json.dumps(health)  # names and states, not paths
        with running.client() as client:
            response = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
        assert response.status_code == 200, response.text
        assert response.headers["x-wizpix-quality"] == "fast"
        assert "failed" in response.headers["x-wizpix-fallback"]
        assert running.process.poll() is None
