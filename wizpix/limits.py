"""Request limits that must act before the body is read: API key, admission, deadline, size.

They are ASGI middlewares because FastAPI reads the whole multipart body before a route
runs. Admission refuses work past ``MAX_IN_FLIGHT`` before a byte of the body is read, so
memory is bounded by in-flight × upload limit. The deadline covers the upload too: a client
that trickles its body holds a slot, and gets 408 rather than holding it forever. A
declared Content-Length over the upload limit is answered 413 at once; a chunked body is
counted as it streams and stopped the moment it passes the limit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, State
from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import RouteMiddleware
from .errors import ApiError, error_answer, is_removebg_path
from .observability import note

log = logging.getLogger("wizpix.limits")


class UploadTooLarge(ApiError):
    status = 413


async def send_error(send: Send, error: ApiError, scope: Scope | None = None) -> None:
    """Answer with the path's error schema (ours, or remove.bg's on /v1.0/) straight from a
    middleware, and close the connection so that an unread body is not left in the way of
    the next request."""
    if scope is not None:
        note(State(scope.get("state", {})), error=error.code)
    path = scope.get("path", "") if scope is not None else ""
    status, body = error_answer(path, error.status, error.code, error.message)
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@dataclass
class Load:
    """Requests admitted and not yet answered, and those refused or cut; shown by /health."""

    limit: int
    in_flight: int = 0
    refused: int = 0
    timed_out: int = 0


class Admission(RouteMiddleware):
    """At most ``load.limit`` requests at once, each within ``deadline_s``."""

    def __init__(
        self, app: ASGIApp, load: Load, deadline_s: float, paths: tuple[str, ...] = ("/remove-bg",)
    ) -> None:
        super().__init__(app, paths)
        self.load, self.deadline_s = load, deadline_s

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.load.in_flight >= self.load.limit:
            self.load.refused += 1
            await send_error(
                send,
                ApiError(
                    "overloaded",
                    f"{self.load.limit} requests are already in progress; retry shortly",
                    status=503,
                    headers={"Retry-After": "2"},
                ),
                scope,
            )
            return
        deadline_s = _deadline(scope, self.deadline_s)
        answered = body_read = False

        async def tracked_receive() -> dict[str, Any]:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        self.load.in_flight += 1
        try:
            async with asyncio.timeout(deadline_s) as deadline:
                await self.app(scope, tracked_receive, tracked_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            self.load.timed_out += 1
            log.warning("request cut at its %gs deadline (body read: %s)", deadline_s, body_read)
            if not answered:
                await send_error(send, _deadline_error(deadline_s, body_read), scope)
        finally:
            self.load.in_flight -= 1


DEADLINE_HEADER = "X-WizPix-Deadline-Ms"


def _deadline(scope: Scope, server_deadline_s: float) -> float:
    """The server's deadline, or the client's when it asks for a shorter one: a caller with
    its own time budget should not leave work running that it will not wait for. A bad value
    is left to the route's validation (422)."""
    given = Headers(scope=scope).get(DEADLINE_HEADER, "")
    if given.isdigit() and int(given) > 0:
        return min(server_deadline_s, int(given) / 1000)
    return server_deadline_s


def _deadline_error(deadline_s: float, body_read: bool) -> ApiError:
    if not body_read:
        return ApiError("upload_timeout", f"the upload did not complete within {deadline_s:g} s", status=408)
    return ApiError(
        "deadline_exceeded",
        f"the request could not be served within {deadline_s:g} s",
        status=504,
        headers={"Retry-After": "5"},
    )


def too_large(limit: int) -> UploadTooLarge:
    """The 413 of an upload past ``limit`` bytes, wherever it is counted."""
    return UploadTooLarge("upload_too_large", f"the upload is larger than the {limit / 2**20:g} MB limit")


class UploadLimit(RouteMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...] = ("/remove-bg",)) -> None:
        super().__init__(app, paths)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, too_large(self.max_bytes), scope)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def given_key(scope: Scope) -> str:
    """The key a request carries: Bearer, else X-API-Key (remove.bg's clients send that)."""
    headers = Headers(scope=scope)
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key") or ""


class ApiKeyGate(RouteMiddleware):
    """401 (403 on remove.bg's paths, as remove.bg answers) before the body is read: without
    the key a client can neither make the service read a 25 MB upload nor hold one of the
    ``MAX_IN_FLIGHT`` slots. Bearer or X-API-Key, compared in constant time."""

    def __init__(self, app: ASGIApp, key: str, paths: tuple[str, ...] = ("/remove-bg",)) -> None:
        super().__init__(app, paths)
        self.key = key.encode()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if hmac.compare_digest(given_key(scope).encode(), self.key):
            await self.app(scope, receive, send)
            return
        removebg = is_removebg_path(scope["path"])
        error = ApiError(
            "auth_failed" if removebg else "unauthorized",
            "a valid API key is required (X-Api-Key, or Authorization: Bearer …)",
            status=401,
            headers={} if removebg else {"WWW-Authenticate": "Bearer"},
        )
        await send_error(send, error, scope)
