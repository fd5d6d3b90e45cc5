"""Runners deployed on their own, as deploy/kubernetes.yaml runs them: each runner a BentoML
service started alone, and the front started by BentoML's `start-http-server --depends
wizpix-fast=URL`, which reaches them there instead of starting them. Mock models: the wiring is
under test (tests/image/test_deploy_local.py runs the manifest itself, in containers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from loadtest.harness import service_alone_command, start
from tests.conftest import Server, free_port

pytestmark = pytest.mark.server
MOCKS = {"FAST_MODEL_NAME": "mock", "PRO_MODEL_NAME": "mock"}


@contextmanager
def alone(service: str, log: Path, depends: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    server = start(service_alone_command(service, port, depends), f"http://127.0.0.1:{port}", log, **MOCKS)
    try:
        server.wait_until(lambda: _ready(server.url), timeout=90)
        yield server
    finally:
        server.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_front_uses_runners_deployed_apart(tmp_path: Path, disc_png: bytes) -> None:
    with (
        alone("wizpix-fast", tmp_path / "fast.log") as fast,
        alone("wizpix-pro", tmp_path / "pro.log") as pro,
        alone("wizpix", tmp_path / "front.log", {"wizpix-fast": fast.url, "wizpix-pro": pro.url}) as front,
    ):
        front.wait_for(lambda body: body["status"] == "ok", timeout=60, what="status ok")
        # the front started no runner of its own
        commands = [" ".join(p.cmdline()) for p in psutil.Process(front.process.pid).children(recursive=True)]
        assert not any("wizpix-fast" in c or "wizpix-pro" in c for c in commands), commands
        with front.client() as client:
            served = client.post("/remove-bg?quality=pro", files={"file": ("d.png", disc_png)})
            assert served.status_code == 200 and served.headers["x-wizpix-quality"] == "pro"
            # the pro Deployment goes away: the front falls back to fast and says why
            pro.stop()
            # other bytes: the same upload would be answered from the mask cache, pro's mask
            # for it being already at hand
            other = disc_png + b"another upload"
            fallback = client.post("/remove-bg?quality=pro", files={"file": ("d.png", other)})
        assert fallback.status_code == 200 and fallback.headers["x-wizpix-quality"] == "fast"
        assert "unreachable" in fallback.headers["x-wizpix-fallback"]
        assert front.health()["models"]["pro"]["state"] == "unreachable"
        # and stays ready: it still answers (pro by fast), so a load balancer keeps sending to
        # it (with BentoML's runner probe on, every front went unready at once: an outage)
        assert _ready(front.url)
