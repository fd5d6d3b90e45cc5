"""The outermost guard: every error on a guarded path leaves in our envelope, and no
exception gets past it."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wizpix.core.errors import ApiError, problems
from wizpix.front.answers import send_error

log = logging.getLogger(__name__)

# What an error of BentoML's own (or of any library below us) is called in our envelope.
CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "upload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "busy",
    503: "unavailable",
    504: "deadline_exceeded",
}


class Envelope:
    """The outermost guard: every error leaves in our envelope, no exception gets past.

    Below it, BentoML answers what it refuses in shapes of its own (``{"error": "…",
    "detail": […]}``, a list, text), and an exception raised before anything is sent is
    worse than a 500: BentoML's timeout middleware then holds the connection until its
    traffic timeout (130 s) and uvicorn sends a bare 500. Here an error response that is
    not already ours is rewritten (its status kept, a 5xx told as ``internal_error``
    without internals), and an exception becomes our logged 500 at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        held: Message | None = None  # an error's start, until its body says whose error it is
        body = bytearray()

        async def enveloped(message: Message) -> None:
            nonlocal started, held
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 400:
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._answer(scope, send, held, bytes(body))
                return
            await send(message)

        try:
            await self.app(scope, receive, enveloped)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started and held is None:
                raise  # the answer is on its way: nothing sound can be sent any more
            await send_error(
                send, ApiError("internal_error", "the service failed to process this request"), scope
            )

    @staticmethod
    async def _answer(scope: Scope, send: Send, start: Message, body: bytes) -> None:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        ours = isinstance(data, dict) and (
            (isinstance(data.get("error"), dict) and "code" in data["error"])
            or isinstance(data.get("errors"), list)
        )
        if ours:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        status = start["status"]
        if status >= 500:
            log.error(
                "%s %s answered %s by a layer below ours: %s",
                scope.get("method"),
                scope.get("path"),
                status,
                body[:300],
            )
            error = ApiError("internal_error", "the service failed to process this request", status=500)
        else:
            error = ApiError(
                CODES.get(status, "invalid_request"), _their_message(data, body, status), status=status
            )
        kept = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", []) if k.lower() in KEPT
        }
        error.headers.update(kept)
        await send_error(send, error, scope)


KEPT = (b"retry-after", b"x-request-id", b"allow", b"www-authenticate")


def _their_message(data: Any, body: bytes, status: int) -> str:
    """What a lower layer said was wrong, as one line."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # BentoML's BentoMLException answer is a one-item list
    if isinstance(data, dict):
        if isinstance(detail := data.get("detail"), list) and all(
            isinstance(d, dict) and "loc" in d for d in detail
        ):
            return problems(detail)
        if isinstance(text := data.get("error") or data.get("detail"), str):
            return text[:300]
    text = body.decode("utf-8", "replace").strip()
    return text[:300] or f"HTTP {status}"
