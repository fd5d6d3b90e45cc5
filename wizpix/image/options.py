"""What the client asked the result to be: format, cutout or mask, background, region,
crop, placement, size; and the small grammar of lengths, margins and colours.

One validated object: the query parameters of ``/remove-bg``, the keywords of the typed
API, the flags of the folder CLI, and what ``/v1.0/removebg`` parses remove.bg's
parameters into.
"""

from __future__ import annotations

import re
from typing import Literal

from PIL import ImageColor
from pydantic import BaseModel, ConfigDict, Field, field_validator

Unit = Literal["px", "%"]


Length = tuple[float, Unit]


MAX_MARGIN_PX = 10_000


MAX_MARGIN_PERCENT = 50  # remove.bg: at most 50% of the subject's size on each side


MAX_LENGTH = 1_000_000  # px or %: far past any image, and far from float overflow


_LENGTH = re.compile(r"(\d+(?:\.\d+)?)(px|%)?")


def parse_length(text: str) -> Length:
    """``"30"`` or ``"30px"`` (pixels), ``"10%"``: a value and its unit."""
    match = _LENGTH.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) > MAX_LENGTH:
        raise ValueError(f"{text[:40]!r} is not a length such as 30px or 10% (at most {MAX_LENGTH:g})")
    return float(match.group(1)), "%" if match.group(2) == "%" else "px"


def lengths(text: str) -> list[Length]:
    return [parse_length(part) for part in re.split(r"[\s,]+", text.strip()) if part]


def margins(text: str) -> tuple[Length, Length, Length, Length]:
    """CSS order: one value (all sides), two (top/bottom, left/right) or four (top, right,
    bottom, left), as remove.bg's ``crop_margin``."""
    values = lengths(text)
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

    format: Literal["png", "webp", "jpg", "zip", "gif", "auto"] = Field(
        "png",
        description="png; lossless webp (same pixels); jpg (over bg_color, white by default); "
        "zip (color.jpg + alpha.png, the fastest for large images); gif (one bit of transparency, "
        "cut at half); auto (png if any transparency, else jpg). An animated upload comes back "
        "animated: in its own family (GIF, WebP, APNG) unless format asks for webp, png (APNG) or gif",
        examples=["webp"],
    )
    frames: Literal["all", "first"] = Field(
        "all",
        description="an animated GIF, WebP or APNG: every frame cut, timing and loop kept (all), or "
        "its first frame alone as a still image (first)",
        examples=["first"],
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
        if value is not None and len(lengths(value)) != 4:
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
