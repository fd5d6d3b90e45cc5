#!/usr/bin/env python3
"""Seconds per image and memory of a real `bentoml serve`, one request at a time.

    .venv/bin/python loadtest/measure.py --requests 10

Starts the service as users do, waits for status=ok, sends sequential requests with a
real photograph for each quality, and samples the resident memory of every process of
the server (front and runners) throughout. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parent.parent


def _photo(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


class MemorySampler(threading.Thread):
    """Peak total RSS of a process and all its children."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = self.current = 0
        self.running = True

    def total(self) -> int:
        processes = [self.root, *self.root.children(recursive=True)]
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def run(self) -> None:
        while self.running:
            self.current = self.total()
            self.peak = max(self.peak, self.current)
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10, help="requests per quality and photo")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "BENTOML_HOME": os.environ.get("BENTOML_HOME", str(ROOT / ".bentoml"))}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("bentoml")), "serve", "service:WizPix", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    sampler = MemorySampler(server.pid)
    sampler.start()
    try:
        started = time.monotonic()
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok":
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() - started > 300:
                raise SystemExit("the service did not reach status=ok in 300 s")
            time.sleep(0.5)
        ready_s = time.monotonic() - started
        idle_mb = sampler.total() / 2**20
        rows = []
        with httpx.Client(base_url=url, timeout=300) as client:
            for photo in ("astronaut", "coffee"):
                payload = _photo(photo)
                size = "×".join(map(str, Image.open(io.BytesIO(payload)).size))
                for quality in ("fast", "pro"):
                    times = []
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        response = client.post(
                            f"/remove-bg?quality={quality}", files={"file": ("p.jpg", payload)}
                        )
                        times.append(time.perf_counter() - t0)
                        assert response.status_code == 200, response.text
                        assert response.headers["x-wizpix-quality"] == quality
                    rows.append(
                        (
                            photo,
                            size,
                            quality,
                            response.headers["x-wizpix-model"],
                            statistics.median(times),
                            max(times),
                        )
                    )
    finally:
        sampler.running = False
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}"
    )
    print(
        f"Start to status=ok: {ready_s:.1f} s; memory of all service processes: "
        f"{idle_mb:.0f} MiB when ready, {sampler.peak / 2**20:.0f} MiB peak\n"
    )
    print("| photo | size | quality | model | median s/image | max s |")
    print("|---|---|---|---|---|---|")
    for photo, size, quality, model, median, worst in rows:
        print(f"| {photo} | {size} | {quality} | {model} | {median:.3f} | {worst:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
