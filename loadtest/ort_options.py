#!/usr/bin/env python3
"""ONNX Runtime session options side by side: speed and resident memory per option set.

    .venv/bin/python loadtest/ort_options.py                  # ISNet and u2netp
    .venv/bin/python loadtest/ort_options.py --model models/u2netp.onnx --size 320

Each option set runs in a fresh process (resident memory is per process), on the same
model-sized input: the profile behind the memory-arena and spinning defaults.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OPTION_SETS = {
    "defaults (arena on, spinning on)": {"arena": True, "spin": "1", "shrink": False},
    "arena on, spinning off (fast runner)": {"arena": True, "spin": "0", "shrink": False},
    "arena on, shrunk after each run": {"arena": True, "spin": "0", "shrink": True},
    "arena off, spinning off (pro runner)": {"arena": False, "spin": "0", "shrink": False},
}

PROBE = """
import json, sys, time
import numpy as np, onnxruntime as ort, psutil
path, size, opts, runs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions(); o.intra_op_num_threads = 2; o.inter_op_num_threads = 1
o.enable_cpu_mem_arena = opts["arena"]
o.add_session_config_entry("session.intra_op.allow_spinning", opts["spin"])
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
run_options = ort.RunOptions()
if opts["shrink"]:
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
feed = {s.get_inputs()[0].name: np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)}
out = [s.get_outputs()[0].name]
s.run(out, feed, run_options)
times = []
for _ in range(runs):
    t = time.perf_counter(); s.run(out, feed, run_options); times.append(time.perf_counter() - t)
print(json.dumps({"median_s": float(np.median(times)), "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--size", type=int, action="append", help="input size, one per --model")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    models = list(
        zip(
            args.model or [ROOT / "models/isnet-general-use.onnx", ROOT / "models/u2netp.onnx"],
            args.size or [1024, 320],
            strict=True,
        )
    )
    print("| model | options | median s/image | resident MB after the runs |\n|---|---|---|---|")
    for path, size in models:
        for label, options in OPTION_SETS.items():
            result = subprocess.run(
                [sys.executable, "-c", PROBE, str(path), str(size), json.dumps(options), str(args.runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            numbers = json.loads(result.stdout)
            print(
                f"| {path.stem} | {label} | {numbers['median_s']:.3f} | {numbers['rss_mb']:.0f} |", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
