"""How many CPUs this process may really use: its affinity, and its container's CPU limit.

``os.cpu_count()`` counts the machine's cores. A container limited to one CPU (Kubernetes'
``limits.cpu: 1``, ``podman run --cpus 1``) still sees them all, and a runner that starts as
many inference threads as cores is throttled by the kernel in the middle of every image:
measured on ISNet with a 1-CPU limit on 2 cores, 9 s for a photo that takes 2 s on one
thread. Read by hand (a dozen lines) because neither the standard library (3.13's
``os.process_cpu_count`` reads the affinity only) nor psutil reads the CFS quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _own_cgroups(proc_cgroup: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """Controller → this process's cgroup path ('' for cgroup v2's unified hierarchy)."""
    paths: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _quota(root: Path, own: dict[str, str]) -> float | None:
    """CPUs the CFS quota allows, or None when there is no limit (or nothing to read).

    A container usually sees its own cgroup at the mount's root; a process on a host sees
    the whole tree and finds its own below it: both places are tried."""
    candidates = []
    if "" in own:  # v2: "max 100000" or "150000 100000"
        candidates += [(root / "cpu.max", None), (root / own[""].lstrip("/") / "cpu.max", None)]
    for name in ("cpu", "cpu,cpuacct"):  # v1
        if "cpu" in own:
            base = root / name
            for folder in (base, base / own["cpu"].lstrip("/")):
                candidates.append((folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us"))
    for quota_file, period_file in candidates:
        try:
            if period_file is None:
                quota, period = quota_file.read_text().split()
            else:
                quota, period = quota_file.read_text().strip(), period_file.read_text().strip()
            return None if quota in ("max", "-1") else int(quota) / int(period)
        except (OSError, ValueError, ZeroDivisionError):
            continue
    return None


def usable_cpus(root: Path = CGROUP, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The CPUs this process may use: its affinity, capped by its cgroup's CPU quota
    (rounded up: a limit of 1.5 CPUs is worth two threads)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _quota(root, _own_cgroups(proc_cgroup))
    if quota is not None and quota > 0:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
