#!/usr/bin/env python3
"""What the tiers promise, measured on a warm `bentoml serve` with the real models:

    .venv/bin/python loadtest/tiers.py
    .venv/bin/python loadtest/tiers.py --env PRO_MAX_BATCH_SIZE=4 --env INFERENCE_THREADS=1

Each configuration (the defaults, then each --env given) gets one fresh service, then:
- repeat edit: a 1920×1280 `pro` request, then the same upload with another background
  (from the mask cache), as a ratio of times;
- no stalls: 12 sequential `pro` requests with distinct uploads from the first one after
  status=ok: the slowest against their median;
- fast beside pro: `fast` 512² requests one at a time, alone, then while another client
  keeps `pro` busy: the median with pro busy against the median alone.
Every figure is a ratio measured in the same run; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RESULTS, Server, _answers, free_port
from photos import bench_inputs


def distinct(payload: bytes, n: int) -> bytes:
    """The same picture as other bytes (a JPEG or PNG ignores what follows its end): the
    mask cache has not seen it, so the model runs."""
    return payload + n.to_bytes(4, "big")


def post(client: httpx.Client, url: str, quality: str, payload: bytes, **params: str) -> float:
    started = time.perf_counter()
    response = client.post(url, params={"quality": quality, **params}, files={"file": ("in", payload)})
    response.raise_for_status()
    return time.perf_counter() - started


def measure(settings: dict[str, str], inputs: dict[str, tuple[bytes, str]]) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/remove-bg"
    server = Server(
        [str(Path(sys.executable).with_name("bentoml")), "serve", "service:WizPix", "--port", str(port)],
        {"FAST_MODEL_NAME": "u2netp", "PRO_MODEL_NAME": "isnet", **settings},
        lambda: _answers(f"{base}/health", lambda r: r.json().get("status") == "ok"),
        RESULTS / "tiers.log",
    )
    try:
        small, mid = inputs["512² PNG"][0], inputs["1920×1280 JPEG"][0]
        with httpx.Client(timeout=120) as client:
            sequential = [post(client, url, "pro", distinct(mid, n)) for n in range(12)]
            first = post(client, url, "pro", distinct(mid, 100))
            repeats = [
                post(client, url, "pro", distinct(mid, 100), bg_color=c)
                for c in ("ffffff", "000000", "00ff00")
            ]
            alone = [post(client, url, "fast", distinct(small, 200 + n)) for n in range(12)]
            stop = threading.Event()

            def keep_pro_busy() -> None:
                with httpx.Client(timeout=120) as other:
                    n = 300
                    while not stop.is_set():
                        post(other, url, "pro", distinct(mid, n))
                        n += 1

            busy = threading.Thread(target=keep_pro_busy, daemon=True)
            busy.start()
            time.sleep(1.0)  # pro is mid-inference from here on
            beside = [post(client, url, "fast", distinct(small, 400 + n)) for n in range(12)]
            stop.set()
            busy.join(timeout=120)
    finally:
        server.stop()
    median = statistics.median(sequential)
    return {
        "pro sequential median s": median,
        "pro sequential slowest / median": max(sequential) / median,
        "repeat edit speed-up (first / repeat)": first / statistics.median(repeats),
        "fast alone median s": statistics.median(alone),
        "fast beside busy pro / alone": statistics.median(beside) / statistics.median(alone),
    }


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
