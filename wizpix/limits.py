"""Request limits that must act before the body is read: upload size and the API key.

The upload limit is an ASGI middleware: a declared Content-Length over the limit is
answered 413 at once, without reading the body; a body without one (chunked) is counted
as it streams and stopped the moment it passes the limit, before it is buffered whole.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError


class UploadTooLarge(ApiError):
    status = 413


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge("upload_too_large", f"the upload is larger than the {limit / 2**20:g} MB limit")


class UploadLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...] = ("/remove-bg",)) -> None:
        self.app, self.max_bytes, self.paths = app, max_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = _too_large(self.max_bytes)
            body = json.dumps(error.body()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def api_key_guard(expected: str | None):
    """A dependency that admits a request carrying the key (Bearer or X-API-Key)."""

    async def guard(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key") or ""
        authorization = request.headers.get("authorization") or ""
        if authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(
                "unauthorized",
                "a valid API key is required (Authorization: Bearer … or X-API-Key)",
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )

    return guard
