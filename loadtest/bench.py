#!/usr/bin/env python3
"""Side-by-side benchmark: WizPix vs `rembg s` vs bare ONNX Runtime, in one run.

    make bench            # or: .venv/bin/python loadtest/bench.py --rembg .venv-rembg/bin/rembg

Each system runs alone on the machine, one after the other, on the same model files
(u2netp for fast; ISNet for pro, which `rembg s` serves through its `dis_custom` session)
and the same three inputs made from real photographs: a 512×512 PNG, a 1920×1280 JPEG and
a 4032×3024 (12 MP) JPEG. Every cell sends a warm-up request, then a fixed number of
requests from a fixed number of concurrent clients (the cells of IN_A_ROW run again at once,
their target held in each run); it reports throughput (images/s), p50
and p95 latency, and the peak resident memory of all the server's processes together.
Bare ONNX Runtime (the floor) is the model alone, one image at a time, default options.

Writes loadtest/results/bench.{md,json,png} and refreshes the benchmark section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "loadtest"), str(ROOT)]

import video_bench  # noqa: E402
from folder_cell import folder_cell, real_photos  # noqa: E402
from photos import bench_inputs  # noqa: E402

from loadtest.harness import free_port, start, start_wizpix  # noqa: E402
from scripts.docs_tables import DOCS, replace_section  # noqa: E402
from wizpix.core.catalog import load_catalog  # noqa: E402

RESULTS = ROOT / "loadtest" / "results"
CATALOG_NAMES = {"fast": "u2netp", "pro": "isnet-general-use"}
CONCURRENCY = {"fast": (1, 4), "pro": (1, 2)}
# The cells whose target must hold in several runs in a row (issue 20: fast 12 MP, c=4)
IN_A_ROW = {("fast", "4032×3024 JPEG", 4): 3}
BREAKDOWN: dict[str, int] = {}  # WizPix's processes after the run, for the report
STARTUP: dict[str, float] = {}  # seconds from launch to status=ok
STARTUP_NAMES = {"bare": "a bare ONNX Runtime process loading both and running each once"}
VIDEO: dict = {}  # the video cell (loadtest/video_bench.py)
PRO_BUILD: dict[str, str] = {}  # the build WizPix's pro runner chose, and why (its /health)
FP32 = "wizpix fp32"  # WizPix with PRO_PRECISION=fp32: what pro ran before its int8 build


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Cell:
    system: str
    quality: str
    input: str
    concurrency: int
    requests: int
    throughput: float  # images per second
    p50: float
    p95: float
    errors: int  # over every run
    runs: tuple[float, ...] = ()  # each run's throughput, for a cell run several times in a row


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def drive(
    send: Callable[[httpx.Client], bool], concurrency: int, requests: int
) -> tuple[float, list[float], int]:
    """`requests` calls spread over `concurrency` clients; (wall seconds, latencies, errors)."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0

    def worker() -> None:
        nonlocal errors
        with httpx.Client(timeout=600) as client:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                started = time.perf_counter()
                ok = send(client)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += not ok

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return time.perf_counter() - started, latencies, errors


def _answers(url: str, check: Callable[[httpx.Response], bool]) -> bool:
    try:
        return check(httpx.get(url, timeout=5))
    except httpx.HTTPError:
        return False


Sender = Callable[..., Callable[[httpx.Client], bool]]  # (quality, payload, mime, background=None)


def distinct(payload: bytes, n: int) -> bytes:
    """The same picture as other bytes (a JPEG or PNG ignores what follows its end): a
    mask cache has not seen it, so the model runs, as for a new upload."""
    return payload + n.to_bytes(4, "big")


def distinct_sends(
    send_for: Sender, quality: str, payload: bytes, mime: str
) -> Callable[[httpx.Client], bool]:
    """Each call sends the picture as bytes not sent before: every request is a new upload."""
    counter = itertools.count()
    lock = threading.Lock()

    def send(client: httpx.Client) -> bool:
        with lock:
            n = next(counter)
        return send_for(quality, distinct(payload, n), mime)(client)

    return send


