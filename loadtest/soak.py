#!/usr/bin/env python3
"""Soak run: Locust against a real `bentoml serve` for minutes, watching every service process.

    .venv/bin/python loadtest/soak.py                       # the documented run: 5 min, 8 users
    .venv/bin/python loadtest/soak.py --duration 60 --users 4 --url URL --pid PID

Without --url it starts `bentoml serve` with the default models (u2netp, ISNet) and waits
for status ok, i.e. for both warmups. The baseline is the resident memory of the server and
all its processes then; the end level is taken once the load has stopped, the requests it
left queued have been answered, and the server has idled a few seconds. Locust
(loadtest/locustfile.py) mixes fast and pro on real photographs from 512² to 12 MP.
Passes when every request is a success or an explicit shed (503/429 with Retry-After)
and memory grew by less than --max-growth. Writes loadtest/results/soak.{md,json} and,
with --docs, the soak section of docs/operations.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.harness import MemorySampler, bentoml_command, free_port, start  # noqa: E402
from scripts.docs_tables import DOCS, replace_section  # noqa: E402

RESULTS = ROOT / "loadtest" / "results"
MB = 2**20


@dataclass
class SoakResult:
    duration_s: int
    users: int
    requests: dict[str, int] = field(default_factory=dict)
    shed: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)
    memory_baseline_mb: dict[str, float] = field(default_factory=dict)
    memory_end_mb: dict[str, float] = field(default_factory=dict)
    memory_peak_mb: float = 0.0
    timeline_mb: list[tuple[float, float]] = field(default_factory=list)
    idle_mb: list[float] = field(default_factory=list)  # all processes, at idle after each phase
    max_growth: float = 0.10

    @property
    def growth(self) -> float:
        return sum(self.memory_end_mb.values()) / sum(self.memory_baseline_mb.values()) - 1

    @property
    def passed(self) -> bool:
        return not self.failures and self.growth < self.max_growth and sum(self.requests.values()) > 0


def _mb(sizes: dict[str, int]) -> dict[str, float]:
    return {name: round(rss / MB, 1) for name, rss in sorted(sizes.items())}


def run_locust(url: str, users: int, duration_s: int, workdir: Path, sampler: MemorySampler) -> list:
    """Run Locust headless; sample total memory every few seconds meanwhile."""
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f",
        str(ROOT / "loadtest" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration_s}s",
        "--host",
        url,
        "--only-summary",
        "--csv",
        str(workdir / "soak"),
    ]
    timeline = []
    started = time.monotonic()
    with (workdir / "locust.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        while process.poll() is None:
            timeline.append((round(time.monotonic() - started, 1), round(sampler.total() / MB, 1)))
            time.sleep(5)
    if process.returncode not in (0, 1):  # 1: some requests failed, judged below
        raise SystemExit(f"locust exited {process.returncode}; see {workdir / 'locust.log'}")
    return timeline


def read_counts(workdir: Path, result: SoakResult) -> None:
    with (workdir / "soak_stats.csv").open() as stats:
        for row in csv.DictReader(stats):
            if row["Name"] != "Aggregated":
                result.requests[row["Name"]] = result.requests.get(row["Name"], 0) + int(row["Request Count"])
    with (workdir / "soak_failures.csv").open() as failures:
        for row in csv.DictReader(failures):
            kind = result.shed if "shed:" in row["Error"] else result.failures
            key = f"{row['Name']}: {row['Error']}"
            kind[key] = kind.get(key, 0) + int(row["Occurrences"])


def soak(url: str, pid: int, users: int, duration_s: int, max_growth: float, phases: int = 1) -> SoakResult:
    """The load in ``phases`` equal parts, memory read at idle after each: a leak climbs
    phase after phase, a high-water mark reached once stays flat."""
    sampler = MemorySampler(pid)
    time.sleep(3)
    result = SoakResult(duration_s, users, max_growth=max_growth)
    result.memory_baseline_mb = _mb(sampler.breakdown())
    served_before = _served(url)
    sampler.start()
    for _ in range(phases):
        with tempfile.TemporaryDirectory(prefix="wizpix-soak-") as folder:
            result.timeline_mb += run_locust(url, users, duration_s // phases, Path(folder), sampler)
            read_counts(Path(folder), result)
        _wait_until_idle(url)  # Locust stops its users, not the requests already queued
        time.sleep(8)  # idle: what is still held now is what the load left behind
        result.memory_end_mb = _mb(sampler.breakdown())
        result.idle_mb.append(round(sum(result.memory_end_mb.values())))
    sampler.running = False
    result.memory_peak_mb = round(sampler.peak / MB, 1)
    after = _served(url)
    result.served_by = {key: after.get(key, 0) - served_before.get(key, 0) for key in after}
    return result


def _wait_until_idle(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health", timeout=30).json()["requests"]["in_flight"] == 0:
            return
        time.sleep(1)
    raise SystemExit("the server still had requests in flight after the load stopped")


def _served(url: str) -> dict[str, int]:
    """Per-model counters from /health's runner status (requests each runner has served)."""
    models = httpx.get(f"{url}/health", timeout=30).json()["models"]
    return {f"{role} ({body['name']})": int(body.get("served", 0)) for role, body in models.items()}


