"""An image into the bytes of the format asked: PNG, lossless WebP, JPEG or remove.bg's zip.

Every format has its own name here once: its media type and the file suffix a client
saves it under (``SUFFIXES``), so the batch zip and the folder CLI name files alike.
"""

from __future__ import annotations

import io
import zipfile

import fpng
from PIL import Image

from wizpix.core.errors import BadInput
from wizpix.image.animation import gif_frame
from wizpix.image.compose import flatten, opaque

JPEG_QUALITY = 90
# The longest side an encoder writes (past it Pillow raises): WebP stores 14-bit sizes;
# libjpeg stops at JPEG_MAX_DIMENSION; a zip holds a JPEG. PNG has no such limit.
MAX_SIDE = {"webp": 16_383, "jpg": 65_500, "zip": 65_500, "gif": 65_535}
# What each media type of an answer is saved as (the batch zip, the folder CLI).
SUFFIXES = {
    "image/png": ".png",
    "image/apng": ".png",
    "image/webp": ".webp",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/zip": ".zip",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/mp4": ".mp4",
}


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG. fpng for RGB/RGBA: 12 MP in 0.15 s where Pillow's default level takes
    ~5 s, for files ~15% larger; other modes (masks) through Pillow at a fast level."""
    if image.mode in ("RGB", "RGBA"):
        return fpng.from_pil(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _zip(image: Image.Image) -> bytes:
    """remove.bg's zip: ``color.jpg`` (the colours) and ``alpha.png`` (the matte), stored
    uncompressed (both are compressed already)."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else image if image.mode == "L" else None
    alpha = alpha if alpha is not None else Image.new("L", image.size, 255)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("color.jpg", _jpeg(image.convert("RGB")))
        archive.writestr("alpha.png", encode_png(alpha))
    return buffer.getvalue()


def chosen_format(fmt: str, size: tuple[int, int], matte: bool, transparent: bool) -> str:
    """The format to write: ``auto`` is PNG for a matte (data, kept lossless), for any
    transparency and for a result too long for JPEG; else JPEG. An explicit format that
    cannot hold ``size`` is a 422 that names its limit, before any work is done."""
    if fmt == "auto":
        return "png" if matte or transparent or max(size) > MAX_SIDE["jpg"] else "jpg"
    if fmt in MAX_SIDE and max(size) > MAX_SIDE[fmt]:
        width, height = size
        raise BadInput(
            "too_large_for_format",
            f"{fmt} holds at most {MAX_SIDE[fmt]} px a side and this result is {width}×{height}; "
            f"ask format=png, or max_size={MAX_SIDE[fmt]}",
            status=422,
        )
    return fmt


def encode(image: Image.Image, fmt: str, background: tuple[int, int, int, int] | None) -> tuple[bytes, str]:
    """The bytes and media type of ``image`` in ``fmt``; ``background``: what a JPEG of an
    RGBA image is flattened over (white when none)."""
    fmt = chosen_format(fmt, image.size, image.mode == "L", fmt == "auto" and not opaque(image))
    if fmt == "png":
        return encode_png(image), "image/png"
    if fmt == "jpg":
        if image.mode == "RGBA":  # JPEG has no alpha: over bg_color (opaque), white by default
            image = flatten(image, (*(background or (255, 255, 255))[:3], 255))
        return _jpeg(image), "image/jpeg"
    if fmt == "zip":
        return _zip(image), "application/zip"
    if fmt == "gif":  # one bit of transparency, as an animation's frames have it
        buffer = io.BytesIO()
        gif_frame(image.convert("RGBA")).save(buffer, "GIF", transparency=255)
        return buffer.getvalue(), "image/gif"
    buffer = io.BytesIO()
    # WebP has no grayscale: a mask is stored as three equal channels, same values.
    source = image.convert("RGB") if image.mode == "L" else image
    source.save(buffer, format="WEBP", lossless=True, quality=20, method=1, exact=True)
    return buffer.getvalue(), "image/webp"
