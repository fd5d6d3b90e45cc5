"""The FastAPI app mounted on the front service: its routers, and its exception handlers.

Every error leaves in the envelope of its path (``wizpix.front.answers``); validation
problems (missing ``file``, unknown ``quality``, a body that is not multipart) are 422s
in that same shape, and anything unexpected is logged and returned as a 500 without
internals. The guards before the routes are installed by ``wizpix.front.wiring``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser

from wizpix import __version__
from wizpix.core.errors import ApiError, problems
from wizpix.core.settings import Settings
from wizpix.front import routes, ui
from wizpix.front.answers import error_response
from wizpix.front.removebg import routes as removebg
from wizpix.front.state import FrontState

log = logging.getLogger(__name__)


def _answer(request: Request, error: ApiError) -> JSONResponse:
    return error_response(request.url.path, error, request.state)


ROUTERS = (ui.router, routes.router, removebg.router)


def create_app(settings: Settings, routers: Sequence[APIRouter] = ROUTERS) -> FastAPI:
    """The app with ``routers`` (in-process tests of the guards bring routes of their own)."""
    app = FastAPI(
        title="WizPix",
        version=__version__,
        description="Background removal: `fast` (rembg, U²-Net family) and `pro` "
        "(ONNX Runtime: ISNet or BiRefNet-portrait).",
    )
    app.state.front = FrontState.from_settings(settings)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return _answer(request, error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        message = problems(error.errors(), skip=1) or "invalid request"
        return _answer(request, ApiError("invalid_request", message, status=422))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        # FastAPI turns any error raised while parsing a form into a 400; ours say better.
        if isinstance(cause := error.__cause__, ApiError):
            return _answer(request, cause)
        headers = getattr(error, "headers", None) or {}
        return _answer(
            request, ApiError("http_error", str(error.detail), status=error.status_code, headers=headers)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _answer(request, ApiError("internal_error", "the service failed to process this request"))

    for router in routers:
        app.include_router(router)
    # Starlette spools a multipart file over 1 MB to a temporary file on disk. Uploads are
    # bounded and read whole into memory anyway, so keep them in memory: an upload never
    # touches the disk, and nothing is left behind by a crash.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_upload_bytes + 1)
    return app
