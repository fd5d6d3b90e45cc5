"""remove.bg's parameters parsed into OutputOptions: sizes, formats, channels, margins,
the accepted-and-ignored ones, empty strings, and every refusal naming its field."""

from __future__ import annotations

import pytest

from wizpix.core.enums import RoleName
from wizpix.core.errors import BadInput
from wizpix.front.answers import error_answer
from wizpix.front.removebg.params import parse
from wizpix.front.removebg.routes import wants_json

FILE = {"image_file": "<file>"}


def test_defaults_are_remove_bg_s() -> None:
    parsed = parse(dict(FILE), RoleName.PRO)
    assert parsed.source == "image_file" and parsed.quality == "pro" and parsed.type == "auto"
    options = parsed.options
    assert options.format == "auto" and options.output == "cutout" and options.max_megapixels == 0.25
    assert not options.crop and options.bg_color is None and parsed.bg_image is None


@pytest.mark.parametrize(
    ("size", "fmt", "cap"),
    [
        ("preview", "png", 0.25),
        ("small", "jpg", 0.25),
        ("regular", "png", 0.25),
        ("medium", "png", 1.5),
        ("hd", "png", 4),
        ("full", "jpg", 25),
        ("4k", "zip", 25),
        ("full", "png", 10),
        ("auto", "auto", 10),
        ("auto", "webp", 25),
        ("50MP", "jpg", 50),
        ("50MP", "png", 10),
    ],
)
def test_sizes_and_their_megapixel_caps(size: str, fmt: str, cap: float) -> None:
    options = parse({**FILE, "size": size, "format": fmt}, RoleName.PRO).options
    assert options.max_megapixels == cap and options.format == fmt


def test_empty_strings_mean_not_set() -> None:
    fields = {**FILE, "size": "", "bg_color": "", "crop": "", "roi": "", "image_url": "", "format": " "}
    parsed = parse(fields, RoleName.FAST)
    assert (
        parsed.source == "image_file" and parsed.options.bg_color is None and parsed.options.format == "auto"
    )


def test_every_output_parameter_reaches_the_options() -> None:
    fields = {
        **FILE,
        "channels": "alpha",
        "roi": "10% 0% 90% 100%",
        "crop": "true",
        "crop_margin": "10px 20%",
        "scale": "80%",
        "position": "50% 100%",
        "bg_color": "81d4fa77",
        "quality": "fast",
        "type": "product",
    }
    parsed = parse(fields, RoleName.PRO)
    options = parsed.options
    assert options.output == "mask" and options.roi == "10% 0% 90% 100%" and options.crop
    assert (
        options.crop_margin == "10px 20% 10px 20%"
        and options.scale == "80%"
        and options.position == "50% 100%"
    )
    assert options.bg_color == "81d4fa77" and parsed.quality == "fast" and parsed.type == "product"


def test_crop_margin_is_capped_at_500px_and_50_percent() -> None:
    options = parse({**FILE, "crop": "1", "crop_margin": "800px 70% 10 5%"}, RoleName.PRO).options
    assert options.crop_margin == "500px 50% 10px 5%"
    assert parse({**FILE, "crop_margin": "30px"}, RoleName.PRO).options.crop_margin == "0"  # only with crop


def test_accepted_and_ignored_parameters() -> None:
    fields = {
        **FILE,
        "type_level": "latest",
        "add_shadow": "true",
        "shadow_type": "3D",
        "shadow_opacity": "50",
        "semitransparency": "false",
    }
    assert parse(fields, RoleName.PRO).options == parse(dict(FILE), RoleName.PRO).options


def test_background_image_sources() -> None:
    assert parse({**FILE, "bg_image_url": "http://x/y.jpg"}, RoleName.PRO).bg_image == "bg_image_url"
    assert parse({**FILE, "bg_image_file": "<file>"}, RoleName.PRO).bg_image == "bg_image_file"


@pytest.mark.parametrize(
    ("fields", "code", "names"),
    [
        ({}, "missing_source", "image_file"),
        ({**FILE, "image_url": "http://x"}, "multiple_sources", "image_url"),
        ({**FILE, "size": "huge"}, "invalid_parameter", "size"),
        ({**FILE, "format": "gif"}, "invalid_parameter", "format"),
        ({**FILE, "channels": "rgb"}, "invalid_parameter", "channels"),
        ({**FILE, "type": "tree"}, "invalid_parameter", "type"),
        ({**FILE, "type_level": "3"}, "invalid_parameter", "type_level"),
        ({**FILE, "shadow_type": "long"}, "invalid_parameter", "shadow_type"),
        ({**FILE, "shadow_opacity": "101"}, "invalid_parameter", "shadow_opacity"),
        ({**FILE, "crop": "maybe"}, "invalid_parameter", "crop"),
        ({**FILE, "semitransparency": "2"}, "invalid_parameter", "semitransparency"),
        ({**FILE, "crop": "true", "crop_margin": "1 2 3"}, "invalid_parameter", "crop_margin"),
        ({**FILE, "roi": "0 0 10"}, "invalid_parameter", "roi"),
        ({**FILE, "scale": "5%"}, "invalid_parameter", "scale"),
        ({**FILE, "position": "top"}, "invalid_parameter", "position"),
        ({**FILE, "bg_color": "nocolour"}, "invalid_parameter", "bg_color"),
        ({**FILE, "bg_color": "fff", "bg_image_url": "http://x"}, "invalid_parameter", "bg_color"),
        ({**FILE, "quality": "ultra"}, "invalid_parameter", "quality"),
    ],
)
def test_refusals_name_the_field(fields: dict[str, str], code: str, names: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse(fields, RoleName.PRO)
    assert caught.value.code == code and caught.value.status == 400 and names in caught.value.message


def test_the_envelope_is_a_function_of_the_path() -> None:
    assert error_answer("/remove-bg", 422, "x", "why") == (422, {"error": {"code": "x", "message": "why"}})
    status, body = error_answer("/v1.0/removebg", 422, "invalid_request", "why")
    assert status == 400 and body == {
        "errors": [{"title": "Invalid request", "code": "invalid_request", "detail": "why"}]
    }
    assert error_answer("/v1.0/account", 401, "auth_failed", "k")[0] == 403
    assert error_answer("/v1.0/removebg", 413, "upload_too_large", "big")[0] == 400
    assert error_answer("/v1.0/removebg", 429, "rate_limit_exceeded", "slow")[0] == 429
    assert error_answer("/v1.0/removebg", 503, "overloaded", "busy")[0] == 503


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("application/json", True),
        ("APPLICATION/JSON", True),
        ("text/html, application/json", True),
        ("application/json, image/*", True),
        ("", False),
        ("*/*", False),
        ("image/*", False),
        ("application/jsonx", False),
        ("application/json;q=0", False),
        ("image/png, application/json;q=0.5", False),
        ("application/json;q=nonsense", False),
    ],
)
def test_json_only_when_accept_asks_for_it(accept: str, json: bool) -> None:
    assert wants_json(accept) is json
