"""The cost of format=zip (color.jpg + alpha.png) against PNG on a 12 MP photo, in process.

Both go through the one ``render()`` with the same image and full-size alpha: a 4000×3000
photo-like picture (scikit-image's astronaut, scaled up, with sensor-like noise so that it
does not compress like a flat upscale) and a feathered elliptical subject. Prints the
median render time of a few runs and the bytes of each answer.

    .venv/bin/python scripts/zip_vs_png.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wizpix.image.options import OutputOptions  # after the path is set
from wizpix.image.render import render  # after the path is set

SIZE = (4000, 3000)
RUNS = 3


def photo() -> tuple[Image.Image, np.ndarray]:
    rng = np.random.default_rng(0)
    base = Image.fromarray(data.astronaut()).resize(SIZE, Image.Resampling.BICUBIC)
    pixels = np.asarray(base, np.int16) + rng.normal(0, 6, (SIZE[1], SIZE[0], 3)).astype(np.int16)
    yy, xx = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    distance = ((xx - 2000) / 1300) ** 2 + ((yy - 1600) / 1300) ** 2
    alpha = np.clip((1.0 - distance) * 40, 0, 1) * 255  # a soft edge a few dozen pixels wide
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), alpha.astype(np.uint8)


def measure(fmt: str) -> tuple[float, int]:
    image, alpha = photo()
    times, size = [], 0
    for _ in range(RUNS):
        copy = image.copy()  # render consumes its image
        started = time.perf_counter()
        size = len(render(copy, alpha.copy(), OutputOptions(format=fmt)).data)
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def main() -> None:
    results = {fmt: measure(fmt) for fmt in ("png", "zip")}
    for fmt, (seconds, size) in results.items():
        print(f"{fmt:>4}: {seconds * 1000:7.0f} ms  {size / 2**20:6.2f} MB")
    (png_s, png_b), (zip_s, zip_b) = results["png"], results["zip"]
    print(f"zip/png: time {zip_s / png_s:.2f}x, bytes {zip_b / png_b:.2f}x")


if __name__ == "__main__":
    main()
