"""remove.bg's v1.0 parameters, parsed into our one ``OutputOptions``.

Pure: a dict of form/JSON fields in, the options (and the source, quality and what is
accepted but not acted on) out, or BadInput saying which field is wrong. Empty strings
mean "not set": remove.bg's own clients send every field, set or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from wizpix.core.enums import Quality, RoleName
from wizpix.core.errors import BadInput, problems
from wizpix.core.units import whole_number
from wizpix.image.options import MAX_MARGIN_PERCENT, OutputOptions, margins

# size → megapixel cap, as remove.bg documents it: preview (alias small, regular) 0.25 MP;
# medium 1.5; hd 4; full (alias 4k) and auto up to 25; 50MP up to 50; PNG at most 10.
SIZES = {
    "preview": 0.25,
    "small": 0.25,
    "regular": 0.25,
    "medium": 1.5,
    "hd": 4,
    "full": 25,
    "4k": 25,
    "auto": 25,
    "50mp": 50,
}
PNG_MAX_MP = 10
FORMATS = ("auto", "png", "jpg", "webp", "zip")
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation")
TYPE_LEVELS = ("none", "1", "2", "latest")
SHADOW_TYPES = ("car", "3d", "drop", "none")
REMOVEBG_MAX_MARGIN_PX = 500  # remove.bg: at most 50% of the subject or 500 px on a side
SOURCES = ("image_file", "image_file_b64", "image_url")
# accepted, validated, not acted on: the model has no class hint, shadows are not drawn,
# semi-transparency is always kept (remove.bg applies it to car windows only)
IGNORED = ("type", "type_level", "add_shadow", "shadow_type", "shadow_opacity", "semitransparency")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _enum(values: tuple[str, ...]) -> dict[str, object]:
    return {"type": "string", "enum": list(values)}


# The fields as remove.bg documents them, for the OpenAPI schema (the route reads its body
# itself, in three encodings, so FastAPI cannot derive it).
FIELDS: dict[str, dict[str, object]] = {
    "image_file": {"type": "string", "format": "binary"},
    "image_file_b64": {"type": "string"},
    "image_url": {"type": "string", "format": "uri"},
    "size": _enum(tuple(SIZES)),
    "type": _enum(TYPES),
    "type_level": _enum(TYPE_LEVELS),
    "format": _enum(FORMATS),
    "roi": {"type": "string", "examples": ["0% 0% 100% 100%"]},
    "crop": {"type": "boolean"},
    "crop_margin": {"type": "string", "examples": ["10px", "10%"]},
    "scale": {"type": "string", "examples": ["original", "80%"]},
    "position": {"type": "string", "examples": ["original", "center", "50% 100%"]},
    "channels": _enum(("rgba", "alpha")),
    "add_shadow": {"type": "boolean"},
    "semitransparency": {"type": "boolean"},
    "bg_color": {"type": "string", "examples": ["81d4fa", "white"]},
    "bg_image_url": {"type": "string", "format": "uri"},
    "bg_image_file": {"type": "string", "format": "binary"},
    "shadow_type": _enum(SHADOW_TYPES),
    "shadow_opacity": {"type": "string", "examples": ["50"]},
    "quality": _enum(tuple(Quality)),  # an extension: remove.bg has none
}
_TEXT = {name: schema for name, schema in FIELDS.items() if schema.get("format") != "binary"}
REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": FIELDS}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": _TEXT}},
        "application/json": {"schema": {"type": "object", "properties": _TEXT}},
    },
}


@dataclass(frozen=True)
class RemoveBgRequest:
    source: str  # which of SOURCES
    quality: Quality
    options: OutputOptions
    type: str  # as asked (auto when not): echoed in X-Type
    bg_image: str | None  # bg_image_file or bg_image_url, when given


def _bool(fields: dict[str, str], name: str, default: bool) -> bool:
    value = fields.get(name, "").lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadInput("invalid_parameter", f"{name}: must be true or false, not {value!r}")


def _choice(fields: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, "").lower() or default
    if value not in allowed:
        raise BadInput("invalid_parameter", f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _clamped_margin(text: str) -> str:
    """remove.bg adds at most 500 px or 50% of the subject on a side: larger asks are capped."""
    try:
        sides = margins(text)
    except ValueError as error:
        raise BadInput("invalid_parameter", f"crop_margin: {error}") from None
    cap = {"px": REMOVEBG_MAX_MARGIN_PX, "%": MAX_MARGIN_PERCENT}
    return " ".join(f"{min(value, cap[unit]):g}{unit}" for value, unit in sides)


def parse(fields: dict[str, str], default_quality: Quality | RoleName) -> RemoveBgRequest:
    """``fields``: every text field of the request (files are named by their field only)."""
    fields = {name: value.strip() for name, value in fields.items() if value.strip()}
    given = [name for name in SOURCES if name in fields]
    if len(given) != 1:
        raise BadInput(
            "missing_source" if not given else "multiple_sources",
            "send exactly one of image_file, image_file_b64 or image_url"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    background = [name for name in ("bg_color", "bg_image_file", "bg_image_url") if name in fields]
    if len(background) > 1:
        raise BadInput("invalid_parameter", f"send at most one of {', '.join(background)}")
    size = _choice(fields, "size", tuple(SIZES), "preview")
    fmt = _choice(fields, "format", FORMATS, "auto")
    channels = _choice(fields, "channels", ("rgba", "alpha"), "rgba")
    quality = _choice(fields, "quality", tuple(Quality), default_quality)
    asked_type = _choice(fields, "type", TYPES, "auto")
    _choice(fields, "type_level", TYPE_LEVELS, "1")
    _choice(fields, "shadow_type", SHADOW_TYPES, "none")
    _bool(fields, "add_shadow", False)
    _bool(fields, "semitransparency", True)
    opacity = fields.get("shadow_opacity")
    if opacity and ((value := whole_number(opacity)) is None or value > 100):
        raise BadInput(
            "invalid_parameter", f"shadow_opacity: must be an integer from 0 to 100, not {opacity!r}"
        )
    cap = SIZES[size] if fmt not in ("png", "auto") else min(SIZES[size], PNG_MAX_MP)
    crop = _bool(fields, "crop", False)
    values = {
        "format": fmt,
        "output": "mask" if channels == "alpha" else "cutout",
        "bg_color": fields.get("bg_color"),
        "roi": fields.get("roi"),
        "crop": crop,
        "crop_margin": _clamped_margin(fields["crop_margin"]) if crop and "crop_margin" in fields else "0",
        "scale": fields.get("scale"),
        "position": fields.get("position"),
        "max_megapixels": cap,
    }
    try:
        options = OutputOptions(**values)
    except ValidationError as error:
        raise BadInput("invalid_parameter", problems(error.errors())) from None
    bg_image = background[0] if background and background[0] != "bg_color" else None
    return RemoveBgRequest(given[0], Quality(quality), options, asked_type, bg_image)
