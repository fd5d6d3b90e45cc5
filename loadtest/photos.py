"""Test photographs for the load tools, made from scikit-image's bundled photographs.

Enlarged copies get sensor-like grain, so that they compress and decode like camera
files rather than flat art. Shared by the benchmark, the Locust users and the soak run.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _enlarged(array: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    big = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BICUBIC), np.int16)
    grain = rng.normal(0, 3.0, big.shape).astype(np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


def bench_inputs() -> dict[str, tuple[bytes, str]]:
    """The benchmark's three inputs: a 512² PNG, a 1920×1280 JPEG and a 12 MP JPEG."""
    from skimage import data

    rng = np.random.default_rng(7)
    return {
        "512² PNG": (_encoded(Image.fromarray(data.astronaut()), "PNG"), "image/png"),
        "1920×1280 JPEG": (
            _encoded(_enlarged(data.coffee(), (1920, 1280), rng), "JPEG", quality=90),
            "image/jpeg",
        ),
        "4032×3024 JPEG": (
            _encoded(_enlarged(data.coffee(), (4032, 3024), rng), "JPEG", quality=90),
            "image/jpeg",
        ),
    }


def mixed_photos() -> list[tuple[str, bytes, str, int]]:
    """(name, bytes, media type, weight): mostly phone-upload sizes, some small, a few 12 MP."""
    from skimage import data

    rng = np.random.default_rng(11)
    return [
        ("astronaut-512.png", _encoded(Image.fromarray(data.astronaut()), "PNG"), "image/png", 2),
        ("chelsea-451x300.jpg", _encoded(Image.fromarray(data.chelsea()), "JPEG"), "image/jpeg", 2),
        (
            "coffee-1920x1280.jpg",
            _encoded(_enlarged(data.coffee(), (1920, 1280), rng), "JPEG", quality=90),
            "image/jpeg",
            3,
        ),
        (
            "astronaut-2048.webp",
            _encoded(_enlarged(data.astronaut(), (2048, 2048), rng), "WEBP", quality=90),
            "image/webp",
            2,
        ),
        (
            "coffee-4032x3024.jpg",
            _encoded(_enlarged(data.coffee(), (4032, 3024), rng), "JPEG", quality=90),
            "image/jpeg",
            1,
        ),
    ]
