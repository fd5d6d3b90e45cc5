"""Animated images (GIF, WebP, APNG): their frames in, an animated cutout out.

Pillow composes each frame onto the full canvas (GIF's partial tiles, disposal and
transparency; APNG's blend and dispose), so every frame read here is a whole RGBA picture
with its duration. The answer keeps the timing and the loop count, in the same container
family unless the client asks for another: WebP and APNG keep a soft alpha; GIF has one
bit of transparency, so its alpha is cut at half (written with disposal 2, so that no
frame leaves a trail under the next).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageSequence

from wizpix.core.errors import BadInput, TooLarge

# The container an animation comes in, and the format value that writes it again.
FAMILY = {"GIF": "gif", "WEBP": "webp", "PNG": "png"}
MEDIA = {"gif": "image/gif", "webp": "image/webp", "png": "image/apng"}
GIF_ALPHA_CUT = 128  # GIF's single bit: opaque at or above half


@dataclass(frozen=True)
class Animation:
    frames: list[Image.Image]  # composed RGBA frames, the canvas' size
    durations: list[float]  # ms, per frame, as the file gives them
    loop: int | None  # None: no loop count given (a GIF then plays once)
    family: str  # gif, webp or png


def is_animated(image: Image.Image) -> bool:
    return bool(getattr(image, "is_animated", False)) and image.format in FAMILY


def read_animation(data: bytes, max_frames: int, max_pixels: int) -> Animation | None:
    """Every frame of an animated upload, or None for a still image. The frame count and
    the frames' total pixels are checked from the header, before any frame is decoded."""
    try:
        image = Image.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not an image Pillow opens: decode_image says which error
        return None
    if not is_animated(image):
        return None
    count = image.n_frames  # free for WebP and APNG; a walk over the blocks for GIF
    if count > max_frames:
        raise TooLarge("too_many_frames", f"the animation has {count} frames; the limit is {max_frames}")
    if count * image.width * image.height > max_pixels:
        raise TooLarge(
            "animation_too_large",
            f"{count} frames of {image.width}×{image.height} are {count * image.width * image.height} "
            f"pixels; the limit is {max_pixels} (MAX_ANIMATION_PIXELS)",
        )
    family, loop = FAMILY[image.format], image.info.get("loop")
    frames, durations = [], []
    try:
        for frame in ImageSequence.Iterator(image):
            frame.load()  # WebP sets the frame's duration only once loaded
            durations.append(float(frame.info.get("duration") or 0))
            frames.append(frame.convert("RGBA"))
    except (OSError, ValueError, EOFError) as error:
        message = f"frame {len(frames) + 1} of the animation cannot be decoded: {error}"
        raise BadInput("corrupt_image", message) from None
    return Animation(frames, durations, loop, family)


def gif_frame(frame: Image.Image) -> Image.Image:
    """An RGBA frame as a palette frame with one transparent index (255): Pillow's own
    conversion keeps only alpha 0 transparent, so soft edges would turn opaque."""
    alpha = np.asarray(frame.getchannel("A"))
    rgb = frame.convert("RGB")
    palette = rgb.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indices = np.asarray(palette).copy()
    indices[alpha < GIF_ALPHA_CUT] = 255
    result = Image.fromarray(indices, "P")
    colours = (palette.getpalette() or [])[: 255 * 3]
    result.putpalette(colours + [0] * (768 - len(colours)))
    result.info["transparency"] = 255
    return result


def write_animation(frames: list[Image.Image], animation: Animation, fmt: str) -> tuple[bytes, str]:
    """The cut frames (RGBA, or L for masks) as one animated file of ``fmt`` (gif, webp, png)."""
    buffer = io.BytesIO()
    durations = [max(0, round(d)) for d in animation.durations]
    loop = {} if animation.loop is None and fmt == "gif" else {"loop": animation.loop or 0}
    first, rest = frames[0], frames[1:]
    if fmt == "gif":
        paletted = [gif_frame(f.convert("RGBA")) for f in frames]
        paletted[0].save(
            buffer, "GIF", save_all=True, append_images=paletted[1:], duration=durations, disposal=2,
            transparency=255, optimize=False, **loop,
        )  # fmt: skip
    elif fmt == "webp":
        first.save(
            buffer,
            "WEBP",
            save_all=True,
            append_images=rest,
            duration=durations,
            quality=80,
            method=4,
            **loop,
        )  # alpha stays lossless; method 6 writes at about a frame a second
    else:  # APNG: the defaults, dispose none and blend source, so each frame replaces the last
        first.save(
            buffer, "PNG", save_all=True, append_images=rest, duration=durations, compress_level=1, **loop
        )
    return buffer.getvalue(), MEDIA[fmt]
