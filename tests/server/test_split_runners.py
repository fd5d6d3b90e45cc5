"""Runners deployed on their own, as in the Kubernetes example: `bentoml serve service:FastRunner`
and `service:ProRunner` each in their own process group, and a front that reaches them at
FAST_RUNNER_URL / PRO_RUNNER_URL instead of starting them. Mock models: the wiring is under test."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import BENTOML, ROOT, Server, bentoml_serve, free_port

pytestmark = pytest.mark.server


@contextmanager
def runner_alone(name: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, "FAST_MODEL_NAME": "mock", "PRO_MODEL_NAME": "mock"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BENTOML), "serve", f"service:{name}", "--port", str(port), "--host", "127.0.0.1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_front_uses_runners_deployed_apart(tmp_path: Path, disc_png: bytes) -> None:
    with (
        runner_alone("FastRunner", tmp_path / "fast.log") as (fast_url, _),
        runner_alone("ProRunner", tmp_path / "pro.log") as (pro_url, pro_process),
    ):
        env = {
            "FAST_MODEL_NAME": "mock",
            "PRO_MODEL_NAME": "mock",
            "FAST_RUNNER_URL": fast_url,
            "PRO_RUNNER_URL": pro_url,
        }
        with bentoml_serve(tmp_path, **env) as front:
            front.wait_for(lambda body: body["status"] == "ok", timeout=60, what="status ok")
            # the front started no runner of its own
            commands = [
                " ".join(p.cmdline()) for p in psutil.Process(front.process.pid).children(recursive=True)
            ]
            assert not any("wizpix-fast" in c or "wizpix-pro" in c for c in commands), commands
            with front.client() as client:
                pro = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
                assert pro.status_code == 200 and pro.headers["x-wizpix-quality"] == "pro"
                # the pro Deployment goes away: the front falls back to fast and says why
                os.killpg(pro_process.pid, signal.SIGTERM)
                pro_process.wait(timeout=30)
                # other bytes: the same upload would be answered from the mask cache, pro's
                # mask for it being already at hand
                other = disc_png + b"another upload"
                fallback = client.post("/remove-bg?quality=pro", files={"file": ("d.png", other)})
            assert fallback.status_code == 200 and fallback.headers["x-wizpix-quality"] == "fast"
            assert "unreachable" in fallback.headers["x-wizpix-fallback"]
            assert front.health()["models"]["pro"]["state"] == "unreachable"
    assert isinstance(front, Server)
