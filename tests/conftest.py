"""Shared fixtures: real photographs and real `bentoml serve` processes (loadtest/harness.py)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from loadtest.harness import BENTOML, ROOT, Server, bentoml_serve, free_port, spawn, stop

__all__ = ["BENTOML", "ROOT", "Server", "bentoml_serve", "free_port", "spawn", "stop"]

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
# BentoML's own model store, where `make test-models` put the weights, as a plain
# `bentoml` command finds it
BENTOML_STORE = Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml")


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


def trickling_upload(url: str, headers: dict[str, str] | None = None) -> socket.socket:
    """A /remove-bg upload admitted and left mid-body (headers and the first bytes of a
    200 kB multipart body, then nothing): it holds one MAX_IN_FLIGHT slot until its socket
    is closed or the server cuts it."""
    address = urlsplit(url)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = '--trickle\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    sock.sendall(
        (
            f"POST /remove-bg HTTP/1.1\r\nHost: {address.hostname}\r\nContent-Length: 200000\r\n{extra}"
            f"Content-Type: multipart/form-data; boundary=trickle\r\n\r\n{head}"
        ).encode()
        + b"\xff\xd8\xff"
    )
    return sock


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


def pro_label(server: Server) -> str:
    """What X-WizPix-Model says of a default pro answer on this server: ISNet in the build its
    runner chose (PRO_PRECISION=auto times them on this CPU), fused with u2netp."""
    build = server.health()["models"]["pro"]["build"]
    return f"isnet-general-use{'@int8' if build == 'int8' else ''}+u2netp"


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
