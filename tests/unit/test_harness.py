"""The test servers end with whatever started them, even a pytest killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

STARTER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from loadtest.harness import spawn
child = spawn([sys.executable, "-c", "import time; time.sleep(120)"], Path({log!r}))
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper has ended
        return stat.read().split()[2] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_spawned_server_ends_when_its_starter_is_killed(tmp_path) -> None:
    script = STARTER.format(root=str(ROOT), log=str(tmp_path / "child.log"))
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(starter.stdout.readline())
    assert alive(child)
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "the server outlived the process that started it"
