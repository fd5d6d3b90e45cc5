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
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wizpix.core.errors import ApiError, TooLarge
from wizpix.core.units import as_mb, whole_number
from wizpix.front.answers import send_error
from wizpix.front.bodies import body_problem
from wizpix.front.pacing import DEADLINE
from wizpix.front.removebg.envelope import is_removebg_path

log = logging.getLogger(__name__)

DEADLINE_HEADER = "X-WizPix-Deadline-Ms"


@dataclass
class Load:
    """Requests admitted and not yet answered, and those refused or cut; shown by /health.

    Draining (the service was told to stop): new requests are refused with a 503, and
    every request in flight gets until ``drain``'s grace at most, then a 503 too; so a
    stopped front is gone in seconds, every request answered."""

    limit: int
    in_flight: int = 0
    refused: int = 0
    timed_out: int = 0
    draining: bool = False
    _deadlines: set[asyncio.Timeout] = field(default_factory=set, repr=False)

    def report(self) -> dict[str, int | bool]:
        """What /health shows."""
        return {
            "limit": self.limit,
            "in_flight": self.in_flight,
            "refused": self.refused,
            "timed_out": self.timed_out,
            "draining": self.draining,
        }

    def admit(self, deadline: asyncio.Timeout) -> None:
        """A request in flight, cut at ``deadline`` (which a drain may bring forward)."""
        self.in_flight += 1
        self._deadlines.add(deadline)

    def release(self, deadline: asyncio.Timeout) -> None:
        self.in_flight -= 1
        self._deadlines.discard(deadline)

    def drain(self, grace_s: float) -> None:
        self.draining = True
        until = asyncio.get_running_loop().time() + grace_s
        for deadline in self._deadlines:
            if (when := deadline.when()) is None or when > until:
                deadline.reschedule(until)


def shutting_down() -> ApiError:
    return ApiError(
        "shutting_down",
        "the service is stopping; retry, another instance will answer",
        status=503,
        headers={"Retry-After": "1"},
    )


class Admission:
    """At most ``load.limit`` requests at once, each within ``deadline_s``."""

    def __init__(self, app: ASGIApp, load: Load, deadline_s: float) -> None:
        self.app, self.load, self.deadline_s = app, load, deadline_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.load.draining:
            await send_error(send, shutting_down(), scope)
            return
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

        deadline = asyncio.timeout(deadline_s)
        self.load.admit(deadline)
        try:
            async with deadline:
                DEADLINE.set(asyncio.get_running_loop().time() + deadline_s)  # for the pacers
                await self.app(scope, tracked_receive, tracked_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            self.load.timed_out += 1
            log.warning("request cut at its %gs deadline (body read: %s)", deadline_s, body_read)
            if not answered:
                error = shutting_down() if self.load.draining else _deadline_error(deadline_s, body_read)
                await send_error(send, error, scope)
        finally:
            self.load.release(deadline)


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
    sent from here, a body BentoML could not read (or would fetch a URL from, in
    ``file_fields``) refused with what is wrong (``wizpix.front.bodies``), then the body
    replayed to the route."""

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
        if (problem := body_problem(bytes(body), content_type, self.file_fields)) is not None:
            await send_error(send, problem, scope)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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
