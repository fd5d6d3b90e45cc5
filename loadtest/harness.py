"""Real servers for the tests, the load tests and the benchmarks, started as a user starts them.

One module for all three: a server is a process in a session of its own (so that stopping
it stops everything it started: BentoML's arbiter, the front, the runners), its output in
a log file, its ``/health`` polled until a condition holds, and the resident memory of its
whole process tree sampled on request.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENTOML = Path(sys.executable).with_name("bentoml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PR_SET_PDEATHSIG = 1  # from linux/prctl.h


try:  # resolved here, once: finding libc runs ldconfig, never to be done between fork and exec
    _PRCTL = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def _terminated_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGTERM when the process that started
    it dies, however it dies (a killed pytest left servers running otherwise). Linux only."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(command: list[str], log: Path, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
    """``command`` in a session of its own, output to ``log``, ended with its starter."""
    environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_terminated_with_parent if sys.platform == "linux" else None,
        )


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """TERM to the whole session, KILL if it has not ended within ``timeout``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class MemorySampler(threading.Thread):
    """Total RSS of a process and all its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def total(self) -> int:
        total = 0
        for process in self._tree():
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def breakdown(self) -> dict[str, int]:
        """RSS per process, named by BentoML service where there is one."""
        sizes: dict[str, int] = {}
        for process in self._tree():
            try:
                command = process.cmdline()
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            name = command[command.index("--service-name") + 1] if "--service-name" in command else "main"
            sizes[name] = sizes.get(name, 0) + rss
        return sizes

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.total())
            time.sleep(0.2)


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    ready_s: float = 0.0  # from launch to the condition waited for
    sampler: MemorySampler | None = field(default=None, repr=False)

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=30).json()

    def wait_for(
        self, condition: Callable[[dict], bool], timeout: float = 180, what: str = "condition"
    ) -> dict:
        """Poll /health until ``condition`` holds for its body; the body."""
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                last = self.health()
                if condition(last):
                    return last
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"timed out waiting for {what}; last health: {last}\n{self.log.read_text()[-3000:]}"
        )

    def wait_until(self, ready: Callable[[], bool], timeout: float = 600) -> None:
        """For a server without /health (rembg's): until ``ready()``, or fail."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server {self.process.args[0]} did not start; see {self.log}")
            time.sleep(0.5)

    def sample_memory(self) -> MemorySampler:
        self.sampler = MemorySampler(self.process.pid)
        self.sampler.start()
        return self.sampler

    def memory(self) -> tuple[int, int, dict[str, int]]:
        """(peak RSS since sampling began, RSS now, RSS now by process), in bytes; stops sampling."""
        assert self.sampler is not None, "sample_memory() first"
        by_process, now = self.sampler.breakdown(), self.sampler.total()
        self.sampler.running = False
        self.sampler.join()
        return max(self.sampler.peak, now), now, by_process

    def stop(self, timeout: float = 20) -> None:
        if self.sampler is not None:
            self.sampler.running = False
        stop(self.process, timeout)


def start(command: list[str], url: str, log: Path, cwd: Path = ROOT, **env: str) -> Server:
    """A server process; ``url`` is where it will answer."""
    return Server(url, spawn(command, log, cwd, **env), log)


def bentoml_command(target: str, port: int) -> list[str]:
    return [str(BENTOML), "serve", target, "--port", str(port), "--host", "127.0.0.1"]


def service_alone_command(service: str, port: int, depends: dict[str, str] | None = None) -> list[str]:
    """One service of service:WizPix started alone by BentoML's own `start-http-server` (what
    the image runs for each Deployment of deploy/kubernetes.yaml), its dependencies at URLs."""
    links = [f"--depends={name}={url}" for name, url in (depends or {}).items()]
    return [
        sys.executable, "-m", "bentoml_cli._internal.start", "start-http-server",
        f"--service-name={service}", *links, f"--working-dir={ROOT}",
        "--host=127.0.0.1", f"--port={port}", "service:WizPix",
    ]  # fmt: skip


@contextmanager
def bentoml_serve(
    log_dir: Path, target: str = "service:WizPix", cwd: Path = ROOT, **env: str
) -> Iterator[Server]:
    """`bentoml serve service:WizPix` (or a built Bento) as users run it, with extra
    environment variables, once /health answers; stopped on the way out."""
    port = free_port()
    # BentoML wipes its task store at every start: servers running side by side keep apart
    env = {"BENTOML_RESULT_STORE": str(log_dir / f"tasks-{port}.db"), **env}
    started = time.monotonic()
    server = start(
        bentoml_command(target, port), f"http://127.0.0.1:{port}", log_dir / f"serve-{port}.log", cwd, **env
    )
    try:
        server.wait_for(lambda body: "status" in body, timeout=90, what="/health to answer")
        server.ready_s = time.monotonic() - started
        yield server
    finally:
        server.stop()


def start_wizpix(log: Path, timeout: float = 600, **settings: str) -> Server:
    """`bentoml serve` with the benchmark's models (u2netp, ISNet) once it reports status
    ok, its memory sampled from then on; the caller stops it."""
    port = free_port()
    env = {
        "FAST_MODEL_NAME": "u2netp",
        "PRO_MODEL_NAME": "isnet",
        "BENTOML_RESULT_STORE": str(log.with_suffix(".tasks.db")),
        **settings,
    }
    started = time.monotonic()
    server = start(bentoml_command("service:WizPix", port), f"http://127.0.0.1:{port}", log, **env)
    try:
        server.wait_for(lambda body: body.get("status") == "ok", timeout=timeout, what="status ok")
    except AssertionError:
        server.stop()
        raise
    server.ready_s = time.monotonic() - started
    server.sample_memory()
    return server
