"""A lower CPU priority for a whole runner process, so that `fast` stays fast while `pro` works.

BentoML starts each service worker in a session of its own, and Linux's autogroup scheduler
(on by default) first shares the CPU fairly between sessions, then between the threads of a
session. So a thread's nice value only ranks it against threads of its own process: nice 10
on every pro thread left `fast` beside a busy `pro` at 1.95× its time alone, against 1.97×
without it (measured). The autogroup's own nice value (``/proc/self/autogroup``) ranks the
process against the other runners. Where there is no autogroup (disabled, or not Linux),
the threads' nice values are what the kernel ranks by, so both are set. Autogroups only
exist for processes in the root CPU cgroup: in a container or a systemd service the thread
nice values are what acts, a path not measured here.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def lower_cpu_priority(nice: int) -> str:
    """Lower this process's CPU priority to ``nice`` (0–19); what was done, for the log.

    Raising the value needs no privilege; it is never lowered here. Threads created later
    (ONNX Runtime's pool) inherit the nice value of the thread that creates them.
    """
    if nice <= 0:
        return "normal priority"
    # the autogroup is the whole session: only ever called in a runner process of its own
    done = []
    for attempt in range(5):
        try:
            AUTOGROUP.write_text(str(nice))
            done.append(f"autogroup nice {nice}")
            break
        except OSError as error:
            # without CAP_SYS_ADMIN the kernel takes one such write per 100 ms, system-wide
            if error.errno == errno.EAGAIN and attempt < 4:
                time.sleep(0.12)
                continue
            log.warning("no autogroup priority (%s): thread priorities only", error)
            break
    threads = [int(tid) for tid in os.listdir("/proc/self/task")] if Path("/proc/self/task").is_dir() else [0]
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        except OSError:  # a thread that has just ended
            continue
    done.append(f"nice {nice} on {len(threads)} threads")
    log.info("CPU priority lowered: %s", ", ".join(done))
    return ", ".join(done)
