#!/usr/bin/env python3
"""Videos measured: frames per second, the edge's flicker, memory against the clip's length.

    .venv/bin/python loadtest/video_bench.py --url http://localhost:3000   # a running WizPix
    .venv/bin/python loadtest/video_bench.py                               # starts one (make bench does)

The clip is made from a real photograph (scikit-image's astronaut): a 1280×720 window that
holds still, then pans across it at a known speed, so the subject moves rigidly and the
true change of its alpha from one frame to the next is known: any other change is flicker.
Flicker is the mean |alpha_t - alpha_(t-1) moved by the pan| in a band around the subject's
edge (levels of 255), on the still part and on the moving part.

Side by side, what a user scripting the peer would do: decode with PyAV, ``rembg.remove()``
on every frame with the same u2netp file, encode WebM with alpha with PyAV. Then WizPix's
``remove_video`` task on the same clip: fast with and without its steady edge, and pro.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.harness import start_wizpix  # noqa: E402
from wizpix.image.video import VIDEO  # noqa: E402

RESULTS = ROOT / "loadtest" / "results"
SIZE = (1280, 720)
PAN_PX = 4  # a frame


def make_clip(path: Path, seconds: float, fps: int, still_fraction: float = 0.3) -> list[int]:
    """The clip (H.264 in MP4, no sound) and each frame's pan offset in pixels."""
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((1800, 1800), Image.Resampling.LANCZOS)
    canvas = np.asarray(photo.crop((0, 500, 1800, 500 + SIZE[1])))
    count = round(seconds * fps)
    still = round(count * still_fraction)
    offsets = [0 if i < still else min((i - still) * PAN_PX, canvas.shape[1] - SIZE[0]) for i in range(count)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index, offset in enumerate(offsets):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(canvas[:, offset : offset + SIZE[0]]), format="rgb24"
            )
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return offsets


