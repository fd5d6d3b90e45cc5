"""The guards that act before a route reads the body: API key, admission and deadline,
upload size. Each is a plain ASGI middleware; which paths it stands before is decided in
one table (``wizpix.front.wiring``), not here.

They are ASGI middlewares because FastAPI (and BentoML) read the whole body before a
route runs. Admission refuses work past ``MAX_IN_FLIGHT`` before a byte of the body is
read, so memory is bounded by in-flight × upload limit. The deadline covers the upload
too: a client that trickles its body holds a slot, and gets 408 rather than holding it
forever. A declared Content-Length over the upload limit is answered 413 at once; a
chunked body is counted as it streams and stopped the moment it passes the limit.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wizpix.core.errors import ApiError, BadInput, TooLarge
from wizpix.core.units import as_mb, whole_number
from wizpix.front.answers import send_error
from wizpix.front.removebg.envelope import is_removebg_path

log = logging.getLogger(__name__)

DEADLINE_HEADER = "X-WizPix-Deadline-Ms"


@dataclass
class Load:
    """Requests admitted and not yet answered, and those refused or cut; shown by /health."""

    limit: int
    in_flight: int = 0
    refused: int = 0
    timed_out: int = 0


class Admission:
    """At most ``load.limit`` requests at once, each within ``deadline_s``."""

    def __init__(self, app: ASGIApp, load: Load, deadline_s: float) -> None:
        self.app, self.load, self.deadline_s = app, load, deadline_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.load.in_flight >= self.load.limit:
            self.load.refused += 1
            overloaded = ApiError(
                "overloaded",
                f"{self.load.limit} requests are already in progress; retry shortly",
                status=503,
                headers={"Retry-After": "2"},
            )
            await send_error(send, overloaded, scope)
            return
        deadline_s = _deadline(scope, self.deadline_s)
        if deadline_s is None:
            message = f"{DEADLINE_HEADER}: must be a whole number of milliseconds, at least 1"
            await send_error(send, ApiError("invalid_request", message, status=422), scope)
            return
        answered = body_read = False

        async def tracked_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def tracked_send(message: Message) -> None:
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


def _deadline(scope: Scope, server_deadline_s: float) -> float | None:
    """The server's deadline, or the client's when it asks for a shorter one: a caller with
    its own time budget should not leave work running that it will not wait for. None: the
    header is there but not a positive whole number (the same 422 on every route)."""
    given = Headers(scope=scope).get(DEADLINE_HEADER)
    if given is None:
        return server_deadline_s
    milliseconds = whole_number(given)
    if not milliseconds:
        return None
    return min(server_deadline_s, milliseconds / 1000)


def _deadline_error(deadline_s: float, body_read: bool) -> ApiError:
    if not body_read:
        return ApiError("upload_timeout", f"the upload did not complete within {deadline_s:g} s", status=408)
    return ApiError(
        "deadline_exceeded",
        f"the request could not be served within {deadline_s:g} s",
        status=504,
        headers={"Retry-After": "5"},
    )


def too_large(limit: int) -> TooLarge:
    """The 413 of an upload past ``limit`` bytes, wherever it is counted."""
    return TooLarge("upload_too_large", f"the upload is larger than the {as_mb(limit)} limit")


class UploadLimit:
    """At most ``max_bytes`` of body, in one of two modes.

    Streamed (our FastAPI routes): the body is counted as the route reads it, and reading
    past the limit raises the 413, which the app's error handlers answer. Whole (BentoML's
    routes, whose reading we cannot answer from): the body is read here first, the 413
    sent from here, a text part where a file belongs (``file_fields``) refused, then the
    body replayed to the route."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, whole: bool = False, file_fields: tuple[str, ...] = ()
    ) -> None:
        self.app, self.max_bytes, self.whole, self.file_fields = app, max_bytes, whole, file_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = whole_number(Headers(scope=scope).get("content-length"))
        if declared is not None and declared > self.max_bytes:
            await send_error(send, too_large(self.max_bytes), scope)
            return
        if self.whole:
            await self._whole(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)

    async def _whole(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await send_error(send, too_large(self.max_bytes), scope)
                return
            if not message.get("more_body", False):
                break
        content_type = Headers(scope=scope).get("content-type", "")
        if (field := text_in_file_field(bytes(body), content_type, self.file_fields)) is not None:
            error = BadInput(
                "file_expected", f"`{field}` must be a file part (filename=…), not text or a URL"
            )
            await send_error(send, error, scope)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def text_in_file_field(body: bytes, content_type: str, fields: tuple[str, ...]) -> str | None:
    """The first of ``fields`` sent as a text part rather than a file, in a multipart body.

    BentoML takes the text of such a part for a URL and downloads it itself, unbounded and
    past ``ALLOW_IMAGE_URL``: WizPix accepts files there, nothing else.
    """
    kind, params = parse_options_header(content_type)
    if not fields or kind != b"multipart/form-data" or b"boundary" not in params:
        return None
    found: list[str] = []
    headers: dict[bytes, bytes] = {}
    name = value = b""

    def header_field(data: bytes, start: int, end: int) -> None:
        nonlocal name
        name += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        nonlocal value
        value += data[start:end]

    def header_end() -> None:
        nonlocal name, value
        headers[name.lower()] = value
        name = value = b""

    def headers_finished() -> None:
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode("latin-1")
        if field in fields and b"filename" not in options:
            found.append(field)
        headers.clear()

    callbacks: dict[str, Any] = {
        "on_header_field": header_field,
        "on_header_value": header_value,
        "on_header_end": header_end,
        "on_headers_finished": headers_finished,
    }
    try:
        MultipartParser(params[b"boundary"], callbacks).write(body)
    except Exception:  # noqa: BLE001 - a malformed body is BentoML's to refuse
        return None
    return found[0] if found else None


def given_key(scope: Scope) -> str:
    """The key a request carries: Bearer, else X-API-Key (remove.bg's clients send that)."""
    headers = Headers(scope=scope)
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key") or ""


class ApiKeyGate:
    """401 (403 on remove.bg's paths, as remove.bg answers) before the body is read: without
    the key a client can neither make the service read a 25 MB upload nor hold one of the
    ``MAX_IN_FLIGHT`` slots. Bearer or X-API-Key, compared in constant time."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
