"""Schemathesis fuzzes the whole HTTP surface from its own OpenAPI schema (BentoML's
``/docs.json``: our routes and BentoML's API and task routes, multipart, form and JSON
bodies, odd headers): no 5xx, no hang, the server healthy after.

A fixed seed and a two-minute budget keep CI repeatable and short; the release check in
docs/tests.md runs the same hooks for half an hour without a seed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Server

pytestmark = pytest.mark.server
HOOKS = Path(__file__).with_name("fuzz")


def test_fuzzed_requests_never_get_a_server_error_nor_hang(server: Server, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    env = {**os.environ, "PYTHONPATH": str(HOOKS), "SCHEMATHESIS_HOOKS": "wizpix_hooks"}
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server.url}/docs.json",
            "--url",
            server.url,
            "--checks",
            "no_server_error",
            "--request-timeout",
            "20",  # an answer that takes longer is a hang
            "--max-time",
            "120",
            "--max-examples",
            "40",
            "--seed",
            "20261201",
            "--workers",
            "1",  # hypothesis parses lambdas' source; from two threads it fails on Python 3.11.7
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    assert selected and selected.group(1) == selected.group(2) and int(selected.group(2)) >= 16, result.stdout
    assert re.search(r"Tested: (\d+)", result.stdout).group(1) == selected.group(2)  # every operation
    assert re.search(r"(\d+) generated, \1 passed", result.stdout), result.stdout[-2000:]
    assert server.health()["status"] == "ok"
