"""Animated stickers: every frame cut, timing and loop kept, in the input's container family
(or the one asked); frames=first keeps a still; limits and options that cannot apply refused."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from tests.unit.test_frontend import cutter
from wizpix.core.enums import RoleName
from wizpix.core.errors import ApiError
from wizpix.image.options import OutputOptions

DURATIONS = [40, 80, 120, 60]


def sticker(fmt: str, loop: int | None = 3, frames: int = 4, repeat_last: bool = False) -> bytes:
    """A red disc moving over white: what the mock model cuts out."""
    pictures = []
    for index in range(frames):
        yy, xx = np.mgrid[0:90, 0:120]
        photo = np.full((90, 120, 3), 255, np.uint8)
        place = 1 if repeat_last and index == frames - 1 else index  # the last frame repeats the second
        photo[(yy - 45) ** 2 + (xx - 30 - 15 * place) ** 2 < 18**2] = (200, 30, 30)
        pictures.append(Image.fromarray(photo))
    buffer = io.BytesIO()
    extra = {"loop": loop} if loop is not None else {}
    pictures[0].save(
        buffer, fmt, save_all=True, append_images=pictures[1:], duration=DURATIONS[:frames], **extra
    )
    return buffer.getvalue()


def cut(data: bytes, **options: object):
    return asyncio.run(cutter().remove_background(data, RoleName.FAST, OutputOptions(**options)))


def frames_of(data: bytes) -> tuple[str, list[Image.Image], list[float], int | None]:
    image = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        frame.load()
        durations.append(frame.info.get("duration"))
        frames.append(frame.convert("RGBA"))
    return image.format, frames, durations, image.info.get("loop")


@pytest.mark.parametrize(
    ("fmt", "family", "media"),
    [("GIF", "GIF", "image/gif"), ("WEBP", "WEBP", "image/webp"), ("PNG", "PNG", "image/apng")],
)
def test_an_animation_comes_back_animated_in_its_family_with_its_timing_and_loop(
    fmt: str, family: str, media: str
) -> None:
    answer = cut(sticker(fmt))
    assert answer.media_type == media and answer.headers["X-WizPix-Frames"] == "4"
    found, frames, durations, loop = frames_of(answer.data)
    assert found == family and len(frames) == 4 and loop == 3
    assert [round(d) for d in durations] == DURATIONS
    for index, frame in enumerate(frames):
        alpha = np.asarray(frame)[..., 3]
        assert alpha[45, 30 + 15 * index] >= 128 and alpha[5, 115] == 0  # the disc moved, the white is gone


def test_format_asks_for_another_family_and_gif_has_one_bit_of_alpha() -> None:
    webp = cut(sticker("GIF"), format="webp")
    assert webp.media_type == "image/webp" and frames_of(webp.data)[0] == "WEBP"
    gif = cut(sticker("PNG"), format="gif")
    alphas = np.unique(np.concatenate([np.asarray(f)[..., 3].ravel() for f in frames_of(gif.data)[1]]))
    assert set(alphas.tolist()) <= {0, 255}
    mask = cut(sticker("WEBP"), output="mask", bg_color="ffffff")  # options of a still apply per frame
    assert mask.headers["X-WizPix-Frames"] == "4"


def test_frames_first_keeps_todays_still_answer_and_a_gif_without_loop_plays_once() -> None:
    first = cut(sticker("GIF"), frames="first")
    assert first.media_type == "image/png" and "X-WizPix-Frames" not in first.headers
    assert Image.open(io.BytesIO(first.data)).size == (120, 90)
    once = cut(sticker("GIF", loop=None))
    assert frames_of(once.data)[3] is None


def test_repeated_frames_are_cut_once() -> None:
    cut_ = cutter()
    answer = asyncio.run(cut_.remove_background(sticker("PNG", repeat_last=True), RoleName.FAST))
    assert answer.headers["X-WizPix-Frames"] == "4" and cut_.runners[RoleName.FAST].slot.served == 3


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"crop": True}, "not_for_animations"),
        ({"scale": "50%"}, "not_for_animations"),
        ({"format": "jpg"}, "not_for_animations"),
    ],
)
def test_what_cannot_apply_to_every_frame_is_a_422_that_says_frames_first(options: dict, code: str) -> None:
    with pytest.raises(ApiError) as refused:
        cut(sticker("GIF"), **options)
    assert (
        refused.value.status == 422 and refused.value.code == code and "frames=first" in refused.value.message
    )


def test_frames_and_pixels_past_the_limits_are_413_before_decoding() -> None:
    with pytest.raises(ApiError) as frames:
        asyncio.run(cutter(max_animation_frames=3).remove_background(sticker("GIF"), RoleName.FAST))
    assert frames.value.status == 413 and frames.value.code == "too_many_frames"
    with pytest.raises(ApiError) as pixels:
        asyncio.run(cutter(max_animation_pixels=30_000).remove_background(sticker("WEBP"), RoleName.FAST))
    assert pixels.value.status == 413 and pixels.value.code == "animation_too_large"
