"""The CPUs a process may use, read from fake cgroup trees of both versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wizpix.core.cpus import usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def _tree(tmp_path: Path, files: dict[str, str], proc: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc_file = tmp_path / "proc_cgroup"
    proc_file.write_text(proc)
    return root, proc_file


@pytest.mark.parametrize(
    ("files", "proc", "expected"),
    [
        # a container on cgroup v1 (its own cgroup at the mount's root): 1 CPU
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "2:cpu:/libpod/x\n", 1),
        # 1.5 CPUs are worth two threads
        ({"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000"}, "2:cpu,cpuacct:/a\n", 2),
        # a host process on v1, its cgroup below the root: no limit at the root, one below
        (
            {
                "cpu/cpu.cfs_quota_us": "-1",
                "cpu/cpu.cfs_period_us": "100000",
                "cpu/job/cpu.cfs_quota_us": "50000",
                "cpu/job/cpu.cfs_period_us": "100000",
            },
            "2:cpu:/job\n",
            AFFINITY,  # the first place read says unlimited
        ),
        # cgroup v2: "max" is no limit, a quota is one
        ({"cpu.max": "max 100000\n"}, "0::/\n", AFFINITY),
        ({"cpu.max": "100000 100000\n"}, "0::/\n", 1),
        ({"svc/cpu.max": "200000 100000\n"}, "0::/svc\n", min(2, AFFINITY)),
        # nothing readable: the affinity
        ({}, "0::/\n", AFFINITY),
    ],
)
def test_the_cpu_limit_caps_the_affinity(tmp_path: Path, files: dict, proc: str, expected: int) -> None:
    root, proc_file = _tree(tmp_path, files, proc)
    assert usable_cpus(root, proc_file) == expected


def test_a_missing_proc_file_means_no_limit(tmp_path: Path) -> None:
    assert usable_cpus(tmp_path, tmp_path / "absent") == AFFINITY


def test_settings_size_threads_from_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from wizpix.core import settings

    monkeypatch.setattr(settings, "usable_cpus", lambda: 1)
    assert settings.Settings().threads == 1
    assert settings.Settings(inference_threads=3).threads == 3
