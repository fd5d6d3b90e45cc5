"""WizPix as BentoML sees it: typed inputs for its APIs, built from the one OutputOptions.

BentoML's Python client and ``bentoml.depends`` can only call ``@bentoml.api`` methods, not
the FastAPI routes. Their inputs are the ``/remove-bg`` options field for field, generated
from ``OutputOptions`` so that a new option needs no second declaration; the answer is the
same ``Cutout`` the route sends, headers included.

BentoML validates a typed input before the method runs and answers a mismatch with an error
body of its own. So the options are declared loosely here (documented with their schema)
and checked by ``OutputOptions`` in the method, which answers our ``422 invalid_request``
as ``/remove-bg`` does. BentoML also parses multipart fields as JSON (``-F crop_margin=4``
arrives as a number), and OutputOptions coerces them as the query string's text would be.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import bentoml
from pydantic import Field, ValidationError, create_model
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import RouteMiddleware
from .batch import BatchLimits
from .enums import RoleName
from .errors import ApiError, BadInput
from .frontend import Cutout
from .limits import Admission, ApiKeyGate, Load, send_error, too_large
from .observability import RequestLog
from .output import OutputOptions
from .settings import Settings

_SCHEMAS = OutputOptions.model_json_schema()["properties"]
_OPTIONS: dict[str, Any] = {
    name: (Any, Field(info.default, description=info.description, json_schema_extra=_SCHEMAS[name]))
    for name, info in OutputOptions.model_fields.items()
}
_QUALITY = (
    Any,
    Field(
        RoleName.FAST.value,
        description="fast: rembg; pro: ISNet/BiRefNet",
        json_schema_extra={"enum": [role.value for role in RoleName]},
    ),
)

RemoveBackgroundInput = create_model(
    "RemoveBackgroundInput",
    __base__=bentoml.IODescriptor,
    image=(Path, Field(description="The image (JPEG, PNG, WebP, HEIC, AVIF, …)")),
    quality=_QUALITY,
    **_OPTIONS,
)
RemoveBackgroundsInput = create_model(
    "RemoveBackgroundsInput",
    __base__=bentoml.IODescriptor,
    images=(list[Path], Field(description="The images, one multipart part each")),
    quality=_QUALITY,
    **_OPTIONS,
)


def request_options(quality: Any, fields: dict[str, Any]) -> tuple[RoleName, OutputOptions]:
    """The quality and options of a typed call, validated as those of ``/remove-bg`` are."""
    try:
        role = RoleName(str(quality))
    except ValueError:
        allowed = ", ".join(role.value for role in RoleName)
        raise ApiError("invalid_request", f"quality: must be one of {allowed}", status=422) from None
    try:
        return role, OutputOptions(**fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ApiError("invalid_request", problems, status=422) from None


def answer(
    ctx: bentoml.Context, result: Cutout | ApiError | bytes | dict, media_type: str | None = None
) -> Response:
    """The HTTP answer of a typed API: the cutout with its headers, bytes, JSON or our error.

    BentoML copies ``ctx.response``'s status onto a returned response, so it is set here.
    """
    if isinstance(result, ApiError):
        ctx.response.status_code = result.status
        return JSONResponse(result.body(), status_code=result.status, headers=result.headers)
    ctx.response.status_code = 200
    if isinstance(result, dict):
        return JSONResponse(result)
    if isinstance(result, bytes):
        return Response(result, media_type=media_type)
    return Response(result.data, media_type=media_type or result.media_type, headers=result.headers)


def task_status(store: str, task_id: str) -> str | None:
    """A task's status in BentoML's local task store (SQLite), or None when it has no such
    task. Its local server records a cancel there but does not stop the task: the batch
    reads it between images."""
    try:
        uri = Path(store).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=1)) as connection:
            row = connection.execute("SELECT status FROM result WHERE task_id = ?", (task_id,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def batch_key(ctx: bentoml.Context) -> tuple[str, bool]:
    """The batch's id for its progress: BentoML's task id, or a new one for a plain call."""
    task_id = getattr(ctx.request.state, "task_id", None)
    return (task_id, True) if task_id else (f"sync-{uuid.uuid4().hex}", False)


async def canceled_in(store: str, task_id: str) -> bool:
    return await asyncio.to_thread(task_status, store, task_id) == "canceled"


def upload_names(paths: list[Path]) -> list[str]:
    """The files' names as the client sent them. BentoML keeps each part in a temporary
    file named ``tmp`` + 8 random characters + the part's file name (tempfile's naming)."""
    return [
        path.name[11:] if path.name.startswith("tmp") and len(path.name) > 11 else path.name for path in paths
    ]


def text_in_file_field(body: bytes, content_type: str, fields: tuple[str, ...]) -> str | None:
    """The first of ``fields`` sent as a text part rather than a file, in a multipart body.

    BentoML takes the text of such a part for a URL and downloads it itself, unbounded and
    past ``ALLOW_IMAGE_URL``: WizPix accepts files there, nothing else.
    """
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
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

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
        },
    )
    try:
        parser.write(body)
    except Exception:  # noqa: BLE001 - a malformed body is BentoML's to refuse
        return None
    return found[0] if found else None


class WholeUpload(RouteMiddleware):
    """The upload of a BentoML route read whole before BentoML sees it: 413 past
    ``max_bytes`` answered here (an error raised while BentoML reads would be its 500), a
    text part where a file belongs refused, then the body replayed."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, file_fields: tuple[str, ...], paths: tuple[str, ...]
    ) -> None:
        super().__init__(app, paths)
        self.max_bytes, self.file_fields = max_bytes, file_fields

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = too_large(self.max_bytes)
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, refused, scope)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await send_error(send, refused, scope)
                return
            if not message.get("more_body", False):
                break
        field = text_in_file_field(bytes(body), headers.get("content-type", ""), self.file_fields)
        if field is not None:
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


TYPED = ("/remove_background",)
BATCH = ("/remove_backgrounds", "/remove_backgrounds/submit")
TASKS = (*(f"/remove_backgrounds/{step}" for step in ("status", "get", "retry", "cancel")), "/batch_progress")


def guard_typed_routes(service: Any, settings: Settings, load: Load, batch: BatchLimits) -> None:
    """The middlewares of /remove-bg around BentoML's own API routes, which are not the
    mounted app's: a typed call meets the same key, admission, deadline, size limit and
    request log. A task runs after its submit is answered, so only the key and the
    upload limit stand before it (its images each get the deadline)."""
    service.add_asgi_middleware(RequestLog, paths=TYPED)
    if settings.api_key:
        key = settings.api_key.get_secret_value()
        service.add_asgi_middleware(ApiKeyGate, key=key, paths=TYPED + BATCH + TASKS)
    service.add_asgi_middleware(Admission, load=load, deadline_s=settings.request_timeout_s, paths=TYPED)
    upload = int(settings.max_upload_mb * 2**20)
    service.add_asgi_middleware(WholeUpload, max_bytes=upload, file_fields=("image",), paths=TYPED)
    # a batch's files may total BATCH_MAX_MB, plus the multipart framing around them
    service.add_asgi_middleware(
        WholeUpload, max_bytes=batch.max_bytes + 2**20, file_fields=("images",), paths=BATCH
    )