def markdown(result: SoakResult) -> str:
    base, end = sum(result.memory_baseline_mb.values()), sum(result.memory_end_mb.values())
    lines = [
        f"Soak: {result.duration_s} s, {result.users} Locust users (fast 3 : pro 1 : health 1), "
        f"photographs from 512² to 12 MP, {os.cpu_count()} cores. Verdict: "
        f"**{'passed' if result.passed else 'FAILED'}**.",
        "",
        "| requests | count |",
        "|---|---:|",
        *(f"| `{name}` | {count} |" for name, count in result.requests.items()),
        f"| explicit sheds (503/429 with Retry-After) | {sum(result.shed.values())} |",
        f"| other failures | {sum(result.failures.values())} |",
        "",
        "| memory (RSS, MB) | after warmup | after the soak |",
        "|---|---:|---:|",
        *(
            f"| {name} | {result.memory_baseline_mb[name]:.0f} | {result.memory_end_mb.get(name, 0):.0f} |"
            for name in result.memory_baseline_mb
        ),
        f"| **all processes** | **{base:.0f}** | **{end:.0f}** ({result.growth:+.1%}) |",
        "",
        f"Peak during the run: {result.memory_peak_mb:.0f} MB. Limit on growth: {result.max_growth:.0%}.",
        f"All processes at idle after each of {len(result.idle_mb)} phases: "
        + ", ".join(f"{mb:.0f}" for mb in result.idle_mb)
        + " MB.",
    ]
    if result.shed:
        lines += ["", "Sheds: " + "; ".join(f"{k} ×{v}" for k, v in result.shed.items())]
    if result.failures:
        lines += ["", "Failures: " + "; ".join(f"{k} ×{v}" for k, v in result.failures.items())]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=300, help="seconds of load (default 300)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--url", help="a running server; needs --pid")
    parser.add_argument("--pid", type=int, help="the pid of that server's `bentoml serve`")
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument("--phases", type=int, default=5, help="memory read at idle after each")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where soak.{md,json} go")
    parser.add_argument("--docs", action="store_true", help="refresh the soak section of docs/operations.md")
    args = parser.parse_args()

    server = None
    if args.url:
        if not args.pid:
            parser.error("--url needs --pid")
        url, pid = args.url, args.pid
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args.out.mkdir(parents=True, exist_ok=True)
        server = start(bentoml_command("service:WizPix", port), url, args.out / "soak-server.log")
        server.wait_until(lambda: _status(url) == "ok")
        pid = server.process.pid
    try:
        result = soak(url, pid, args.users, args.duration, args.max_growth, args.phases)
    finally:
        if server is not None:
            server.stop()
    table = markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(table)
    record = {**asdict(result), "growth": result.growth, "passed": result.passed}
    (args.out / "soak.json").write_text(json.dumps(record, indent=2))
    if args.docs:
        replace_section(DOCS / "operations.md", "soak", table)
    print(table)
    return 0 if result.passed else 1


def _status(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/health", timeout=5).json().get("status")
    except (httpx.HTTPError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
