"""WizPix's own routes: ``POST /remove-bg`` and ``GET /health``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from wizpix.core.enums import Quality
from wizpix.core.errors import ApiError
from wizpix.front.answers import ERROR_SCHEMA, cutout_response
from wizpix.front.guards import DEADLINE_HEADER
from wizpix.front.observability import note
from wizpix.front.state import CutterDep, Front
from wizpix.image.options import OutputOptions

router = APIRouter()


async def one_file(request: Request) -> None:
    """Two files under ``file`` are ambiguous: FastAPI would silently keep the last one."""
    if len((await request.form()).getlist("file")) > 1:
        raise ApiError("one_file_expected", "send exactly one file in the field `file`", status=422)


@router.post(
    "/remove-bg",
    dependencies=[Depends(one_file)],
    response_class=Response,
    summary="Cut the subject out of an image",
    responses={
        200: {"content": {"image/png": {}, "image/webp": {}}},
        **dict.fromkeys((400, 401, 408, 413, 422, 503, 504), ERROR_SCHEMA),
    },
)
async def remove_bg(
    request: Request,
    cutter: CutterDep,
    file: Annotated[UploadFile, File(description="The image (JPEG, PNG, WebP, …)")],
    keep: Annotated[
        UploadFile | None,
        File(description="A stroke on a region to bring back: PNG, white on black, any size"),
    ] = None,
    remove: Annotated[
        UploadFile | None, File(description="A stroke on a region to take away: PNG, white on black")
    ] = None,
    quality: Annotated[
        Quality,
        Query(
            description="fast: rembg's u2netp; pro: ISNet/BiRefNet; auto: fast, and pro as well where "
            "fast's mask is unsure (AUTO_THRESHOLD)",
            examples=["pro"],
        ),
    ] = Quality.FAST,
    options: Annotated[OutputOptions, Query()] = OutputOptions(),  # noqa: B008 - a frozen value
    # enforced by the Admission guard before the body is read; declared here so that a bad
    # value is a 422 and the header is in the OpenAPI schema
    deadline_ms: Annotated[
        int | None,
        Header(
            alias=DEADLINE_HEADER,
            gt=0,
            description="Give up after this many ms (504) if sooner than the server's deadline",
        ),
    ] = None,
) -> Response:
    note(request.state, asked=quality)
    strokes = (await keep.read() if keep else None, await remove.read() if remove else None)
    cutout = await cutter.remove_background(await file.read(), quality, options, strokes=strokes)
    note(request.state, **cutout.facts)
    return cutout_response(cutout)


@router.get("/health", summary="Models, warmup, device and overall status")
async def health(front: Front, cutter: CutterDep) -> JSONResponse:
    return JSONResponse({**await cutter.health(), "requests": front.load.report()})
