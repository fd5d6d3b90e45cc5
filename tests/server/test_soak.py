"""The soak run in its short form: 45 s of mixed Locust load on the real-weights server.

The documented run is 5 minutes with 8 users (docs/operations.md, "Soak"); this one keeps CI short.
Same criteria: no failure other than an explicit shed, and the memory of every service
process grows by less than 10% from where it stood before the load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server

pytestmark = [pytest.mark.server, pytest.mark.weights]


def test_short_soak_no_failures_and_memory_flat(real_server: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtest" / "soak.py"),
            "--url",
            real_server.url,
            "--pid",
            str(real_server.process.pid),
            "--duration",
            "45",
            "--users",
            "4",
            "--phases",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((tmp_path / "soak.json").read_text())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report["failures"] == {} and report["growth"] < 0.10, report
    assert (
        report["requests"]["/remove-bg?quality=fast"] > 0 and report["requests"]["/remove-bg?quality=pro"] > 0
    )
    assert sum(report["served_by"].values()) > 0 and real_server.health()["status"] == "ok"
