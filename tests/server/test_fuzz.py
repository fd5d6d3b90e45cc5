"""Schemathesis fuzzes the OpenAPI schema of a real `bentoml serve`: no 5xx, still healthy.

A fixed seed keeps CI repeatable; run `schemathesis run URL/openapi.json --checks
not_a_server_error` without one (and with more examples) to explore further.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Server

pytestmark = pytest.mark.server


def test_fuzzed_requests_never_get_a_server_error(server: Server, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--seed",
            "20261123",
            "--no-color",
            # A deadline the client chose and the server could not meet is a 504 by design
            # (tests/test_overload.py); pin it so that fuzzing looks for real server errors.
            "--header",
            "X-WizPix-Deadline-Ms: 60000",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps a cache of found crashes in its working folder
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
    assert server.health()["status"] == "ok"
