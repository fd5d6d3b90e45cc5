"""What the client asked the result to be: format, cutout or mask, background, region,
crop, placement, size.

One validated object (the query parameters of ``/remove-bg``, and what ``/v1.0/removebg``
parses remove.bg's parameters into) and one pure function that turns an image and its
full-size alpha into the encoded answer. Work happens in the order that keeps it cheap and
matches remove.bg's: region of interest, crop, placement, size cap, then compose, encode.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageColor
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import BadInput
from .imaging import REDUCING_GAP, compose_cutout, encode_png, refine_edges, resize_mask, subject_bbox

Unit = Literal["px", "%"]
Length = tuple[float, Unit]
MAX_MARGIN_PX = 10_000
MAX_MARGIN_PERCENT = 50  # remove.bg: at most 50% of the subject's size on each side
JPEG_QUALITY = 90
MAX_LENGTH = 1_000_000  # px or %: far past any image, and far from float overflow
_LENGTH = re.compile(r"(\d+(?:\.\d+)?)(px|%)?")


def parse_length(text: str) -> Length:
    """``"30"`` or ``"30px"`` (pixels), ``"10%"``: a value and its unit."""
    match = _LENGTH.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) > MAX_LENGTH:
        raise ValueError(f"{text[:40]!r} is not a length such as 30px or 10% (at most {MAX_LENGTH:g})")
    return float(match.group(1)), "%" if match.group(2) == "%" else "px"


def _lengths(text: str) -> list[Length]:
    return [parse_length(part) for part in re.split(r"[\s,]+", text.strip()) if part]


def margins(text: str) -> tuple[Length, Length, Length, Length]:
    """CSS order: one value (all sides), two (top/bottom, left/right) or four (top, right,
    bottom, left), as remove.bg's ``crop_margin``."""
    values = _lengths(text)
    if len(values) == 1:
        return values[0], values[0], values[0], values[0]
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise ValueError("give one, two or four lengths, e.g. 10px, 10% 20px or 0 10px 20px 5%")


def to_px(length: Length, reference: int) -> int:
    value, unit = length
    return round(value * reference / 100) if unit == "%" else round(value)


def _percent(text: str, low: float, high: float) -> float:
    value, unit = parse_length(text)
    if unit != "%" or not low <= value <= high:
        raise ValueError(f"{text!r} must be a percentage from {low:g}% to {high:g}%")
    return value / 100


