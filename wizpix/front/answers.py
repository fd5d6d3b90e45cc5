"""Every answer leaves through here: a cutout with its headers, or an error in the
envelope of its path (ours, ``{"error": {"code", "message"}}``, or remove.bg's on
``/v1.0/``), whether a route, an exception handler, a guard or a typed API sends it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.datastructures import State
from starlette.responses import JSONResponse, Response
from starlette.types import Scope, Send

from wizpix.core.errors import ApiError
from wizpix.front.observability import note
from wizpix.front.removebg.envelope import is_removebg_path, removebg_error

if TYPE_CHECKING:
    from wizpix.front.cutter import Cutout

ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "example": {"error": {"code": "not_an_image", "message": "the uploaded file is not an image"}}
        }
    }
}


def error_answer(path: str, status: int, code: str, message: str) -> tuple[int, dict]:
    """The status and JSON body of an error on ``path``: the one place that picks the envelope."""
    if is_removebg_path(path):
        return removebg_error(status, code, message)
    return status, {"error": {"code": code, "message": message}}


def error_response(path: str, error: ApiError, state: object | None = None) -> JSONResponse:
    """``error`` as a response on ``path``; noted in the request's log record when given."""
    if state is not None:
        note(state, error=error.code)
    status, body = error_answer(path, error.status, error.code, error.message)
    return JSONResponse(body, status_code=status, headers=error.headers or None)


async def send_error(send: Send, error: ApiError, scope: Scope) -> None:
    """Answer straight from a guard, before any route runs, and close the connection so
    that an unread body is not left in the way of the next request."""
    note(State(scope.get("state", {})), error=error.code)
    status, body = error_answer(scope.get("path", ""), error.status, error.code, error.message)
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def cutout_response(
    cutout: Cutout, headers: dict[str, str] | None = None, media_type: str | None = None
) -> Response:
    """The cutout's bytes with its ``X-WizPix-*`` headers (and any a route adds)."""
    return Response(
        cutout.data, media_type=media_type or cutout.media_type, headers={**cutout.headers, **(headers or {})}
    )
