"""A video cut out frame by frame: the work of the ``remove_video`` task.

Frames are decoded, cut and encoded a few at a time (``CHUNK``: one batch per runner), so
memory is a chunk of frames whatever the clip's length; progress is counted in frames; a
cancel (or a stopping service) is honoured between chunks. The masks come from the same
``Cutter.cut_masks`` as a photo's, fallback rules included, and are made steady from frame
to frame (``wizpix.image.masks.Steadier``).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from anyio import to_thread
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wizpix.core.enums import RoleName
from wizpix.core.errors import ApiError, BadInput, problems
from wizpix.core.settings import Settings
from wizpix.front.cutter import Cutter
from wizpix.front.zip_batch import Progress
from wizpix.image.compose import resize_mask
from wizpix.image.decode import decode_image
from wizpix.image.masks import Steadier, uncertainty
from wizpix.image.options import OutputOptions, colour
from wizpix.image.render import compose
from wizpix.image.video import MEDIA, Frame, VideoLimits, VideoWriter, frames, probe

log = logging.getLogger(__name__)
CHUNK = 8  # frames decoded, cut and encoded together


class VideoOptions(BaseModel):
    """What a video's answer is: its format, cutout or mask, background, size, steadiness."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    format: Literal["webm", "mov", "mp4", "zip"] = Field(
        "webm",
        description="webm: VP9 with alpha (the web's); mov: ProRes 4444 with alpha (editors'); "
        "mp4: H.264 over bg_color (white by default), no alpha; zip: a PNG per frame",
    )
    output: Literal["cutout", "mask"] = Field("cutout", description="the cutout, or the alpha as grey")
    bg_color: str | None = Field(None, description="a colour behind the subject (hex or a name)")
    max_size: int | None = Field(None, ge=2, le=8192, description="the longest side of the answer")
    steady: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="how much of the last frame's mask each mask keeps (0: none)",
    )
    skip_still: bool = Field(
        True, description="a frame that barely changes reuses the last frame's mask: no inference"
    )

    @field_validator("bg_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else colour(value)

    @classmethod
    def parse(cls, fields: dict) -> VideoOptions:
        try:
            return cls(**fields)
        except ValidationError as error:
            raise ApiError("invalid_request", problems(error.errors()), status=422) from None

    def frame_options(self) -> OutputOptions:
        """What each frame is composed with, as a still image would be."""
        background = self.bg_color or ("ffffff" if self.format == "mp4" and self.output == "cutout" else None)
        return OutputOptions(output=self.output, bg_color=background, max_size=self.max_size)


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(settings.video_max_seconds, settings.video_max_frame_pixels, settings.video_max_frames)


@dataclass
class Served:
    """What cut a video, for its headers and the task's answer."""

    frames: int = 0
    inferred: int = 0  # frames the model saw; the others reused the mask before them
    model: str | None = None
    quality: str | None = None
    fallback: str | None = None
    uncertainty_sum: float = 0.0  # over every frame written

    def facts(self) -> dict:
        unsure = round(self.uncertainty_sum / self.frames, 3) if self.frames else None
        return {
            "frames": self.frames,
            "inferred": self.inferred,
            "model": self.model,
            "served": self.quality,
            "fallback": self.fallback,
            "uncertainty": unsure,
        }


async def remove_video(
    cutter: Cutter,
    source: Path,
    quality: RoleName,
    options: VideoOptions,
    progress: Progress,
    limits: VideoLimits,
    *,
    stop: Callable[[], Awaitable[bool]] | None = None,
    background: bytes | None = None,
    max_image_pixels: int | None = None,
) -> tuple[bytes, str, Served]:
    """The cut video's bytes, its media type, and what served it. ``background``: an
    image's bytes, scaled to cover each frame behind the subject."""
    header = await to_thread.run_sync(probe, source, limits)
    behind = None
    if background is not None:
        side = max(header.width, header.height)  # a large JPEG is decoded at a reduced scale
        try:
            behind = await to_thread.run_sync(decode_image, background, max_image_pixels, side)
        except ApiError as error:
            raise BadInput(error.code, f"background: {error.message}", status=error.status) from None
    progress.total = header.frames or None  # some containers do not say
    frame_options = options.frame_options()
    steadier = Steadier(options.steady, still=2.0 if options.skip_still else -1.0)
    stream = frames(source, limits)
    served = Served()
    last: tuple[np.ndarray, str] | None = None  # the last mask the model made, and its resampling
    with tempfile.TemporaryDirectory(prefix="wizpix-video-") as scratch:
        target = Path(scratch) / f"cut.{options.format}"
        writer: VideoWriter | None = None
        first_pts: int | None = None
        while chunk := await to_thread.run_sync(_next_frames, stream):
            if stop is not None and await stop():  # the caller ends its progress as canceled
                raise ApiError("canceled", f"stopped after {served.frames} frames", status=409)
            first_pts = chunk[0].pts or 0 if first_pts is None else first_pts
            wanted = [
                i for i, frame in enumerate(chunk) if steadier.needs_model(Steadier.thumbnail(frame.picture))
            ]
            made: dict[int, np.ndarray] = {}
            if wanted:
                found = await cutter.cut_masks([chunk[i].picture for i in wanted], quality)
                made = dict(zip(wanted, found.masks, strict=True))
                served.model, served.quality = found.served_by, str(found.route.role)
                served.fallback = found.route.fallback_reason
                served.inferred += len(wanted)
                resample = found.spec.resample
            for index, frame in enumerate(chunk):
                if index in made:
                    last = made[index], resample
                assert last is not None  # the first frame is always one the model sees
                mask = steadier.steady(last[0])
                served.uncertainty_sum += uncertainty(mask)
                picture = await to_thread.run_sync(
                    _composed, frame.picture, mask, last[1], frame_options, behind
                )
                if writer is None:
                    writer = VideoWriter(target, options.format, source, picture.size, header.rate)
                    writer.add_audio(header.audio)
                if frame.pts is not None:
                    seconds = float((frame.pts - first_pts) * frame.time_base)
                else:
                    seconds = served.frames / float(header.rate)
                await to_thread.run_sync(writer.write, picture, seconds)
                served.frames += 1
                progress.done, progress.current = served.frames, f"frame {served.frames}"
        if writer is None:
            raise ApiError("corrupt_video", "no frame of the video could be decoded", status=400)
        await to_thread.run_sync(writer.close)
        data = await asyncio.to_thread(target.read_bytes)
    return data, MEDIA[options.format], served


def _next_frames(stream: Iterator[Frame]) -> list[Frame]:
    """Up to ``CHUNK`` more frames (a thread's work: decoding blocks)."""
    chunk = []
    for frame in stream:
        chunk.append(frame)
        if len(chunk) == CHUNK:
            break
    return chunk


def _composed(
    picture: Image.Image,
    mask: np.ndarray,
    resample: str,
    options: OutputOptions,
    background: Image.Image | None,
) -> Image.Image:
    result, _ = compose(picture, resize_mask(mask, picture.size, resample), options, background)
    return result