def colour(text: str) -> str:
    """Hex of 3, 4, 6 or 8 digits (# optional) or a CSS colour name → rrggbb or rrggbbaa."""
    value = text.strip().lower().removeprefix("#")
    if re.fullmatch(r"[0-9a-f]{3,4}", value):
        value = "".join(digit * 2 for digit in value)
    if re.fullmatch(r"[0-9a-f]{6}([0-9a-f]{2})?", value):
        return value
    if re.fullmatch(r"[a-z]+", value):
        try:
            return "".join(f"{channel:02x}" for channel in ImageColor.getrgb(value)[:3])
        except ValueError:
            pass
    raise ValueError(
        "must be a hex colour of 3, 4, 6 or 8 digits (RGB, RGBA, RRGGBB or RRGGBBAA, e.g. fff, "
        "ffffff or 00000080) or a colour name such as white"
    )


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    format: Literal["png", "webp", "jpg", "zip", "auto"] = Field(
        "png",
        description="png; lossless webp (same pixels); jpg (over bg_color, white by default); "
        "zip (color.jpg + alpha.png, the fastest for large images); auto (png if any "
        "transparency, else jpg)",
        examples=["webp"],
    )
    output: Literal["cutout", "mask"] = Field(
        "cutout", description="RGBA cutout, or the alpha as grayscale", examples=["mask"]
    )
    bg_color: str | None = Field(
        None,
        description="hex of 3, 4, 6 or 8 digits (# optional) or a colour name: composite the cutout over it",
        examples=["ffffff"],
    )
    roi: str | None = Field(
        None,
        description="region of interest 'x1 y1 x2 y2' in px or %: everything outside is background",
        examples=["0% 0% 100% 100%"],
    )
    crop: bool = Field(False, description="crop to the subject's bounding box", examples=[True])
    crop_margin: str = Field(
        "0",
        description="kept around the subject when cropping: px or % of the subject's size "
        "(at most 50%), one, two or four values (top right bottom left)",
        examples=["16", "10% 20px"],
    )
    scale: str | None = Field(
        None,
        description="subject size relative to the image, 10%–100%, or original; implies position=center",
        examples=["80%"],
    )
    position: str | None = Field(
        None,
        description="original, center, or 'x%' / 'x% y%' where the subject sits in the image",
        examples=["center", "50% 100%"],
    )
    max_size: int | None = Field(
        None, ge=1, le=20_000, description="longest side of the result, aspect kept", examples=[1024]
    )
    max_megapixels: float | None = Field(
        None, gt=0, le=1000, description="at most this many megapixels, aspect kept", examples=[0.25]
    )
    refine: bool = Field(
        False, description="recover the true colour of semi-transparent edge pixels", examples=[True]
    )

    @field_validator("bg_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else colour(value)

    @field_validator("roi")
    @classmethod
    def _roi(cls, value: str | None) -> str | None:
        if value is not None and len(_lengths(value)) != 4:
            raise ValueError("must be four lengths 'x1 y1 x2 y2' in px or %, e.g. 10% 0% 90% 100%")
        return value

    @field_validator("crop_margin")
    @classmethod
    def _margin(cls, value: str) -> str:
        for amount, unit in margins(value):
            if unit == "px" and amount > MAX_MARGIN_PX:
                raise ValueError(f"at most {MAX_MARGIN_PX} px on a side")
            if unit == "%" and amount > MAX_MARGIN_PERCENT:
                raise ValueError(f"at most {MAX_MARGIN_PERCENT}% of the subject's size on a side")
        return value

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() != "original":
            _percent(value, 10, 100)
        return value

    @field_validator("position")
    @classmethod
    def _position(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in ("original", "center"):
            parts = value.split()
            if len(parts) not in (1, 2):
                raise ValueError("must be original, center, or one or two percentages such as 50% 100%")
            for part in parts:
                _percent(part, 0, 100)
        return value

    @property
    def background(self) -> tuple[int, int, int, int] | None:
        if self.bg_color is None:
            return None
        channels = [int(self.bg_color[i : i + 2], 16) for i in range(0, len(self.bg_color), 2)]
        return (*channels[:3], channels[3] if len(channels) == 4 else 255)

    @property
    def scale_fraction(self) -> float | None:
        if self.scale is None or self.scale.strip().lower() == "original":
            return None
        return _percent(self.scale, 10, 100)

    @property
    def anchor(self) -> tuple[float, float] | None:
        """Where the subject goes (0–1 of the free room on each axis); None: where it was.
        A scaled subject is centred unless a position says otherwise (remove.bg's rule)."""
        position = (self.position or "").strip().lower()
        if position == "original" or (not position and self.scale_fraction is None):
            return None
        if not position or position == "center":
            return 0.5, 0.5
        values = [_percent(part, 0, 100) for part in position.split()]
        return values[0], values[-1]


@dataclass(frozen=True)
class Rendered:
    data: bytes
    media_type: str
    bbox: tuple[int, int, int, int] | None  # in the result's own coordinates
    size: tuple[int, int]


def _no_subject(what: str) -> BadInput:
    return BadInput(
        "no_subject", f"no subject was found in the image, so there is nothing to {what}", status=422
    )


def _apply_roi(alpha: np.ndarray, roi: str) -> np.ndarray:
    height, width = alpha.shape
    x1, y1, x2, y2 = _lengths(roi)
    left, right = sorted((to_px(x1, width), to_px(x2, width)))
    top, bottom = sorted((to_px(y1, height), to_px(y2, height)))
    kept = np.zeros_like(alpha)
    kept[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = alpha[
        max(0, top) : max(0, bottom), max(0, left) : max(0, right)
    ]
    return kept


def _crop_box(alpha: np.ndarray, margin: str) -> tuple[int, int, int, int]:
    bbox = subject_bbox(alpha)
    if bbox is None:
        raise _no_subject("crop to")
    x, y, w, h = bbox
    top, right, bottom, left = margins(margin)
    height, width = alpha.shape
    return (
        max(0, x - to_px(left, w)),
        max(0, y - to_px(top, h)),
        min(width, x + w + to_px(right, w)),
        min(height, y + h + to_px(bottom, h)),
    )


def _place(
    image: Image.Image, alpha: np.ndarray, scale: float | None, anchor: tuple[float, float] | None
) -> tuple[Image.Image, np.ndarray]:
    """Move (and scale) the subject within the same canvas; the rest is background."""
    bbox = subject_bbox(alpha, threshold=1)  # soft edges travel with the subject
    if bbox is None:
        raise _no_subject("scale or position")
    x, y, w, h = bbox
    width, height = image.size
    subject = image.crop((x, y, x + w, y + h))
    matte = Image.fromarray(alpha[y : y + h, x : x + w], "L")
    if scale is not None:
        factor = scale * min(width / w, height / h)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        subject = subject.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        matte = matte.resize(size, Image.Resampling.LANCZOS)
    new_w, new_h = subject.size
    if anchor is None:  # keep the subject's centre
        left, top = round(x + (w - new_w) / 2), round(y + (h - new_h) / 2)
    else:
        left, top = round((width - new_w) * anchor[0]), round((height - new_h) * anchor[1])
    canvas = Image.new(image.mode, image.size, 0)
    canvas.paste(subject, (left, top))
    placed = Image.new("L", image.size, 0)
    placed.paste(matte, (left, top))
    return canvas, np.asarray(placed).copy()


def _target_size(size: tuple[int, int], options: OutputOptions) -> tuple[int, int]:
    """The result's size under max_size and max_megapixels, aspect kept, never enlarged."""
    width, height = size
    if options.max_size and max(size) > options.max_size:
        factor = options.max_size / max(size)
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
    if options.max_megapixels and width * height > options.max_megapixels * 1e6:
        cap = options.max_megapixels * 1e6
        factor = (cap / (width * height)) ** 0.5  # floor: never over the cap
        width, height = max(1, int(width * factor)), max(1, int(height * factor))
        # a side pinned at 1 pixel: the other takes what the cap leaves (a 1×50 000 000 strip)
        if width * height > cap:
            if width > height:
                width = max(1, int(cap // height))
            else:
                height = max(1, int(cap // width))
    return width, height


def cover(background: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``background`` scaled to cover ``size`` (aspect kept) and centre-cropped to it."""
    width, height = size
    factor = max(width / background.width, height / background.height)
    # the part of the background that ends up in the result, centred: resizing only that
    # keeps the work bounded by the result (a 1×10000 strip must not become 625×6 250 000)
    box_width, box_height = width / factor, height / factor
    left, top = (background.width - box_width) / 2, (background.height - box_height) / 2
    box = (left, top, left + box_width, top + box_height)
    return background.convert("RGBA").resize(size, Image.Resampling.LANCZOS, box=box)


def _flatten(image: Image.Image, background: tuple[int, int, int, int]) -> Image.Image:
    canvas = Image.new("RGBA", image.size, background)
    canvas.alpha_composite(image)
    return canvas.convert("RGB") if background[3] == 255 else canvas


def _opaque(image: Image.Image) -> bool:
    return image.mode != "RGBA" or image.getchannel("A").getextrema()[0] == 255


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


def _encode(image: Image.Image, fmt: str, background: tuple[int, int, int, int] | None) -> tuple[bytes, str]:
    if fmt == "auto":  # a matte is data: kept lossless
        fmt = "png" if image.mode == "L" or not _opaque(image) else "jpg"
    if fmt == "png":
        return encode_png(image), "image/png"
    if fmt == "jpg":
        if image.mode == "RGBA":  # JPEG has no alpha: over bg_color (opaque), white by default
            image = _flatten(image, (*(background or (255, 255, 255))[:3], 255))
        return _jpeg(image), "image/jpeg"
    if fmt == "zip":
        return _zip(image), "application/zip"
    buffer = io.BytesIO()
    # WebP has no grayscale: a mask is stored as three equal channels, same values.
    source = image.convert("RGB") if image.mode == "L" else image
    source.save(buffer, format="WEBP", lossless=True, quality=20, method=1, exact=True)
    return buffer.getvalue(), "image/webp"


def render(
    image: Image.Image,
    alpha: np.ndarray,
    options: OutputOptions,
    background_image: Image.Image | None = None,
) -> Rendered:
    """Encode the answer for ``image`` (consumed) and its full-size ``alpha``;
    ``background_image`` (scaled to cover) goes behind the cutout when given."""
    if options.roi:
        alpha = _apply_roi(alpha, options.roi)
    if options.crop:
        box = _crop_box(alpha, options.crop_margin)
        image = image.crop(box)
        alpha = alpha[box[1] : box[3], box[0] : box[2]]
    if (anchor := options.anchor) is not None or options.scale_fraction is not None:
        image, alpha = _place(image, alpha, options.scale_fraction, anchor)
    if (size := _target_size(image.size, options)) != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        alpha = resize_mask(alpha, size, "lanczos")
    if options.output == "mask":
        result = Image.fromarray(alpha, "L")
    else:
        if options.refine:
            image = refine_edges(image, alpha)
        result = compose_cutout(image, alpha)
        if background_image is not None:
            canvas = cover(background_image, result.size)
            canvas.alpha_composite(result)
            result = canvas.convert("RGB") if _opaque(canvas) else canvas
        elif (background := options.background) is not None:
            result = _flatten(result, background)
    data, media_type = _encode(result, options.format, options.background)
    return Rendered(data, media_type, subject_bbox(alpha), result.size)