def timed(send: Callable[[httpx.Client], bool], client: httpx.Client) -> float:
    started = time.perf_counter()
    if not send(client):
        raise RuntimeError("a tier request failed")
    return time.perf_counter() - started


def tier_measures(
    send_for: Sender, inputs: dict[str, tuple[bytes, str]], stalls: bool = True
) -> dict[str, float]:
    """What the tiers promise, on a server that has just reported itself ready:

    - no stalls: 12 sequential `pro` requests with distinct uploads, from the first one on:
      the slowest against their median (with ``stalls``: before any other traffic);
    - repeat edit: a 1920×1280 `pro` upload, then the same bytes with a white background
      (three times, the photo's bytes made new each time; medians): first / repeat;
    - fast beside pro: 12 `fast` 512² requests one at a time, alone, then while another
      client keeps `pro` busy: median beside / median alone.
    """
    (small, small_mime), (mid, mid_mime) = inputs["512² PNG"], inputs["1920×1280 JPEG"]
    measures: dict[str, float] = {}
    with httpx.Client(timeout=600) as client:
        if stalls:
            sequential = [
                timed(send_for("pro", distinct(mid, 10_000 + n), mid_mime), client) for n in range(12)
            ]
            measures["pro sequential: slowest / median"] = max(sequential) / statistics.median(sequential)
        firsts, repeats = [], []
        for n in range(3):
            payload = distinct(mid, 20_000 + n)
            firsts.append(timed(send_for("pro", payload, mid_mime), client))
            repeats.append(timed(send_for("pro", payload, mid_mime, background="ffffff"), client))
        measures["repeat edit: first / repeat"] = statistics.median(firsts) / statistics.median(repeats)
        alone = [timed(send_for("fast", distinct(small, 30_000 + n), small_mime), client) for n in range(12)]
        stop = threading.Event()

        served = []

        def keep_pro_busy() -> None:
            with httpx.Client(timeout=600) as other:
                for n in itertools.count(40_000):
                    if stop.is_set():
                        return
                    served.append(send_for("pro", distinct(mid, n), mid_mime)(other))

        busy = threading.Thread(target=keep_pro_busy, daemon=True)
        busy.start()
        time.sleep(1.0)  # pro is mid-inference from here on
        beside = [timed(send_for("fast", distinct(small, 50_000 + n), small_mime), client) for n in range(12)]
        stop.set()
        busy.join(timeout=600)
        if not served or not all(served):
            raise RuntimeError(f"pro was not kept busy: {served}")
    measures["fast alone: median s"] = statistics.median(alone)
    measures["fast beside a busy pro / alone"] = statistics.median(beside) / statistics.median(alone)
    return measures


def run_cells(
    system: str,
    send_for: Callable[[str, bytes, str], Callable[[httpx.Client], bool]],
    inputs: dict[str, tuple[bytes, str]],
    counts: dict[str, int],
) -> list[Cell]:
    cells = []
    for quality in ("fast", "pro"):
        for name, (payload, mime) in inputs.items():
            send = distinct_sends(send_for, quality, payload, mime)
            for concurrency in CONCURRENCY[quality]:
                drive(send, concurrency, concurrency)  # warm-up: arenas, sessions, connections
                repeats = IN_A_ROW.get((quality, name, concurrency), 1)
                runs = [drive(send, concurrency, counts[quality]) for _ in range(repeats)]
                wall, latencies, _ = runs[0]  # the table's figures: the first run, as every cell
                cell = Cell(
                    system,
                    quality,
                    name,
                    concurrency,
                    counts[quality],
                    counts[quality] / wall,
                    percentile(latencies, 50),
                    percentile(latencies, 95),
                    sum(errors for _, _, errors in runs),
                    tuple(counts[quality] / wall for wall, _, _ in runs) if repeats > 1 else (),
                )
                rates = ", ".join(f"{rate:.2f}" for rate in cell.runs)
                in_a_row = f" (runs in a row: {rates})" if cell.runs else ""
                print(
                    f"  {system:9} {quality:4} {name:15} c={concurrency}: {cell.throughput:.2f} img/s, "
                    f"p50 {cell.p50:.2f} s, p95 {cell.p95:.2f} s, errors {cell.errors}{in_a_row}",
                    flush=True,
                )
                cells.append(cell)
    return cells


