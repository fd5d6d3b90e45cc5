"""WizPix on BentoML: a front service with the HTTP routes, and one runner per quality.

Runners load their model once, warm it up in the background and take adaptive batches
of model-sized uint8 arrays; the front decodes uploads, picks a runner by the fallback
rules, and composes the cutout. Logic lives in the ``wizpix`` package; this file wires it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml.exceptions import NotFound
from fastapi import Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from PIL.Image import Image

from wizpix.api import ERROR_SCHEMA, create_app, one_file
from wizpix.batch import BatchLimits, ProgressBoard, check_limits, remove_backgrounds
from wizpix.enums import RoleName
from wizpix.errors import ApiError
from wizpix.frontend import Cutter
from wizpix.limits import DEADLINE_HEADER
from wizpix.memory import limit_heap_arenas
from wizpix.observability import note, start_known_series
from wizpix.output import OutputOptions
from wizpix.priority import lower_cpu_priority
from wizpix.remote import RemoteRunner
from wizpix.roles import Role, get_roles
from wizpix.settings import get_settings
from wizpix.typed_api import (
    RemoveBackgroundInput,
    RemoveBackgroundsInput,
    answer,
    batch_key,
    canceled_in,
    guard_typed_routes,
    request_options,
    task_status,
    upload_names,
)

limit_heap_arenas()  # every process (front, runners) imports this file first
SETTINGS = get_settings()  # read once; an invalid value stops start-up here
ROLES = get_roles()
logging.getLogger("wizpix").setLevel(logging.INFO)
app = create_app(
    max_upload_bytes=int(SETTINGS.max_upload_mb * 2**20),
    max_in_flight=SETTINGS.max_in_flight,
    deadline_s=SETTINGS.request_timeout_s,
    api_key=SETTINGS.api_key.get_secret_value() if SETTINGS.api_key else None,
)
# BentoML's own timeouts sit behind ours, so that our 408/504 with a JSON body comes first.
TRAFFIC_TIMEOUT_S = SETTINGS.request_timeout_s + 10


# Declared, so that a runner reached by URL (JSON, not pickle) still gets uint8 pixels.
UINT8 = Annotated[np.ndarray, bentoml.validators.DType("uint8")]


def in_store(name: str | None) -> bool:
    if name is None:
        return False
    try:
        bentoml.models.get(f"{name}:latest")
    except NotFound:
        return False
    return True


def runner_service(role: Role) -> Any:
    """A runner: one model slot behind a batchable predict and a status call."""

    @bentoml.service(
        name=role.service_name,
        workers=1,
        traffic={"timeout": TRAFFIC_TIMEOUT_S, "max_concurrency": 64},
    )
    class Runner:
        if in_store(role.store_name):
            # What `bentoml build` packs: the configured model. BentoML resolves declared
            # models before serving, so a model not in the store is not declared: the
            # service then starts degraded instead of not at all.
            weights = bentoml.models.BentoModel(f"{role.store_name}:latest")

        def __init__(self) -> None:
            from wizpix.loading import build_slot  # runner side only: the front never loads models

            # before any model thread exists, so that every thread inherits it
            lower_cpu_priority(role.cpu_nice)
            self.slot = build_slot(role, SETTINGS)
            self.slot.start()

        def __is_ready__(self) -> bool:
            return self.slot.ready_for_traffic

        @bentoml.api(batchable=True, max_batch_size=role.max_batch_size, max_latency_ms=role.max_latency_ms)
        def predict(self, images: UINT8) -> UINT8:
            return self.slot.predict(images)

        @bentoml.api
        async def status(self) -> dict:
            # async: answered on the event loop, never queued behind an inference thread
            return self.slot.status()

    return Runner


FastRunner = runner_service(ROLES[RoleName.FAST])
ProRunner = runner_service(ROLES[RoleName.PRO])


@bentoml.service(name="wizpix", traffic={"timeout": TRAFFIC_TIMEOUT_S})
@bentoml.asgi_app(app, path="/")
class WizPix:
    # With FAST_RUNNER_URL / PRO_RUNNER_URL set, the runners run elsewhere (scaled apart).
    fast = bentoml.depends(FastRunner, url=ROLES[RoleName.FAST].runner_url)
    pro = bentoml.depends(ProRunner, url=ROLES[RoleName.PRO].runner_url)

    def __init__(self) -> None:
        runners = {RoleName.FAST: RemoteRunner(self.fast), RoleName.PRO: RemoteRunner(self.pro)}
        self.cutter = Cutter(SETTINGS, ROLES, runners)
        app.state.cutter = self.cutter  # for routes added outside this class (wizpix.api)
        start_known_series(ROLES)  # alerts can be written before the first fallback
        self.batches = ProgressBoard()
        self.batch_gate = asyncio.Semaphore(SETTINGS.batch_concurrency)  # shared by all batches

    def __is_ready__(self) -> bool:
        # a blocking warmup includes the runners' dispatchers (/readyz waits for both)
        return not (SETTINGS.warmup_blocking and self.cutter.training)

    @bentoml.on_startup
    async def train_dispatchers(self) -> None:
        # in the background: the front answers /health (warming up) while it runs
        self._training = asyncio.get_running_loop().create_task(self.cutter.warm_dispatchers())

    @app.post(
        "/remove-bg",
        dependencies=[Depends(one_file)],
        response_class=Response,
        summary="Cut the subject out of an image",
        responses={
            200: {"content": {"image/png": {}, "image/webp": {}}},
            400: ERROR_SCHEMA,
            401: ERROR_SCHEMA,
            408: ERROR_SCHEMA,
            413: ERROR_SCHEMA,
            422: ERROR_SCHEMA,
            503: ERROR_SCHEMA,
            504: ERROR_SCHEMA,
        },
    )
    async def remove_bg(
        self,
        request: Request,
        file: Annotated[UploadFile, File(description="The image (JPEG, PNG, WebP, …)")],
        quality: Annotated[
            RoleName, Query(description="fast: rembg; pro: ISNet/BiRefNet", examples=["pro"])
        ] = RoleName.FAST,
        options: Annotated[OutputOptions, Query()] = OutputOptions(),  # noqa: B008 - a frozen value
        # enforced by the Admission middleware before the body is read; declared here so
        # that a bad value is a 422 and the header is in the OpenAPI schema
        deadline_ms: Annotated[
            int | None,
            Header(
                alias=DEADLINE_HEADER,
                gt=0,
                description="Give up after this many ms (504) if sooner than the server's deadline",
            ),
        ] = None,
    ) -> Response:
        note(request.state, asked=quality)
        cutout = await self.cutter.remove_background(await file.read(), quality, options)
        note(request.state, **cutout.facts)
        return Response(cutout.data, media_type=cutout.media_type, headers=cutout.headers)

    @app.get("/health", summary="Models, warmup, device and overall status")
    async def health(self) -> JSONResponse:
        return JSONResponse({**await self.cutter.health(), "requests": asdict(app.state.load)})

    # --- BentoML's own APIs: what `bentoml.SyncHTTPClient` and `bentoml.depends` can call ---

    @bentoml.api(input_spec=RemoveBackgroundInput)
    async def remove_background(
        self, ctx: bentoml.Context, image: Path, quality: Any, **options: Any
    ) -> Image:
        """Cut the subject out of an image: /remove-bg for BentoML clients, headers alike."""
        note(ctx.request.state, asked=str(quality))
        try:
            role, chosen = request_options(quality, options)
            data = await asyncio.to_thread(image.read_bytes)
            cutout = await self.cutter.remove_background(data, role, chosen)
        except ApiError as error:
            note(ctx.request.state, error=error.code)
            return answer(ctx, error)
        note(ctx.request.state, **cutout.facts)
        return answer(ctx, cutout)

    @bentoml.task(input_spec=RemoveBackgroundsInput)
    async def remove_backgrounds(
        self, ctx: bentoml.Context, images: list[Path], quality: Any, **options: Any
    ) -> Annotated[Path, bentoml.validators.ContentType("application/zip")]:
        """Many images, one zip: a cutout per image and report.json. A bad file fails alone."""
        batch_id, is_task = batch_key(ctx)
        try:
            check_limits([path.stat().st_size for path in images], BATCH_LIMITS)
            role, chosen = request_options(quality, options)
        except ApiError as error:
            return answer(ctx, error)
        progress = self.batches.start(batch_id, len(images))
        archive = await remove_backgrounds(
            self.cutter,
            list(zip(upload_names(images), images, strict=True)),
            role,
            chosen,
            progress,
            deadline_s=SETTINGS.request_timeout_s,
            gate=self.batch_gate,
            max_output_bytes=int(SETTINGS.batch_max_output_mb * 2**20),
            canceled=partial(canceled_in, TASK_STORE, batch_id) if is_task else None,
            task_id=batch_id,
        )
        ctx.response.headers["Content-Disposition"] = 'attachment; filename="cutouts.zip"'
        return answer(ctx, archive, "application/zip")

    @bentoml.api
    async def batch_progress(self, ctx: bentoml.Context, task_id: str) -> dict:
        """How far a remove_backgrounds task of this front process has got."""
        if (progress := self.batches.get(task_id)) is not None:
            return answer(ctx, progress.as_dict())
        # submitted, and BentoML still reading its files: the batch has not started yet
        if await asyncio.to_thread(task_status, TASK_STORE, task_id) == "in_progress":
            return answer(ctx, {"state": "pending"})
        return answer(ctx, ApiError("unknown_task", f"no batch {task_id} in this process", status=404))


TASK_STORE = BentoMLContainer.result_store_file.get()
BATCH_LIMITS = BatchLimits(SETTINGS.batch_max_files, int(SETTINGS.batch_max_mb * 2**20))
guard_typed_routes(WizPix, SETTINGS, app.state.load, BATCH_LIMITS)
