"""The FastAPI app mounted on the front service: metadata and one error schema per path.

Every error leaves as ``{"error": {"code", "message"}}`` — on remove.bg's ``/v1.0/`` paths
as remove.bg's ``{"errors": [{"title", "code", "detail"}]}`` with its status codes, chosen
in one place (``wizpix.errors.error_answer``); validation problems (missing
``file``, unknown ``quality``, a body that is not multipart) are 422s in that same shape,
and anything unexpected is logged and returned as a 500 without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser

from . import __version__
from .errors import ApiError, error_answer
from .limits import Admission, ApiKeyGate, Load, UploadLimit
from .observability import RequestLog, note
from .removebg import add_removebg_routes
from .ui import add_ui_routes

log = logging.getLogger("wizpix.api")

ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "example": {"error": {"code": "not_an_image", "message": "the uploaded file is not an image"}}
        }
    }
}


def _error(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    note(request.state, error=code)
    status, body = error_answer(request.url.path, status, code, message)
    return JSONResponse(body, status_code=status, headers=headers)


# The routes that run the pipeline (limits, deadline, request log), and those behind the key.
PIPELINE_PATHS = ("/remove-bg", "/v1.0/removebg")
KEYED_PATHS = (*PIPELINE_PATHS, "/v1.0/account")


async def one_file(request: Request) -> None:
    """Two files under ``file`` are ambiguous: FastAPI would silently keep the last one."""
    if len((await request.form()).getlist("file")) > 1:
        raise ApiError("one_file_expected", "send exactly one file in the field `file`", status=422)


def create_app(
    max_upload_bytes: int | None = None,
    max_in_flight: int | None = None,
    deadline_s: float = 120,
    api_key: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title="WizPix",
        version=__version__,
        description="Background removal: `fast` (rembg, U²-Net family) and `pro` "
        "(ONNX Runtime: ISNet or BiRefNet-portrait).",
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error(request, error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'][1:]) or item['loc'][0]}: {item['msg']}"
            for item in error.errors()
        )
        return _error(request, 422, "invalid_request", problems or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        # FastAPI turns any error raised while parsing a form into a 400; ours say better.
        if isinstance(cause := error.__cause__, ApiError):
            return _error(request, cause.status, cause.code, cause.message, cause.headers)
        detail, headers = str(error.detail), getattr(error, "headers", None)
        return _error(request, error.status_code, "http_error", detail, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(request, 500, "internal_error", "the service failed to process this request")

    add_ui_routes(app)
    add_removebg_routes(app)
    if max_upload_bytes is not None:
        app.add_middleware(UploadLimit, max_bytes=max_upload_bytes, paths=PIPELINE_PATHS)
        # Starlette spools a multipart file over 1 MB to a temporary file on disk. Uploads are
        # bounded and read whole into memory anyway, so keep them in memory: an upload never
        # touches the disk, and nothing is left behind by a crash.
        MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_upload_bytes + 1)
    app.state.load = Load(limit=max_in_flight or 2**31)
    if max_in_flight is not None:
        # added last, so outermost: refuse before the size check reads anything
        app.add_middleware(Admission, load=app.state.load, deadline_s=deadline_s, paths=PIPELINE_PATHS)
    if api_key is not None:  # before admission: strangers hold no slot
        app.add_middleware(ApiKeyGate, key=api_key, paths=KEYED_PATHS)
    app.add_middleware(RequestLog, paths=PIPELINE_PATHS)  # outermost: sees every answer, refusals included
    return app