def wizpix_sender(url: str) -> Sender:
    def send_for(quality: str, payload: bytes, mime: str, background: str | None = None):
        params = {"quality": quality} | ({"bg_color": background} if background else {})

        def send(client: httpx.Client) -> bool:
            response = client.post(f"{url}/remove-bg", params=params, files={"file": ("in", payload, mime)})
            return response.status_code == 200 and response.headers.get("x-wizpix-quality") == quality

        return send

    return send_for


def bench_wizpix(
    inputs: dict[str, tuple[bytes, str]],
    counts: dict[str, int],
    logs: Path,
    rembg: Path,
    folder_photos: int,
    video_seconds: float = 10,
) -> tuple[list[Cell], tuple[int, int], dict[str, float], dict]:
    # every cell sends new uploads (distinct bytes), so the mask cache stays on as deployed
    # and only the repeat edit meets it
    server = start_wizpix(logs / "wizpix.log")
    url = server.url
    send_for = wizpix_sender(url)
    pro = server.health()["models"]["pro"]
    PRO_BUILD.update(build=pro["build"], reason=pro["build_reason"])
    print(f"  pro runs its {pro['build']} build ({pro['build_reason']})", flush=True)
    try:
        tiers = tier_measures(send_for, inputs)  # first: the stall measure starts at status=ok
        print(f"  tiers: {tiers}", flush=True)
        cells = run_cells("wizpix", send_for, inputs, counts)
        with tempfile.TemporaryDirectory(prefix="folder-cell-") as work:
            photos = real_photos(Path(work) / "photos", folder_photos)
            folder = folder_cell(url, rembg, photos, Path(work) / "cell", concurrency=2)
        print(f"  folder: {folder}", flush=True)
        peak, after, by_process = server.memory()  # before the video cell: its buffers are its own
        if video_seconds:
            with tempfile.TemporaryDirectory(prefix="video-cell-") as work:
                VIDEO.update(video_bench.run(url, server.process.pid, video_seconds, 12, Path(work)))
    finally:
        server.stop(timeout=30)
    memory = peak, after
    print(
        "  memory after the run by process: "
        + ", ".join(f"{name} {rss / 2**20:.0f} MB" for name, rss in by_process.items()),
        flush=True,
    )
    BREAKDOWN.update(by_process)
    STARTUP["WizPix"] = server.ready_s
    return cells, memory, tiers, folder


def bench_fp32(inputs: dict[str, tuple[bytes, str]], counts: dict[str, int], logs: Path) -> list[Cell]:
    """pro as it ran before its eight-bit build (PRO_PRECISION=fp32), on the cells its
    targets compare: 1920×1280, one client and two."""
    server = start_wizpix(logs / "wizpix-fp32.log", PRO_PRECISION="fp32")
    try:
        mid = {name: inputs[name] for name in ("1920×1280 JPEG",)}
        return [c for c in run_cells(FP32, wizpix_sender(server.url), mid, counts) if c.quality == "pro"]
    finally:
        server.stop(timeout=30)


