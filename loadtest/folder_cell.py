#!/usr/bin/env python3
"""A folder of photographs, side by side: WizPix's folder CLI against ``rembg p``.

    .venv/bin/python loadtest/folder_cell.py --url http://127.0.0.1:3917 --photos 8

(a) ``clients/python/remove_folder.py IN OUT --url URL --quality fast --concurrency N`` against a
running WizPix whose fast model is u2netp, and (b) rembg's own folder mode ``rembg p -m
u2netp IN OUT`` on the same model file, one after the other on the same copies of the same
photographs. Each is timed from the command's start to its exit, as a user would see it:
rembg p loads its model on every run, WizPix is already warm. So each tool is also run on a
folder of one small photo first (after a first, untimed run that compiles its modules):
that run's time (start-up plus one image) is reported, and
a second ratio leaves it out of both. Photographs are distinct files (flipped copies when more
are asked than loadtest/photos.py has), so WizPix's mask cache cannot answer any of them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import mixed_photos

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "clients" / "python" / "remove_folder.py"
U2NETP = ROOT / "models" / "u2netp.onnx"
FAST_MODEL = "u2netp"


def real_photos(folder: Path, count: int) -> list[Path]:
    """``count`` distinct photographs (loadtest/photos.py's mix: 0.1 to 12 MP) in ``folder``;
    past the five, mirrored and flipped copies, re-encoded in their own format."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = mixed_photos()
    variants = (None, ImageOps.mirror, ImageOps.flip, lambda image: ImageOps.flip(ImageOps.mirror(image)))
    paths = []
    for index in range(count):
        name, data, _, _ = sources[index % len(sources)]
        turn = variants[(index // len(sources)) % len(variants)]
        stem, suffix = name.rsplit(".", 1)
        path = folder / f"{index:03}-{stem}.{suffix}"
        if turn is None:
            path.write_bytes(data)
        else:
            image = Image.open(io.BytesIO(data))
            image.load()
            turn(image).save(path, format=image.format, quality=90)
        paths.append(path)
    return paths


def _stage(photos: list[Path] | Path, folder: Path) -> int:
    """Copies of ``photos`` (files, or the images of a folder) side by side in ``folder``."""
    if isinstance(photos, Path):
        photos = sorted(p for p in photos.rglob("*") if p.is_file() and not p.name.startswith("."))
    folder.mkdir(parents=True)
    for index, photo in enumerate(photos):
        shutil.copyfile(photo, folder / f"{index:03}-{photo.name}")
    return len(photos)


def _timed(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of ``command``, which must exit 0 (its output goes to ``log``)."""
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{command[:3]} exited {code}; see {log}")
    return seconds


def _outputs(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def folder_cell(url: str, rembg: Path, photos: list[Path] | Path, workdir: Path, concurrency: int) -> dict:
    """Images per second of WizPix's folder CLI and of ``rembg p``, same photos, same model."""
    fast = httpx.get(f"{url}/health", timeout=30).json()["models"]["fast"]
    if fast["name"] != FAST_MODEL or fast["state"] != "ready":
        raise ValueError(f"the WizPix at {url} must serve fast with a ready u2netp, not {fast}")
    workdir.mkdir(parents=True, exist_ok=True)
    images = _stage(photos, workdir / "in")
    warm = workdir / "one"  # a photograph that is not among the measured ones: never rotated
    warm.mkdir()
    name, data, _, _ = mixed_photos()[0]
    Image.open(io.BytesIO(data)).transpose(Image.Transpose.ROTATE_90).save(warm / name)

    home = workdir / "u2net-home"  # rembg finds <model>.onnx here and downloads nothing
    home.mkdir()
    (home / U2NETP.name).symlink_to(U2NETP.resolve())
    env = {"U2NET_HOME": str(home)}
    wizpix = [sys.executable, str(CLI), "--url", url, "--quality", "fast", "--concurrency", str(concurrency)]
    rembg_p = [str(rembg), "p", "-m", FAST_MODEL]

    # once each, untimed: a tool's first run after its venv was made compiles its modules
    # (rembg's took 39 s against 21 s for the 24 photos after it), which no user sees twice
    _timed([*wizpix, str(warm), str(workdir / "wizpix-cold")], workdir / "wizpix-cold.log")
    _timed([*rembg_p, str(warm), str(workdir / "rembg-cold")], workdir / "rembg-cold.log", env)
    times = {
        "wizpix_one_s": _timed([*wizpix, str(warm), str(workdir / "wizpix-one")], workdir / "wizpix-one.log"),
        "wizpix_s": _timed([*wizpix, str(workdir / "in"), str(workdir / "wizpix")], workdir / "wizpix.log"),
        "rembg_one_s": _timed(
            [*rembg_p, str(warm), str(workdir / "rembg-one")], workdir / "rembg-one.log", env
        ),
        "rembg_s": _timed(
            [*rembg_p, str(workdir / "in"), str(workdir / "rembg")], workdir / "rembg.log", env
        ),
    }
    counts = {name: len(_outputs(workdir / name)) for name in ("wizpix", "rembg")}
    if counts != {"wizpix": images, "rembg": images}:
        raise RuntimeError(f"expected {images} outputs from each, got {counts}; see the logs in {workdir}")
    manifest = json.loads((workdir / "wizpix" / ".wizpix-manifest.json").read_text())
    served = {entry.get("model") for entry in manifest["files"].values()}
    if served != {FAST_MODEL}:
        raise RuntimeError(f"WizPix served with {served}, not {FAST_MODEL} alone")
    ours, theirs = images / times["wizpix_s"], images / times["rembg_s"]
    marginal = (times["rembg_s"] - times["rembg_one_s"]) / (times["wizpix_s"] - times["wizpix_one_s"])
    return {
        "images": images,
        "concurrency": concurrency,
        **{key: round(value, 3) for key, value in times.items()},
        "wizpix_img_s": round(ours, 3),
        "rembg_img_s": round(theirs, 3),
        "ratio": round(ours / theirs, 3),  # command start to exit, as a user sees it
        "ratio_without_startup": round(marginal, 3),  # each tool's one-photo run left out
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="a WizPix with FAST_MODEL_NAME=u2netp")
    parser.add_argument("--rembg", type=Path, default=ROOT / ".venv-rembg" / "bin" / "rembg")
    parser.add_argument("--photos", type=int, default=8, help="how many photographs")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="folder-cell-") as scratch:
        photos = real_photos(Path(scratch) / "photos", args.photos)
        result = folder_cell(args.url, args.rembg, photos, Path(scratch) / "work", args.concurrency)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