def alphas_of(path: Path) -> list[np.ndarray]:
    """The alpha of every frame of a WebM with alpha (libvpx's decoder reads it)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        return [
            f.to_ndarray(format="rgba")[..., 3] for p in container.demux(stream) for f in decoder.decode(p)
        ]


def flicker(alphas: list[np.ndarray], offsets: list[int]) -> dict[str, float]:
    """Mean change of alpha near the edge that the pan does not explain, still and moving."""
    still, moving = [], []
    for t in range(1, len(alphas)):
        shift = offsets[t] - offsets[t - 1]
        previous, current = alphas[t - 1].astype(np.float32), alphas[t].astype(np.float32)
        if shift:  # the subject moved left by `shift` pixels in the window
            previous, current = previous[:, shift:], current[:, :-shift]
        edge = ndimage.binary_dilation((current > 12) & (current < 243), iterations=6)
        if not edge.any():
            continue
        (moving if shift else still).append(float(np.abs(current - previous)[edge].mean()))
    return {
        "still": round(float(np.mean(still)), 2) if still else float("nan"),
        "moving": round(float(np.mean(moving)), 2) if moving else float("nan"),
    }


def peer(clip: Path, out: Path, u2netp: Path) -> float:
    """What a user scripting rembg would do, frame by frame; frames per second."""
    home = Path(tempfile.mkdtemp(prefix="rembg-home-"))
    (home / "u2netp.onnx").symlink_to(u2netp.resolve())
    os.environ["U2NET_HOME"] = str(home)
    from rembg import new_session, remove

    session = new_session("u2netp")
    started, count = time.perf_counter(), 0
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        rate = source.streams.video[0].average_rate
        codec, pix_fmt, options = VIDEO["webm"]  # the same encoder and settings as WizPix's
        stream = target.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = *SIZE, pix_fmt
        for frame in source.decode(video=0):
            cut = remove(frame.to_image(), session=session)  # RGBA
            made = av.VideoFrame.from_ndarray(np.asarray(cut.convert("RGBA")), format="rgba")
            made.pts, made.time_base = count, 1 / Fraction(rate)
            for packet in stream.encode(made):
                target.mux(packet)
            count += 1
        for packet in stream.encode(None):
            target.mux(packet)
    return count / (time.perf_counter() - started)


def wizpix(url: str, clip: Path, out: Path, quality: str, steady: float, skip_still: bool = True) -> float:
    """The remove_video task on the clip, from submit to the answer; frames per second."""
    with httpx.Client(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        submitted = client.post(
            "/remove_video/submit",
            data={"quality": quality, "steady": str(steady), "skip_still": str(skip_still).lower()},
            files={"video": (clip.name, clip.read_bytes(), "video/mp4")},
        )
        submitted.raise_for_status()
        task = submitted.json()["task_id"]
        while client.get("/remove_video/status", params={"task_id": task}).json()["status"] == "in_progress":
            time.sleep(0.5)
        answer = client.get("/remove_video/get", params={"task_id": task})
        answer.raise_for_status()
        seconds = time.perf_counter() - started
    out.write_bytes(answer.content)
    return int(answer.headers["x-wizpix-frames"]) / seconds


def front_memory(url: str, clip: Path, pid: int) -> int:
    """Peak resident memory of the front while the task cuts ``clip``, in bytes."""
    import threading

    import psutil

    front = next(
        p
        for p in psutil.Process(pid).children(recursive=True)
        if "--service-name" in p.cmdline()
        and p.cmdline()[p.cmdline().index("--service-name") + 1] == "wizpix"
    )
    peak, running = 0, True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, front.memory_info().rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wizpix(url, clip, clip.with_suffix(".cut.webm"), "fast", 0.5)
    running = False
    sampler.join()
    return peak


def run(url: str, pid: int | None, seconds: float, fps: int, work: Path) -> dict:
    clip = work / "pan.mp4"
    offsets = make_clip(clip, seconds, fps)
    results: dict = {"clip": {"seconds": seconds, "fps": fps, "size": list(SIZE), "frames": len(offsets)}}
    rembg_fps = peer(clip, work / "rembg.webm", ROOT / "models" / "u2netp.onnx")
    results["rembg per frame (u2netp)"] = {
        "fps": round(rembg_fps, 2),
        **flicker(alphas_of(work / "rembg.webm"), offsets),
    }
    variants = (
        ("WizPix fast, every frame, no smoothing", "fast", 0.0, False),
        ("WizPix fast, still frames reuse their mask", "fast", 0.0, True),
        ("WizPix fast, and steady 0.5 (default)", "fast", 0.5, True),
        ("WizPix pro, default", "pro", 0.5, True),
    )
    for label, quality, steady, skip in variants:
        out = work / f"{quality}-{steady}-{skip}.webm"
        frames_per_s = wizpix(url, clip, out, quality, steady, skip)
        results[label] = {"fps": round(frames_per_s, 2), **flicker(alphas_of(out), offsets)}
        print(f"  {label}: {results[label]}", flush=True)
    if pid is not None:
        long_ = work / "long.mp4"
        make_clip(long_, 3 * seconds, fps)
        results["front peak memory MB"] = {
            f"{seconds:g} s": round(front_memory(url, clip, pid) / 2**20),
            f"{3 * seconds:g} s": round(front_memory(url, long_, pid) / 2**20),
        }
    return results


def markdown(results: dict) -> str:
    clip = results["clip"]
    lines = [
        f"A {clip['seconds']:g} s clip at {clip['fps']} fps, {clip['size'][0]}×{clip['size'][1]} "
        f"({clip['frames']} frames): a real photograph that holds still, then pans 4 px a frame. "
        "Flicker: mean change of alpha near the edge that the pan does not explain "
        "(levels of 255; lower is steadier).",
        "",
        "| system | frames/s | flicker, still | flicker, moving |",
        "|---|---|---|---|",
    ]
    for label, row in results.items():
        if label != "clip" and isinstance(row, dict) and "fps" in row:
            lines.append(f"| {label} | {row['fps']:.2f} | {row['still']:.2f} | {row['moving']:.2f} |")
    if memory := results.get("front peak memory MB"):
        lines += [
            "",
            "Front's peak resident memory while cutting: "
            + ", ".join(f"{k} clip {v} MB" for k, v in memory.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running WizPix (default: start one)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fps", type=int, default=12)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = None if args.url else start_wizpix(RESULTS / "video-bench.log")
    try:
        with tempfile.TemporaryDirectory(prefix="video-bench-") as work:
            results = run(
                args.url or server.url,
                server.process.pid if server else None,
                args.seconds,
                args.fps,
                Path(work),
            )
    finally:
        if server is not None:
            server.stop()
    (RESULTS / "video.json").write_text(json.dumps(results, indent=1))
    table = markdown(results)
    (RESULTS / "video.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
