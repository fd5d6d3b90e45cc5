#!/usr/bin/env python3
"""The split deployment's bench: does pro's throughput grow with its replicas?

    .venv/bin/python loadtest/deploy_bench.py [--image wizpix:latest] [--docs]   # part of `make bench`

deploy/kubernetes.yaml on Podman (deploy/local.py), run twice side by side: with one pro
replica, then two, each container limited to one CPU as the manifest says. Each run sends
the same number of distinct 1920×1280 JPEG uploads (`pro`, the default fusion) from four
clients through the ingress, after one warm-up, and reads each replica's own count of masks
made. Writes loadtest/results/deploy.json and, with --docs, the section of docs/deploy.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "loadtest"), str(ROOT)]

from bench import RESULTS, distinct, distinct_sends, drive, percentile  # noqa: E402
from photos import bench_inputs  # noqa: E402

from deploy.local import deployed, inferences  # noqa: E402
from loadtest.harness import free_port  # noqa: E402
from scripts.docs_tables import DOCS, replace_section  # noqa: E402

INPUT = "1920×1280 JPEG"
CLIENTS = 4
TARGET = 1.7  # two replicas against one (issue 24)


def sender(url: str, failures: list[str]):
    """``bench.wizpix_sender``, keeping why an answer was not pro's."""

    def send_for(quality: str, payload: bytes, mime: str):
        def send(client: httpx.Client) -> bool:
            answer = client.post(
                f"{url}/remove-bg", params={"quality": quality}, files={"file": ("in", payload, mime)}
            )
            served = answer.headers.get("x-wizpix-quality")
            if answer.status_code != 200 or served != quality:
                why = answer.headers.get("x-wizpix-fallback") or answer.text[:200]
                failures.append(f"{answer.status_code} {served}: {why}")
                return False
            return True

        return send

    return send_for


def run(image: str, replicas: int, requests: int) -> dict:
    payload, mime = bench_inputs()[INPUT]
    salt = int(time.time()) % 100_000 * 1000  # uploads no earlier run sent
    failures: list[str] = []
    with deployed(image, free_port(), {"wizpix-pro": replicas}) as deployment:
        send_for = sender(deployment.url, failures)
        pods = deployment.containers("wizpix-pro")
        with httpx.Client(timeout=600) as client:  # warm-up: every process has served once
            for n in range(replicas):
                assert send_for("pro", distinct(payload, salt + 900 + n), mime)(client)
        before = {pod: inferences(pod) for pod in pods}
        sends = distinct_sends(send_for, "pro", payload + salt.to_bytes(4, "big"), mime)
        wall, latencies, errors = drive(sends, CLIENTS, requests)
        served = {pod: inferences(pod) - before[pod] for pod in pods}
    return {
        "replicas": replicas,
        "requests": requests,
        "throughput": requests / wall,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "errors": errors,
        "served": served,
        "failures": failures,
    }


def markdown(runs: list[dict]) -> str:
    one, two = runs
    ratio = two["throughput"] / one["throughput"]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (`make bench`, loadtest/deploy_bench.py): pro on distinct {INPUT} "
        f"uploads from {CLIENTS} clients through the ingress, each pro replica limited to one CPU.",
        "",
        "| pro replicas | requests | img/s | p50 / p95 s | failed | masks made by each replica |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        shares = ", ".join(f"{n} ({n / r['requests']:.0%})" for n in r["served"].values())
        lines.append(
            f"| {r['replicas']} | {r['requests']} | {r['throughput']:.3f} | {r['p50']:.1f} / {r['p95']:.1f} "
            f"| {r['errors']} | {shares} |"
        )
    met = "met" if ratio >= TARGET else "**not met**"
    lines += ["", f"Two replicas against one: **{ratio:.2f}×** (target ≥ {TARGET}×: {met})."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=os.environ.get("WIZPIX_IMAGE", "wizpix:latest"))
    parser.add_argument("--requests", type=int, default=12, help="pro requests per run")
    parser.add_argument("--docs", action="store_true", help="refresh the section of docs/deploy.md")
    args = parser.parse_args()
    runs = [run(args.image, replicas, args.requests) for replicas in (1, 2)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(runs, indent=1))
    table = markdown(runs)
    if args.docs:
        replace_section(DOCS / "deploy.md", "replicas", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
