"""What the client asked the result to be: format, cutout or mask, background, crop, size.

One validated object (the query parameters of ``/remove-bg``) and one pure function that
turns an image and its full-size alpha into the encoded answer. Work happens in the
order that keeps it cheap: crop, then scale, then compose, then encode.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import BadInput
from .imaging import REDUCING_GAP, compose_cutout, encode_png, refine_edges, resize_mask, subject_bbox


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # `quality` shares the query string

    format: Literal["png", "webp"] = Field(
        "png", description="png, or lossless webp (same pixels)", examples=["webp"]
    )
    output: Literal["cutout", "mask"] = Field(
        "cutout", description="RGBA cutout, or the alpha as grayscale", examples=["mask"]
    )
    bg_color: str | None = Field(
        None,
        description="RRGGBB or RRGGBBAA hex (# optional): composite the cutout over it",
        examples=["ffffff"],
    )
    crop: bool = Field(False, description="crop to the subject's bounding box", examples=[True])
    crop_margin: int = Field(
        0, ge=0, le=10_000, description="pixels kept around the subject when cropping", examples=[16]
    )
    max_size: int | None = Field(
        None, ge=1, le=20_000, description="longest side of the result, aspect kept", examples=[1024]
    )
    refine: bool = Field(
        False, description="recover the true colour of semi-transparent edge pixels", examples=[True]
    )

    @field_validator("bg_color")
    @classmethod
    def _hex_colour(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.removeprefix("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", value):
            raise ValueError("must be RRGGBB or RRGGBBAA in hexadecimal, e.g. ffffff or 00000080")
        return value.lower()

    @property
    def background(self) -> tuple[int, int, int, int] | None:
        if self.bg_color is None:
            return None
        channels = [int(self.bg_color[i : i + 2], 16) for i in range(0, len(self.bg_color), 2)]
        return (*channels[:3], channels[3] if len(channels) == 4 else 255)


@dataclass(frozen=True)
class Rendered:
    data: bytes
    media_type: str
    bbox: tuple[int, int, int, int] | None  # in the result's own coordinates
    size: tuple[int, int]


def _crop_box(alpha: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    bbox = subject_bbox(alpha)
    if bbox is None:
        raise BadInput(
            "no_subject", "no subject was found in the image, so there is nothing to crop to", status=422
        )
    x, y, w, h = bbox
    height, width = alpha.shape
    return max(0, x - margin), max(0, y - margin), min(width, x + w + margin), min(height, y + h + margin)


def _encode(image: Image.Image, fmt: str) -> tuple[bytes, str]:
    if fmt == "png":
        return encode_png(image), "image/png"
    buffer = io.BytesIO()
    # WebP has no grayscale: a mask is stored as three equal channels, same values.
    source = image.convert("RGB") if image.mode == "L" else image
    source.save(buffer, format="WEBP", lossless=True, quality=20, method=1, exact=True)
    return buffer.getvalue(), "image/webp"


def render(image: Image.Image, alpha: np.ndarray, options: OutputOptions) -> Rendered:
    """Encode the answer for ``image`` (consumed) and its full-size ``alpha``."""
    if options.crop:
        box = _crop_box(alpha, options.crop_margin)
        image = image.crop(box)
        alpha = alpha[box[1] : box[3], box[0] : box[2]]
    if options.max_size and max(image.size) > options.max_size:
        scale = options.max_size / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        alpha = resize_mask(alpha, size, "lanczos")
    if options.output == "mask":
        result = Image.fromarray(alpha, "L")
    else:
        if options.refine:
            image = refine_edges(image, alpha)
        result = compose_cutout(image, alpha)
        if (background := options.background) is not None:
            canvas = Image.new("RGBA", result.size, background)
            canvas.alpha_composite(result)
            result = canvas.convert("RGB") if background[3] == 255 else canvas
    data, media_type = _encode(result, options.format)
    return Rendered(data, media_type, subject_bbox(alpha), result.size)