def bench_rembg(
    rembg: Path, inputs: dict[str, tuple[bytes, str]], counts: dict[str, int], logs: Path
) -> tuple[list[Cell], tuple[int, int], dict[str, float]]:
    home = Path(tempfile.mkdtemp(prefix="rembg-home-"))
    # the same files as WizPix: u2netp, and ISNet as the fp32 graph its import writes (what
    # rembg's users run: rembg's own release is fp32)
    files = {quality: Path(model_file(name)) for quality, name in CATALOG_NAMES.items()}
    for path in files.values():
        (home / path.name).symlink_to(path.resolve())  # rembg finds u2netp.onnx in its home
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(rembg), "s", "--host", "127.0.0.1", "--port", str(port), "--no-ui"]
    server = start(command, url, logs / "rembg.log", U2NET_HOME=str(home))
    server.wait_until(lambda: _answers(f"{url}/", lambda r: r.status_code < 500))
    server.sample_memory()
    extras = {"fast": None, "pro": json.dumps({"model_path": str(home / files["pro"].name)})}
    models = {"fast": "u2netp", "pro": "dis_custom"}

    def send_for(quality: str, payload: bytes, mime: str, background: str | None = None):
        params = {"extras": extras[quality]} if extras[quality] else {}
        if background:
            params["bgc"] = ",".join(str(int(background[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"

        def send(client: httpx.Client) -> bool:
            response = client.post(
                f"{url}/api/remove",
                params=params,
                data={"model": models[quality]},
                files={"file": ("in", payload, mime)},
            )
            return response.status_code == 200 and response.content[:4] == b"\x89PNG"

        return send

    try:
        tiers = tier_measures(send_for, inputs)
        print(f"  tiers: {tiers}", flush=True)
        cells = run_cells("rembg s", send_for, inputs, counts)
    finally:
        peak, after, _ = server.memory()
        server.stop(timeout=30)
    return cells, (peak, after), tiers


BARE_START = """
import sys, time
started = time.perf_counter()
import numpy as np, onnxruntime as ort
for path, size in ((sys.argv[1], 320), (sys.argv[2], 1024)):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, 3, size, size), np.float32)}
    session.run(None, feed)
print(time.perf_counter() - started)
"""


def bare_start() -> float:
    """What a bare process needs to load both models and run one inference each (the floor
    of WizPix's start-up to status=ok)."""
    result = subprocess.run(
        [sys.executable, "-c", BARE_START, model_file("u2netp"), model_file("isnet-general-use")],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def model_file(name: str, build: str = "fp32") -> str:
    """The file WizPix's runner loads for ``name`` from the store: its fp32 graph (fp16
    widened at import), or its int8 build."""
    import bentoml

    model = bentoml.models.get(f"{name}:latest")
    meta = model.info.metadata
    return str(Path(model.path) / str(meta["int8"]["file"] if build == "int8" else meta["file"]))


def _timed_runs(session: object, feed: dict, runs: int, times: list[float]) -> None:
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)


def bench_bare(inputs: dict[str, tuple[bytes, str]], counts: dict[str, int]) -> list[Cell]:
    """The model alone, one image at a time (input prepared beforehand: only inference is
    timed, so the number does not depend on the input). Each model is measured as the
    service can run it: one session of two threads, and two sessions of one thread at once
    (two requests waiting). pro runs the build WizPix's runner chose."""
    import onnxruntime as ort

    cells = []
    catalog = load_catalog()
    for quality, name in CATALOG_NAMES.items():
        pre = catalog.require(name).preprocess
        path = model_file(name, PRO_BUILD.get("build", "fp32") if quality == "pro" else "fp32")
        tensor = pre.normalize(np.full((1, pre.size, pre.size, 3), 128, np.uint8))
        for streams in (1, 2):
            sessions = []
            for _ in range(streams):
                options = ort.SessionOptions()
                options.intra_op_num_threads = 2 // streams
                sessions.append(ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]))
            feeds = [{s.get_inputs()[0].name: tensor} for s in sessions]
            for session, feed in zip(sessions, feeds, strict=True):
                session.run(None, feed)
            times: list[float] = []

            runs = max(1, counts[quality] // streams)
            began = time.perf_counter()
            with ThreadPoolExecutor(streams) as pool:
                list(pool.map(_timed_runs, sessions, feeds, [runs] * streams, [times] * streams))
            wall = time.perf_counter() - began
            cell = Cell(
                "bare ORT" if streams == 1 else "bare ORT 2×1",
                quality,
                "any (model input)",
                streams,
                len(times),
                len(times) / wall,
                percentile(times, 50),
                percentile(times, 95),
                0,
            )
            print(f"  {cell.system:12} {quality:4}: {cell.throughput:.2f} img/s, p50 {cell.p50:.3f} s")
            cells.append(cell)
    return cells


# --- reporting ---------------------------------------------------------------------------


def find(cells: list[Cell], system: str, quality: str, name: str | None, concurrency: int) -> Cell:
    return next(
        c
        for c in cells
        if c.system == system
        and c.quality == quality
        and c.concurrency == concurrency
        and (name is None or c.input == name)
    )


def targets(
    cells: list[Cell], memory_after_mb: float, tiers: dict[str, float]
) -> list[tuple[str, str, bool]]:
    """The issues' targets, as (target, measured, met)."""
    ours, theirs = (
        (lambda q, n, c: find(cells, "wizpix", q, n, c)),
        (lambda q, n, c: find(cells, "rembg s", q, n, c)),
    )
    bare = {
        q: max(c.throughput for c in cells if c.system.startswith("bare ORT") and c.quality == q)
        for q in ("fast", "pro")
    }  # the better of one stream of two threads and two of one
    rows = []
    if STARTUP.get("bare"):
        ratio = STARTUP["WizPix"] / STARTUP["bare"]
        rows.append(
            (
                "from bentoml serve to status=ok: ≤ 1.5× a bare load and inference",
                f"{ratio:.2f}×",
                ratio <= 1.5,
            )
        )
    twelve, peer = ours("fast", "4032×3024 JPEG", 4), theirs("fast", "4032×3024 JPEG", 4)
    # each of our runs in a row against the peer's best run
    ratios = [rate / max(peer.runs or (peer.throughput,)) for rate in twelve.runs or (twelve.throughput,)]
    rows.append(
        (
            f"fast, 12 MP JPEG, c=4: ≥ 3× rembg s, {len(ratios)} runs in a row",
            ", ".join(f"{ratio:.2f}×" for ratio in ratios),
            min(ratios) >= 3,
        )
    )
    refused = f"{twelve.errors} refused in {len(ratios)} runs"
    rows.append(("fast, 12 MP JPEG, c=4: no request refused", refused, twelve.errors == 0))
    ratio = ours("fast", "512² PNG", 4).throughput / bare["fast"]
    rows.append(("fast, 512² PNG, c=4: ≥ 0.9× bare inference", f"{ratio:.2f}×", ratio >= 0.9))
    # pro: 2× rembg s where its int8 build runs, 1.2× where auto keeps fp32 (issue 25)
    build = PRO_BUILD.get("build", "fp32")
    goal = 2.0 if build == "int8" else 1.2
    ratio = ours("pro", "1920×1280 JPEG", 2).throughput / theirs("pro", "1920×1280 JPEG", 2).throughput
    rows.append(
        (f"pro ({build}), 1920×1280 JPEG, c=2: ≥ {goal:g}× rembg s (fp32)", f"{ratio:.2f}×", ratio >= goal)
    )
    single = find(cells, "bare ORT", "pro", None, 1).throughput  # one session, the same build
    ratio = ours("pro", "1920×1280 JPEG", 2).throughput / single
    rows.append(
        (
            f"pro, 1920×1280 JPEG, c=2: ≥ 0.9× a bare session of the same {build} graph",
            f"{ratio:.2f}×",
            ratio >= 0.9,
        )
    )
    ratio = ours("pro", "1920×1280 JPEG", 2).throughput / bare["pro"]
    rows.append(("pro, 1920×1280 JPEG, c=2: against the best bare (for the record)", f"{ratio:.2f}×", True))
    if any(c.system == FP32 for c in cells):
        now, before = ours("pro", "1920×1280 JPEG", 1).p50, find(cells, FP32, "pro", "1920×1280 JPEG", 1).p50
        rows.append(
            (
                "pro, 1920×1280 JPEG, c=1: seconds per image ≤ 0.5× the fp32 build's",
                f"{now:.2f} s vs {before:.2f} s = {now / before:.2f}×",
                now <= 0.5 * before,
            )
        )
    worst = max(
        ours(q, n, max(CONCURRENCY[q])).p95 / ours(q, n, 1).p50
        for q in ("fast", "pro")
        for n in {c.input for c in cells if c.system == "wizpix"}
    )
    rows.append(("p95 at top concurrency ≤ 4× p50 at c=1 (worst cell)", f"{worst:.2f}×", worst <= 4))
    cell = ours("fast", "512² PNG", 4)
    rows.append(
        (
            "fast, 512² PNG, c=4, new uploads: p95 ≤ 1.3× p50",
            f"{cell.p95 / cell.p50:.2f}×",
            cell.p95 <= 1.3 * cell.p50,
        )
    )
    value = tiers["pro sequential: slowest / median"]
    rows.append(("pro, 12 sequential from status=ok: slowest ≤ 1.5× median", f"{value:.2f}×", value <= 1.5))
    value = tiers["repeat edit: first / repeat"]
    rows.append(
        ("pro, 1920×1280: a repeat edit ≥ 8× faster than the first request", f"{value:.1f}×", value >= 8)
    )
    value = tiers["fast beside a busy pro / alone"]
    rows.append(("fast, 512²: beside a busy pro ≤ 1.5× its time alone", f"{value:.2f}×", value <= 1.5))
    rows.append(
        (
            "memory of all service processes after the benchmark ≤ 1.5 GB",
            f"{memory_after_mb:.0f} MB",
            memory_after_mb <= 1500,
        )
    )
    return rows


def cpu_flags() -> str:
    """The CPU's instructions that decide whether eight-bit arithmetic pays."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp")
    return ", ".join(flag for flag in wanted if flag in flags) or "none of avx2, avx512, vnni"


def markdown(
    cells: list[Cell],
    memory: dict[str, tuple[int, int]],
    goals: list[tuple[str, str, bool]],
    tiers: dict[str, dict[str, float]],
    folder: dict,
) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu}, {os.cpu_count()} cores ({cpu_flags()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"each system alone on the machine (`make bench`). WizPix's pro ran its "
        f"**{PRO_BUILD.get('build', '?')}** build: {PRO_BUILD.get('reason', '?')}.",
        "",
        "| quality | input | clients | WizPix img/s | rembg s img/s | WizPix p50 / p95 s "
        "| rembg s p50 / p95 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in (c for c in cells if c.system == "wizpix"):
        r = find(cells, "rembg s", c.quality, c.input, c.concurrency)
        lines.append(
            f"| {c.quality} | {c.input} | {c.concurrency} | **{c.throughput:.2f}** | {r.throughput:.2f} | "
            f"{c.p50:.2f} / {c.p95:.2f} | {r.p50:.2f} / {r.p95:.2f} |"
        )
    lines += [
        "",
        "Bare ONNX Runtime, model only, one image at a time: "
        + ", ".join(
            f"{c.quality} {c.throughput:.2f} img/s ({c.p50:.3f} s)" for c in cells if c.system == "bare ORT"
        )
        + ".",
    ]
    lines += [
        "",
        "Peak resident memory of all processes (during / after the run): "
        + "; ".join(
            f"{system} {peak / 2**20:.0f} / {after / 2**20:.0f} MB"
            for system, (peak, after) in memory.items()
        )
        + ".",
    ]
    facts = {
        "From `bentoml serve` to `status=ok` (both models loaded and warmed up): ": [
            f"{STARTUP_NAMES.get(name, name)} {seconds:.1f} s" for name, seconds in STARTUP.items()
        ],
        "WizPix after the run, by process: ": [
            f"{name} {rss / 2**20:.0f} MB" for name, rss in BREAKDOWN.items()
        ],
    }
    lines += [
        line for label, parts in facts.items() if parts for line in ("", label + ", ".join(parts) + ".")
    ]
    lines += [
        "",
        "Tiers, each server fresh, from the first request after it reports ready (`rembg s` loads"
        " a model on its first request, which its first sequential `pro` request pays):",
        "",
        "| measure | " + " | ".join(tiers) + " |",
        "|---|" + "---|" * len(tiers),
    ]
    lines += [
        f"| {measure} | " + " | ".join(f"{values[measure]:.2f}" for values in tiers.values()) + " |"
        for measure in next(iter(tiers.values()))
    ]
    lines += [
        "",
        f"A folder of {folder['images']} real photographs (0.1 to 12 MP), u2netp: "
        f"`clients/python/remove_folder.py --concurrency {folder['concurrency']}` against WizPix "
        f"{folder['wizpix_img_s']:.2f} img/s, `rembg p` {folder['rembg_img_s']:.2f} img/s: "
        f"**{folder['ratio']:.2f}×** from command start to exit "
        f"({folder['ratio_without_startup']:.2f}× leaving out each tool's start-up).",
    ]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {goal} | {value} | {'yes' if met else '**no**'} |" for goal, value, met in goals]
    errors = sum(c.errors for c in cells)
    lines += ["", f"Failed requests: {errors}."]
    return "\n".join(lines) + "\n"


def chart(cells: list[Cell], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [c for c in cells if c.system == "wizpix"]
    labels = [f"{c.quality}\n{c.input}\nc={c.concurrency}" for c in ours]
    theirs = [find(cells, "rembg s", c.quality, c.input, c.concurrency).throughput for c in ours]
    x = np.arange(len(ours))
    fig, ax = plt.subplots(figsize=(13, 4.8))
    ax.bar(x - 0.2, [c.throughput for c in ours], 0.4, label="WizPix (bentoml serve)", color="#2b7bba")
    ax.bar(x + 0.2, theirs, 0.4, label="rembg s", color="#c7c7c7")
    for quality, color in (("fast", "#d62728"), ("pro", "#9467bd")):
        floor = find(cells, "bare ORT", quality, None, 1).throughput
        ax.axhline(
            floor, color=color, linestyle="--", linewidth=1, label=f"bare ONNX Runtime, {quality} model"
        )
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("images per second")
    ax.set_title(f"Throughput, same models, same machine ({os.cpu_count()} cores)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def refresh_docs(table: str) -> None:
    picture = "![throughput](../loadtest/results/bench.png)"
    replace_section(DOCS / "benchmarks.md", "bench", f"{picture}\n\n{table}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rembg", type=Path, default=ROOT / ".venv-rembg" / "bin" / "rembg")
    parser.add_argument("--fast-requests", type=int, default=16, help="requests per fast cell")
    parser.add_argument("--pro-requests", type=int, default=6, help="requests per pro cell")
    parser.add_argument("--folder-photos", type=int, default=24, help="photos of the folder cell")
    parser.add_argument("--video-seconds", type=float, default=10, help="the video cell's clip (0: none)")
    args = parser.parse_args()
    if not args.rembg.exists():
        raise SystemExit(
            f"missing: {args.rembg} (run `make bench`, which installs it and fetches the models)"
        )
    counts = {"fast": args.fast_requests, "pro": args.pro_requests}
    RESULTS.mkdir(parents=True, exist_ok=True)
    STARTUP["bare"] = bare_start()
    print(f"bare start-up (both models loaded, one inference each): {STARTUP['bare']:.1f} s", flush=True)
    inputs = bench_inputs()
    print("WizPix (bentoml serve):", flush=True)
    ours, ours_memory, our_tiers, folder = bench_wizpix(
        inputs, counts, RESULTS, args.rembg, args.folder_photos, args.video_seconds
    )
    print("WizPix, pro's fp32 build (PRO_PRECISION=fp32):", flush=True)
    fp32 = bench_fp32(inputs, counts, RESULTS)
    print("rembg s:", flush=True)
    theirs, theirs_memory, their_tiers = bench_rembg(args.rembg, inputs, counts, RESULTS)
    print("bare ONNX Runtime:", flush=True)
    cells = ours + fp32 + theirs + bench_bare(inputs, counts)
    memory = {"WizPix": ours_memory, "rembg s": theirs_memory}
    tiers = {"WizPix": our_tiers, "rembg s": their_tiers}
    goals = targets(cells, ours_memory[1] / 2**20, our_tiers)
    table = markdown(cells, memory, goals, tiers, folder)
    (RESULTS / "bench.md").write_text(table)
    (RESULTS / "bench.json").write_text(
        json.dumps(
            {
                "cells": [asdict(c) for c in cells],
                "memory_bytes": memory,
                "memory_by_process": BREAKDOWN,
                "startup_s": STARTUP,
                "tiers": tiers,
                "folder": folder,
                "video": VIDEO,
                "pro_build": PRO_BUILD,
                "cpu_flags": cpu_flags(),
            },
            indent=1,
        )
    )
    chart(cells, RESULTS / "bench.png")
    refresh_docs(table)
    if VIDEO:
        replace_section(DOCS / "video.md", "video", video_bench.markdown(VIDEO))
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
