"""The Node client (clients/node/) under Node's own test runner, against the real server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server, pro_label

pytestmark = [pytest.mark.server, pytest.mark.weights]


def test_node_client_suite_passes_against_the_real_service(
    real_server: Server, astronaut: bytes, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "Node.js (>= 18) is needed for clients/node: apt-get install nodejs"
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut)
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", "test/"],
        cwd=ROOT / "clients" / "node",
        env={
            **os.environ,
            "WIZPIX_URL": real_server.url,
            "WIZPIX_PHOTO": str(photo),
            "WIZPIX_PRO_MODEL": pro_label(real_server),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout or "ℹ fail 0" in result.stdout, result.stdout[-2000:]
