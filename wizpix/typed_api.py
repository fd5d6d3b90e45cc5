"""WizPix as BentoML sees it: typed inputs for its APIs, built from the one OutputOptions.

BentoML's Python client and ``bentoml.depends`` can only call ``@bentoml.api`` methods, not
the FastAPI routes. Their inputs are the ``/remove-bg`` options field for field, generated
from ``OutputOptions`` so that a new option needs no second declaration; the answer is the
same ``Cutout`` the route sends, headers included.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import bentoml
from pydantic import Field, ValidationError, create_model
from starlette.responses import JSONResponse, Response

from .batch import BatchLimits
from .enums import RoleName
from .errors import ApiError
from .frontend import Cutout
from .limits import Admission, ApiKeyGate, Load, UploadLimit
from .observability import RequestLog
from .output import OutputOptions
from .settings import Settings

_OPTIONS: dict[str, Any] = {
    name: (info.annotation, info) for name, info in OutputOptions.model_fields.items()
}
_QUALITY = (RoleName, Field(RoleName.FAST, description="fast: rembg; pro: ISNet/BiRefNet"))

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


def output_options(fields: dict[str, Any]) -> OutputOptions:
    """The options of a typed call, validated as those of ``/remove-bg`` are."""
    try:
        return OutputOptions(**fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ApiError("invalid_request", problems, status=422) from None


def answer(
    ctx: bentoml.Context, result: Cutout | ApiError | bytes, media_type: str | None = None
) -> Response:
    """The HTTP answer of a typed API: the cutout with its headers, bytes, or our error body.

    BentoML copies ``ctx.response``'s status onto a returned response, so it is set here.
    """
    if isinstance(result, ApiError):
        ctx.response.status_code = result.status
        return JSONResponse(result.body(), status_code=result.status, headers=result.headers)
    ctx.response.status_code = 200
    if isinstance(result, bytes):
        return Response(result, media_type=media_type)
    return Response(result.data, media_type=media_type or result.media_type, headers=result.headers)


def task_canceled(store: str, task_id: str) -> bool:
    """Whether BentoML's task store marks ``task_id`` canceled. Its local server records a
    cancel there but does not stop the task: the batch reads it between images."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as connection:
            row = connection.execute("SELECT status FROM result WHERE task_id = ?", (task_id,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == "canceled"


def upload_names(paths: list[Path]) -> list[str]:
    """The files' names as the client sent them. BentoML keeps each part in a temporary
    file named ``tmp`` + 8 random characters + the part's file name (tempfile's naming)."""
    return [
        path.name[11:] if path.name.startswith("tmp") and len(path.name) > 11 else path.name for path in paths
    ]


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
    service.add_asgi_middleware(UploadLimit, max_bytes=int(settings.max_upload_mb * 2**20), paths=TYPED)
    # a batch's files may total BATCH_MAX_MB, plus the multipart framing around them
    service.add_asgi_middleware(UploadLimit, max_bytes=batch.max_bytes + 2**20, paths=BATCH)
