"""remove.bg's v1.0 API on the same service: ``POST /v1.0/removebg`` and ``GET /v1.0/account``.

An existing remove.bg integration works by changing its base URL. The route reads the
request (multipart, form-urlencoded or JSON), parses remove.bg's parameters into our
``OutputOptions`` (``params.py``) and calls the same
``Cutter.remove_background`` as ``/remove-bg``: fallback, limits, deadlines, the mask cache,
metrics and the request log apply alike. Its errors leave in remove.bg's envelope
(``envelope.py``, picked by path in ``wizpix.front.answers``).

Self-hosted values: ``X-Credits-Charged`` is 0 (nothing is bought); ``X-Type`` echoes the
``type`` asked, ``other`` for auto (the models have no classifier); ``/v1.0/account`` shows
no credits and, as ``free_calls``, what the rate limit leaves this minute (or
``UNLIMITED_CALLS`` when it is off).
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.datastructures import UploadFile

from wizpix.core.errors import ApiError, BadInput
from wizpix.core.settings import Settings
from wizpix.front.answers import cutout_response
from wizpix.front.guards import given_key
from wizpix.front.observability import note
from wizpix.front.removebg.params import REQUEST_BODY, RemoveBgRequest, parse
from wizpix.front.removebg.rate_limit import weight
from wizpix.front.state import CutterDep, Front
from wizpix.image.decode import decode_image

UNLIMITED_CALLS = 1_000_000
FILE_FIELDS = ("image_file", "bg_image_file")
ENVELOPE = {
    "content": {
        "application/json": {
            "example": {"errors": [{"title": "Missing source", "code": "missing_source", "detail": "…"}]}
        }
    }
}


async def read_fields(
    request: Request, max_part_bytes: int = 1024 * 1024
) -> tuple[dict[str, str], dict[str, bytes]]:
    """Text fields and uploaded files, whatever the body's encoding remove.bg allows."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    texts: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if kind == "application/json":
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            raise BadInput("invalid_json", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadInput("invalid_json", "the body must be a JSON object of parameters")
        for name, value in body.items():
            if value is None:
                continue
            if name in FILE_FIELDS and value != "":
                raise BadInput(
                    "invalid_parameter",
                    f"{name}: a file cannot travel in JSON; send image_file_b64 or image_url, "
                    "or a multipart body",
                )
            texts[name] = str(value).lower() if isinstance(value, bool) else str(value)
    elif kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # Starlette caps a text field at 1 MB, less than a base64 photo: the upload limit
        # (a middleware, before this) is what bounds the body
        form = await request.form(max_part_size=max_part_bytes)
        for name in set(form.keys()):
            values = form.getlist(name)
            if len(values) > 1:
                raise BadInput("invalid_parameter", f"{name}: sent {len(values)} times, expected once")
            value = values[0]
            if isinstance(value, UploadFile):
                files[name] = await value.read()
                texts[name] = "<file>" if files[name] else ""
            elif name in FILE_FIELDS:  # a file sent as a plain field
                files[name] = value.encode("latin-1", "replace")
                texts[name] = "<file>" if value else ""
            else:
                texts[name] = value
    else:
        raise BadInput(
            "unsupported_content_type",
            "send multipart/form-data, application/x-www-form-urlencoded or application/json",
        )
    return texts, files


def _b64(text: str) -> bytes:
    text = text.partition(",")[2] if text.startswith("data:") else text  # a data URL
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("invalid_base64", "image_file_b64: not valid base64") from None


async def _fetch(url: str, settings: Settings, field: str) -> bytes:
    if not settings.allow_image_url:
        raise BadInput(
            "image_url_disabled",
            f"{field} is turned off on this server; its operator can allow it with "
            "ALLOW_IMAGE_URL=true (and IMAGE_URL_ALLOW_HOSTS for private hosts)",
        )
    from wizpix.front.removebg.image_url import fetch_image_bytes  # only when URLs are allowed

    return await fetch_image_bytes(
        url,
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.image_url_timeout_s,
        allow_hosts=settings.image_url_hosts,
    )


async def _source(
    parsed: RemoveBgRequest, texts: dict[str, str], files: dict[str, bytes], settings: Settings
) -> bytes:
    if parsed.source == "image_file":
        return files["image_file"]
    if parsed.source == "image_file_b64":
        return _b64(texts["image_file_b64"])
    return await _fetch(texts["image_url"], settings, "image_url")


async def _background(
    parsed: RemoveBgRequest, texts: dict[str, str], files: dict[str, bytes], settings: Settings
) -> Image.Image | None:
    if parsed.bg_image is None:
        return None
    if parsed.bg_image == "bg_image_file":
        data = files["bg_image_file"]
    else:
        data = await _fetch(texts["bg_image_url"], settings, "bg_image_url")
    # the result is at most max_megapixels (remove.bg's `size`), whatever its aspect: a
    # side of twice its square's is all that covering it can need
    side = 2 * math.ceil(math.sqrt((parsed.options.max_megapixels or 50) * 1e6))
    try:
        return await to_thread.run_sync(decode_image, data, settings.max_image_pixels, side)
    except ApiError as error:
        raise BadInput(error.code, f"bg image: {error.message}") from None


def wants_json(accept: str) -> bool:
    """remove.bg answers JSON when ``Accept`` asks for ``application/json``, and an image
    otherwise: JSON when it is listed with a weight above 0 that no image range outweighs.
    Parsed (media ranges and ``q``) rather than searched: ``application/jsonx`` or
    ``application/json;q=0`` asks for no JSON. Starlette parses no Accept header, and this
    one question needs no content-negotiation library."""
    json_q = image_q = 0.0
    for part in accept.lower().split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if media == "application/json":
            json_q = max(json_q, q)
        elif media.startswith("image/"):
            image_q = max(image_q, q)
    return json_q > 0 and json_q >= image_q


def _rate_key(request: Request, keyed: bool) -> str:
    """Per API key when the server checks one; else per client address (a key nobody
    checks is the client's to change at will, and would give it a fresh bucket)."""
    if keyed:
        return f"key:{given_key(request.scope)}"
    return f"ip:{request.client.host if request.client else '?'}"


router = APIRouter()


@router.post(
    "/v1.0/removebg",
    response_class=Response,
    summary="remove.bg v1.0: remove the background of an image",
    description="remove.bg's parameters (multipart, form-urlencoded or JSON); see docs/removebg.md. "
    "Our `quality` (fast|pro) is accepted as an extension.",
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "application/zip": {}}},
        400: ENVELOPE,
        403: ENVELOPE,
        429: ENVELOPE,
    },
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def removebg(request: Request, front: Front, cutter: CutterDep) -> Response:
    settings, limiter = front.settings, front.rate_limiter
    texts, files = await read_fields(request, settings.max_upload_bytes)
    parsed = parse(texts, settings.removebg_default_quality)
    note(request.state, asked=parsed.quality)
    key = _rate_key(request, settings.api_key is not None)
    if limiter is not None and (quota := limiter.check(key)).retry_after_s is not None:
        raise ApiError(
            "rate_limit_exceeded",
            f"more than {quota.limit} images of 1 megapixel per minute; retry in {quota.retry_after_s} s",
            status=429,
            headers=quota.headers(time.time()),
        )
    data = await _source(parsed, texts, files, settings)
    background = await _background(parsed, texts, files, settings)
    cutout = await cutter.remove_background(data, parsed.quality, parsed.options, background_image=background)
    note(request.state, **cutout.facts)
    (width, height), (left, top, fg_width, fg_height) = cutout.size, cutout.bbox or (0, 0, 0, 0)
    headers = {
        "X-Width": str(width),
        "X-Height": str(height),
        "X-Type": "other" if parsed.type == "auto" else parsed.type,
        "X-Credits-Charged": "0",
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(fg_width),
        "X-Foreground-Height": str(fg_height),
    }
    if limiter is not None:
        # remove.bg weighs by the input image's megapixels
        charged = weight(cutout.facts["width"], cutout.facts["height"])
        headers.update(limiter.charge(key, charged).headers(time.time()))
    if wants_json(request.headers.get("accept", "")):
        body = {
            "result_b64": base64.b64encode(cutout.data).decode(),
            "foreground_top": top,
            "foreground_left": left,
            "foreground_width": fg_width,
            "foreground_height": fg_height,
            "uncertainty": cutout.facts["uncertainty"],  # ours, beside remove.bg's fields
        }
        return JSONResponse({"data": body}, headers={**cutout.headers, **headers})
    return cutout_response(cutout, headers)


@router.get(
    "/v1.0/account",
    summary="remove.bg v1.0: credits (none) and free calls (unlimited, or what the rate limit leaves)",
    responses={403: ENVELOPE},
)
async def account(request: Request, front: Front) -> JSONResponse:
    free_calls = UNLIMITED_CALLS
    headers: dict[str, str] = {}
    if (limiter := front.rate_limiter) is not None:
        quota = limiter.check(_rate_key(request, front.settings.api_key is not None))
        free_calls = quota.remaining
        headers = {k: v for k, v in quota.headers(time.time()).items() if k != "Retry-After"}
    attributes: dict[str, Any] = {
        "credits": {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0},
        "api": {"free_calls": free_calls, "sizes": "all"},
    }
    return JSONResponse({"data": {"attributes": attributes}}, headers=headers)
