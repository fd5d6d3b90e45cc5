"""Shared fixtures: real photographs and real `bentoml serve` processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
# BentoML's own model store, where `make test-models` put the weights, as a plain
# `bentoml` command finds it
BENTOML_STORE = Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml")
BENTOML = Path(sys.executable).with_name("bentoml")


def jpeg_bytes(array: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> bytes:
    """A real photograph (scikit-image's astronaut, 512×512): a person on a plain background."""
    from skimage import data

    return jpeg_bytes(data.astronaut())


@pytest.fixture(scope="session")
def disc_png() -> bytes:
    """A red disc on a white background: what the mock model can cut out exactly."""
    yy, xx = np.mgrid[0:240, 0:320]
    image = np.full((240, 320, 3), 255, np.uint8)
    image[(yy - 120) ** 2 + (xx - 160) ** 2 < 70**2] = (200, 30, 30)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=30).json()

    def wait_for(self, condition, timeout: float = 180, what: str = "condition") -> dict:
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                last = self.health()
                if condition(last):
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"timed out waiting for {what}; last health: {last}\n{self.log.read_text()[-3000:]}"
        )


def spawn(command: list[str], log: Path, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
    """A server process of its own session (so ``stop`` ends its children too), output to ``log``."""
    environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_python(script: str, *args: str, **env: str | None) -> str:
    """``script`` in a fresh interpreter (settings and libraries read at import start anew);
    its standard output. A variable given as None is unset."""
    merged = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", **env}
    environment = {name: value for name, value in merged.items() if value is not None}
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@contextmanager
def bentoml_serve(
    tmp_path: Path, target: str = "service:WizPix", cwd: Path = ROOT, **env: str
) -> Iterator[Server]:
    """Run `bentoml serve service:WizPix` (or a built Bento) as users do, with extra
    environment variables."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    command = [str(BENTOML), "serve", target, "--port", str(port), "--host", "127.0.0.1"]
    # BentoML wipes its task store at every start: servers running side by side keep apart
    env = {"BENTOML_RESULT_STORE": str(tmp_path / f"tasks-{port}.db"), **env}
    server = Server(f"http://127.0.0.1:{port}", spawn(command, log, cwd, **env), log)
    try:
        server.wait_for(lambda body: "status" in body, timeout=90, what="/health to answer")
        yield server
    finally:
        stop(server.process)


@contextmanager
def mock_server_ok(tmp_path: Path, **env: str) -> Iterator[Server]:
    """`bentoml serve` with the mock model on both runners, once it reports status ok."""
    with bentoml_serve(tmp_path, **{"FAST_MODEL_NAME": "mock", "PRO_MODEL_NAME": "mock", **env}) as server:
        server.wait_for(lambda body: body["status"] == "ok", timeout=60, what="status ok")
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default server of a test module: mock models, status ok. Modules that need
    real weights or other settings define their own `server`, which takes precedence."""
    with mock_server_ok(tmp_path_factory.mktemp("mock")) as running:
        yield running


def alpha_of(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGBA", (image.format, image.mode)
    return np.asarray(image)[..., 3]


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default models (real u2netp and ISNet weights), shared by the modules that need
    them. Warmup is blocking, so /readyz must say no until both are warm: what it said
    while warming is kept for a test. TMPDIR is a folder of its own, watched by a test."""
    base = tmp_path_factory.mktemp("real")
    (base / "tmp").mkdir()
    with bentoml_serve(base, WARMUP_BLOCKING="true", TMPDIR=str(base / "tmp")) as running:
        running.readiness_while_warming = []  # type: ignore[attr-defined]
        running.tmpdir = base / "tmp"  # type: ignore[attr-defined]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            # readiness first: warming up only ever ends, so a 200 here must be followed by ok
            ready = httpx.get(f"{running.url}/readyz", timeout=30).status_code
            body = running.health()
            running.readiness_while_warming.append((body["status"], ready))  # type: ignore[attr-defined]
            if body["status"] == "ok" and ready == 200:
                break  # (ok, 503) can be read when warmup ends between the two calls
            time.sleep(0.3)
        yield running
