#!/usr/bin/env python3
"""What the tiers promise, measured on a warm `bentoml serve` with the real models:

    .venv/bin/python loadtest/tiers.py
    .venv/bin/python loadtest/tiers.py --env PRO_MAX_BATCH_SIZE=4 --env INFERENCE_THREADS=1

Each configuration (the defaults, then each --env given) gets one fresh service and the
measures of `make bench`'s tier table (loadtest/bench.py `tier_measures`: stalls, repeat
edit, fast beside a busy pro). Every figure is a ratio measured in the same run; nothing
here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RESULTS, tier_measures, wizpix_sender
from photos import bench_inputs

from loadtest.harness import start_wizpix


def measure(settings: dict[str, str], inputs: dict[str, tuple[bytes, str]]) -> dict[str, float]:
    server = start_wizpix(RESULTS / "tiers.log", **settings)
    try:
        return tier_measures(wizpix_sender(server.url), inputs)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        help="NAME=VALUE: a configuration to measure beside the defaults",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    inputs = bench_inputs()
    configurations = {"defaults": {}} | {item: dict([item.split("=", 1)]) for item in args.env}
    results = {name: measure(settings, inputs) for name, settings in configurations.items()}
    rows = list(next(iter(results.values())))
    lines = ["| measure | " + " | ".join(results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    lines += [f"| {row} | " + " | ".join(f"{results[n][row]:.2f}" for n in results) + " |" for row in rows]
    table = "\n".join(lines) + "\n"
    (RESULTS / "tiers.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
