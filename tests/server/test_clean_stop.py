"""`kill -TERM` of the user's commands (`make serve`, `bentoml serve`) while a request is in
flight: that request is answered (503 while draining), and every process is gone within
10 s (Kubernetes kills a pod 30 s after TERM)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import BENTOML, Server, free_port, spawn, stop, trickling_upload

pytestmark = pytest.mark.server


def slow_upload(url: str) -> socket.socket:
    """A /remove-bg upload that trickles a byte a second: it would hold the front for
    REQUEST_TIMEOUT_S (120 s) if nothing cut it."""
    connection = trickling_upload(url)

    def trickle() -> None:
        try:
            for _ in range(120):
                connection.sendall(b"x")
                time.sleep(1)
        except OSError:
            return

    threading.Thread(target=trickle, daemon=True).start()
    return connection


def stopped_in(server: Server) -> tuple[float, bytes]:
    """TERM to the command the user ran; how long until its whole tree is gone, and what
    the request in flight was answered."""
    tree = [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children(recursive=True)]
    assert len(tree) >= 4, [p.cmdline() for p in tree]  # the arbiter, the front, two runners
    connection = slow_upload(server.url)
    time.sleep(1)
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)  # the command only, as `kill -TERM PID` does
    connection.settimeout(15)
    answer = b""
    try:
        while chunk := connection.recv(4096):  # until the server closes it
            answer += chunk
    except OSError:
        pass
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"still running 15 s after TERM: {[p.pid for p in alive]}"
    return time.monotonic() - started, answer


@pytest.mark.parametrize("command", ["make serve", "bentoml serve"])
def test_term_answers_the_request_in_flight_and_ends_every_process_within_10_s(
    tmp_path: Path, command: str
) -> None:
    port = free_port()
    argv = (
        ["make", "serve"]
        if command == "make serve"
        else [str(BENTOML), "serve", "service:WizPix", "--port", str(port)]
    )
    env = {"FAST_MODEL_NAME": "mock", "PRO_MODEL_NAME": "mock", "PORT": str(port), "SHUTDOWN_GRACE_S": "4"}
    log = tmp_path / "serve.log"
    server = Server(
        f"http://127.0.0.1:{port}", spawn(argv, log, BENTOML_RESULT_STORE=str(tmp_path / "t.db"), **env), log
    )
    try:
        server.wait_for(lambda body: body["status"] == "ok", timeout=120, what="status ok")
        seconds, answer = stopped_in(server)
    finally:
        stop(server.process)
    assert answer.startswith(b"HTTP/1.1 503") and b"shutting_down" in answer, answer[:300]
    assert seconds < 10, f"{command} took {seconds:.1f} s to stop"
    assert "draining 1 request(s) in flight" in log.read_text()
