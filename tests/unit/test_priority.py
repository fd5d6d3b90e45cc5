"""A runner's lower CPU priority, in a process of its own session (as BentoML starts them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = """
import os, threading
from pathlib import Path
from wizpix.runner.priority import lower_cpu_priority
threading.Thread(target=lambda: None).start()
print(lower_cpu_priority(7))
autogroup = Path("/proc/self/autogroup")
print(autogroup.read_text().split()[-1] if autogroup.exists() else "none")
print(os.getpriority(os.PRIO_PROCESS, 0))
"""


def test_the_process_and_its_threads_yield() -> None:
    # a session of its own: the autogroup changed is the child's, never the test run's
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    done, autogroup, nice = result.stdout.split("\n")[:3]
    assert int(nice) == 7 and "nice 7 on" in done
    if Path("/proc/self/autogroup").exists():
        assert autogroup == "7" and "autogroup nice 7" in done
