"""WizPix as BentoML sees it: typed inputs for its APIs, built from the one OutputOptions.

BentoML's Python client and ``bentoml.depends`` can only call ``@bentoml.api`` methods, not
the FastAPI routes. Their inputs are the ``/remove-bg`` options field for field, generated
from ``OutputOptions`` so that a new option needs no second declaration; the answer is the
same ``Cutout`` the route sends, headers included.

BentoML validates a typed input before the method runs and answers a mismatch with an error
body of its own. So the options are declared loosely here (documented with their schema)
and checked by ``OutputOptions`` in the method, which answers our ``422 invalid_request``
as ``/remove-bg`` does. BentoML also parses multipart fields as JSON (``-F crop_margin=4``
arrives as a number), and OutputOptions coerces them as the query string's text would be.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel, Field, ValidationError, create_model
from starlette.responses import JSONResponse, Response

from wizpix.core.enums import Quality, RoleName
from wizpix.core.errors import ApiError, problems
from wizpix.front.answers import cutout_response, error_response
from wizpix.front.cutter import Cutout
from wizpix.front.video_task import VideoOptions
from wizpix.image.options import OutputOptions


def _loose(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s fields as BentoML inputs of any type, documented by their schema, so that
    ``model`` checks them and answers our 422 (see the module's docstring)."""
    schemas = model.model_json_schema()["properties"]
    return {
        name: (Any, Field(info.default, description=info.description, json_schema_extra=schemas[name]))
        for name, info in model.model_fields.items()
    }


_OPTIONS: dict[str, Any] = _loose(OutputOptions)
_QUALITY = (
    Any,
    Field(
        Quality.FAST.value,
        description="fast: rembg; pro: ISNet/BiRefNet; auto: fast, and pro where fast's mask is unsure",
        json_schema_extra={"enum": [quality.value for quality in Quality]},
    ),
)
_TIER = (  # a video is cut by one tier: auto's choice per chunk of frames would flicker
    Any,
    Field(
        RoleName.FAST.value,
        description="fast: rembg; pro: ISNet/BiRefNet",
        json_schema_extra={"enum": [role.value for role in RoleName]},
    ),
)

RemoveBackgroundInput = create_model(
    "RemoveBackgroundInput",
    __base__=bentoml.IODescriptor,
    image=(Path, Field(description="The image (JPEG, PNG, WebP, HEIC, AVIF, …)")),
    quality=_QUALITY,
    keep=(Path | None, Field(None, description="A stroke on a region to bring back: PNG, white on black")),
    remove=(Path | None, Field(None, description="A stroke on a region to take away: PNG, white on black")),
    **_OPTIONS,
)
RemoveBackgroundsInput = create_model(
    "RemoveBackgroundsInput",
    __base__=bentoml.IODescriptor,
    images=(list[Path], Field(description="The images, one multipart part each")),
    quality=_QUALITY,
    **_OPTIONS,
)


RemoveVideoInput = create_model(
    "RemoveVideoInput",
    __base__=bentoml.IODescriptor,
    video=(Path, Field(description="The video (MP4, MOV, WebM, MKV)")),
    quality=_TIER,
    background=(Path, Field(None, description="An image behind the subject, covering each frame")),
    **_loose(VideoOptions),
)


def request_quality(quality: Any, allowed: type[StrEnum] = RoleName) -> Any:
    """``quality`` as one of ``allowed``'s values (a tier, or any Quality), else a 422."""
    try:
        return allowed(str(quality))
    except ValueError:
        values = ", ".join(member.value for member in allowed)
        raise ApiError("invalid_request", f"quality: must be one of {values}", status=422) from None


def request_options(quality: Any, fields: dict[str, Any]) -> tuple[Quality, OutputOptions]:
    """The quality and options of a typed call, validated as those of ``/remove-bg`` are."""
    role = request_quality(quality, Quality)
    try:
        # BentoML hands over every field, defaults included: only those that differ are the
        # client's (an animation keeps its own container unless a format was asked)
        given = {k: v for k, v in fields.items() if v != OutputOptions.model_fields[k].default}
        return role, OutputOptions(**given)
    except ValidationError as error:
        raise ApiError("invalid_request", problems(error.errors()), status=422) from None


def answer(
    ctx: bentoml.Context, result: Cutout | ApiError | bytes | dict, media_type: str | None = None
) -> Response:
    """The HTTP answer of a typed API: the cutout with its headers, bytes, JSON or our error.

    BentoML copies ``ctx.response``'s status onto a returned response, so it is set here.
    """
    if isinstance(result, ApiError):
        response = error_response(ctx.request.url.path, result, ctx.request.state)
        ctx.response.status_code = response.status_code
        return response
    ctx.response.status_code = 200
    if isinstance(result, dict):
        return JSONResponse(result)
    if isinstance(result, bytes):
        return Response(result, media_type=media_type)
    return cutout_response(result, media_type=media_type)


def video_headers(facts: dict[str, Any], fmt: str) -> dict[str, str]:
    """What served a video, as a cutout's headers say it, and its file name."""
    headers = {
        "X-WizPix-Quality": str(facts["served"]),
        "X-WizPix-Model": str(facts["model"]),
        "X-WizPix-Frames": str(facts["frames"]),
        "X-WizPix-Inferred-Frames": str(facts["inferred"]),
        "X-WizPix-Uncertainty": f"{facts['uncertainty']:.3f}" if facts["uncertainty"] is not None else "none",
        "Content-Disposition": f'attachment; filename="cutout.{fmt}"',
    }
    if facts.get("fallback"):
        headers["X-WizPix-Fallback"] = str(facts["fallback"])
    return headers
