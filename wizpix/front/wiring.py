"""Which guards stand before which paths: one table, installed once around everything.

The same table guards our FastAPI routes and BentoML's own API and task routes: it is
installed on the BentoML service (``guarded_by``), whose middlewares wrap the mounted app
too, or, in tests without BentoML, around the FastAPI app itself (``with_guards``). The
rows are in order, outermost first: the envelope turns every error into ours and every
exception into a 500 at once; the request log sees every answer, refusals included;
the key is checked before a slot is taken; admission before a byte of the body is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from wizpix.core.connections import ConnectionMaxAge
from wizpix.core.settings import Settings
from wizpix.core.units import MIB
from wizpix.front.envelope import Envelope
from wizpix.front.guards import Admission, ApiKeyGate, Load, UploadLimit
from wizpix.front.observability import RequestLog

# The routes that cut one image: FastAPI's and BentoML's typed API.
NATIVE, REMOVEBG, TYPED = "/remove-bg", "/v1.0/removebg", "/remove_background"
CUT = (NATIVE, REMOVEBG, TYPED)
ACCOUNT = "/v1.0/account"
# BentoML's task routes: a task runs after its submit is answered, so only the key and the
# upload limit stand before it (its images each get the deadline).
BATCH = ("/remove_backgrounds", "/remove_backgrounds/submit")
VIDEO = ("/remove_video", "/remove_video/submit")
STEPS = ("status", "get", "retry", "cancel")
TASKS = (
    *(f"/{task}/{step}" for task in ("remove_backgrounds", "remove_video") for step in STEPS),
    "/batch_progress",
)

Options = Callable[[Settings, Load], dict[str, Any] | None]  # None: not installed


@dataclass(frozen=True)
class Guard:
    middleware: type
    paths: tuple[str, ...]
    options: Options


GUARDED = (*CUT, ACCOUNT, *BATCH, *VIDEO, *TASKS)

GUARDS = (
    Guard(Envelope, GUARDED, lambda settings, load: {}),
    Guard(RequestLog, CUT, lambda settings, load: {}),
    Guard(
        ApiKeyGate,
        GUARDED,
        lambda settings, load: {"key": settings.api_key.get_secret_value()} if settings.api_key else None,
    ),
    Guard(Admission, CUT, lambda settings, load: {"load": load, "deadline_s": settings.request_timeout_s}),
    # Ours read the body as they go; BentoML's are read here whole, and refused from here.
    Guard(UploadLimit, (NATIVE, REMOVEBG), lambda settings, load: {"max_bytes": settings.max_upload_bytes}),
    Guard(
        UploadLimit,
        (TYPED,),
        lambda settings, load: {
            "max_bytes": settings.max_upload_bytes,
            "whole": True,
            "file_fields": ("image", "keep", "remove"),
        },
    ),
    Guard(
        UploadLimit,
        BATCH,
        # a batch's files may total BATCH_MAX_MB, plus the multipart framing around them
        lambda settings, load: {
            "max_bytes": settings.batch_max_bytes + MIB,
            "whole": True,
            "file_fields": ("images",),
        },
    ),
    Guard(
        UploadLimit,
        VIDEO,
        lambda settings, load: {
            "max_bytes": settings.video_max_bytes + MIB,
            "whole": True,
            "file_fields": ("video", "background"),  # a URL as text: BentoML would fetch it
        },
    ),
    # a task id and no more: read and checked here like every body BentoML reads
    Guard(UploadLimit, TASKS, lambda settings, load: {"max_bytes": MIB, "whole": True}),
)


class Guards:
    """The table as one ASGI middleware: each guarded path gets its chain, built once;
    every other path (health, metrics, the page, the docs) goes straight through."""

    def __init__(self, app: ASGIApp, settings: Settings, load: Load) -> None:
        self.app = app
        self.chains: dict[str, ASGIApp] = {}
        for path in {path for guard in GUARDS for path in guard.paths}:
            chain = app
            for guard in reversed(GUARDS):
                if path in guard.paths and (options := guard.options(settings, load)) is not None:
                    chain = guard.middleware(chain, **options)
            self.chains[path] = chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chain = self.chains.get(scope["path"]) if scope["type"] == "http" else None
        await (chain or self.app)(scope, receive, send)


def with_guards(app: FastAPI) -> Guards:
    """The FastAPI app behind the table, as BentoML would serve it (for in-process tests)."""
    front = app.state.front
    return Guards(app, front.settings, front.load)


Service = TypeVar("Service")


def guarded_by(app: FastAPI) -> Callable[[Service], Service]:
    """A decorator for the BentoML service that mounts ``app``: the table before every route,
    and keep-alive connections that end (wizpix.core.connections), as the runners have."""

    def install(service: Service) -> Service:
        front = app.state.front
        service.add_asgi_middleware(Guards, settings=front.settings, load=front.load)  # type: ignore[attr-defined]
        max_age_s = front.settings.connection_max_age_s
        service.add_asgi_middleware(ConnectionMaxAge, max_age_s=max_age_s)  # type: ignore[attr-defined]
        return service

    return install
