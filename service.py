"""WizPix on BentoML: a front service with the HTTP routes, and one runner per role.

Runners load their model once, warm it up in the background and take adaptive batches of
model-sized uint8 arrays; the front decodes uploads, picks a runner by the fallback rules,
and composes the cutout. This file sets up the process, makes the two runner services,
and declares the front: its lifecycle and its BentoML APIs. The routes live in
``wizpix.front`` (``routes``, ``removebg``), the guards before them in one table
(``wizpix.front.wiring``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml.exceptions import NotFound
from PIL.Image import Image

from wizpix.core.connections import ConnectionMaxAge
from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import RoleName, TaskState
from wizpix.core.errors import ApiError
from wizpix.core.memory import limit_heap_arenas
from wizpix.core.roles import Role, get_roles
from wizpix.core.settings import get_settings
from wizpix.front.app import create_app
from wizpix.front.bentoml_api import (
    RemoveBackgroundInput,
    RemoveBackgroundsInput,
    RemoveVideoInput,
    answer,
    request_options,
    request_quality,
    video_headers,
)
from wizpix.front.cutter import Cutter
from wizpix.front.draining import drain_on_stop
from wizpix.front.observability import finish, note, start_known_series
from wizpix.front.runner_client import RemoteRunner
from wizpix.front.tasks import batch_key, canceled_in, task_status, task_store, upload_names
from wizpix.front.video_task import VideoOptions, remove_video, video_limits
from wizpix.front.wiring import guarded_by
from wizpix.front.zip_batch import BatchLimits, ProgressBoard, check_limits, remove_backgrounds

limit_heap_arenas()  # every process (front, runners) imports this file first
SETTINGS = get_settings()  # read once; an invalid value stops start-up here
ROLES = get_roles()
logging.getLogger("wizpix").setLevel(logging.INFO)
app = create_app(SETTINGS)
# BentoML's own timeouts sit behind ours, so that our 408/504 with a JSON body comes first.
TRAFFIC_TIMEOUT_S = SETTINGS.request_timeout_s + 10
# Declared, so that a runner reached by URL (JSON, not pickle) still gets uint8 pixels.
UINT8 = Annotated[np.ndarray, bentoml.validators.DType("uint8")]


def serving_as(argv: list[str]) -> str | None:
    """The service this process is a BentoML worker of (``--service-name``), or None."""
    return argv[argv.index("--service-name") + 1] if "--service-name" in argv[:-1] else None


if serving_as(sys.argv) in {role.service_name for role in ROLES.values()}:
    # A runner's process: BentoML builds its app from this module once it is imported, with
    # our dispatcher for adaptive batching (no learning phase; see the module).
    from wizpix.runner.dispatcher import install

    install()


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
        # BentoML's client replaces its session every 100 calls and closes the old one with
        # calls still on it: the runner did them, the front saw ServerDisconnectedError and
        # sent them again (6 in 400 calls, reproduced). One session for the process instead.
        runner_connection={"max_requests": 2**31 - 1, "max_age": 1e9},
    )
    class Runner:
        if in_store(role.store_name):
            # What `bentoml build` packs: the configured model. BentoML resolves declared
            # models before serving, so a model not in the store is not declared: the
            # service then starts degraded instead of not at all.
            weights = bentoml.models.BentoModel(f"{role.store_name}:latest")

        def __init__(self) -> None:
            # runner side only: the front never loads models
            from wizpix.runner.factory import build_slot
            from wizpix.runner.priority import lower_cpu_priority

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
            status: RunnerStatus = self.slot.status()
            return status.model_dump(mode="json")

    Runner.add_asgi_middleware(ConnectionMaxAge, max_age_s=SETTINGS.runner_connection_max_age_s)
    return Runner


FastRunner = runner_service(ROLES[RoleName.FAST])
ProRunner = runner_service(ROLES[RoleName.PRO])


@guarded_by(app)
# No runner probe on /readyz: a front that lost a runner still answers (pro by fast, and
# /health says degraded), so it stays in its load balancer. With BentoML's probe on, one pro
# replica killed made every front's /readyz wait on it, and the ingress took them all out.
@bentoml.service(name="wizpix", traffic={"timeout": TRAFFIC_TIMEOUT_S}, runner_probe={"enabled": False})
@bentoml.asgi_app(app, path="/")
class WizPix:
    # Scaled apart, each runner is a process of its own elsewhere: BentoML's own
    # `start-http-server --depends wizpix-fast=URL` points the front at it (deploy/kubernetes.yaml).
    fast = bentoml.depends(FastRunner)
    pro = bentoml.depends(ProRunner)

    def __init__(self) -> None:
        runners = {
            RoleName.FAST: RemoteRunner(self.fast, "fast"),
            RoleName.PRO: RemoteRunner(self.pro, "pro"),
        }
        self.cutter = Cutter(SETTINGS, ROLES, runners)
        app.state.front.cutter = self.cutter  # what the routes receive
        start_known_series(ROLES)  # alerts can be written before the first fallback
        self.batches = ProgressBoard()
        self.batch_gate = asyncio.Semaphore(SETTINGS.batch_concurrency)  # shared by all batches
        self.batch_limits = BatchLimits.from_settings(SETTINGS)

    def __is_ready__(self) -> bool:
        # with a blocking warmup, /readyz waits until both runners have warmed their model
        if app.state.front.load.draining:
            return False
        return not (SETTINGS.warmup_blocking and not self.cutter.readiness.all_ready)

    @bentoml.on_startup
    async def start(self) -> None:
        drain_on_stop(app.state.front.load, SETTINGS.shutdown_grace_s)
        # in the background: the front answers /health (warming up) meanwhile
        self._watching = asyncio.get_running_loop().create_task(self.cutter.readiness.watch())

    # --- BentoML's own APIs: what `bentoml.SyncHTTPClient` and `bentoml.depends` can call ---

    @bentoml.api(input_spec=RemoveBackgroundInput)
    async def remove_background(
        self,
        ctx: bentoml.Context,
        image: Path,
        quality: Any,
        keep: Path | None = None,
        remove: Path | None = None,
        **options: Any,
    ) -> Image:
        """Cut the subject out of an image: /remove-bg for BentoML clients, headers alike."""
        note(ctx.request.state, asked=str(quality))
        try:
            role, chosen = request_options(quality, options)
            data, *strokes = await asyncio.to_thread(
                lambda: [path.read_bytes() if path else None for path in (image, keep, remove)]
            )
            cutout = await self.cutter.remove_background(data, role, chosen, strokes=tuple(strokes))
        except ApiError as error:
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
            check_limits([path.stat().st_size for path in images], self.batch_limits)
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
            max_output_bytes=SETTINGS.batch_max_output_bytes,
            canceled=partial(self._stop_batch, batch_id, is_task),
            task_id=batch_id,
        )
        ctx.response.headers["Content-Disposition"] = 'attachment; filename="cutouts.zip"'
        return answer(ctx, archive, "application/zip")

    @bentoml.task(input_spec=RemoveVideoInput)
    async def remove_video(
        self, ctx: bentoml.Context, video: Path, quality: Any, background: Path | None = None, **options: Any
    ) -> Annotated[Path, bentoml.validators.ContentType("video/webm")]:
        """A video cut out frame by frame: WebM with alpha (default), ProRes 4444, H.264 or PNGs."""
        task_id, is_task = batch_key(ctx)
        started = time.perf_counter()
        progress = self.batches.start(task_id, None)  # frames: known once the clip is opened
        try:
            role, chosen = request_quality(quality), VideoOptions.parse(options)
            data, media_type, served = await remove_video(
                self.cutter,
                video,
                role,
                chosen,
                progress,
                video_limits(SETTINGS),
                stop=partial(self._stop_batch, task_id, is_task),
                background=None if background is None else await asyncio.to_thread(background.read_bytes),
                max_image_pixels=SETTINGS.max_image_pixels,
            )
        except ApiError as error:
            self.batches.finish(task_id, TaskState.CANCELED if error.code == "canceled" else TaskState.FAILED)
            finish({"request_id": task_id, "asked": str(quality), "error": error.code}, error.status, 0)
            return answer(ctx, error)
        self.batches.finish(task_id, TaskState.COMPLETED)
        facts = served.facts()
        elapsed_ms = 1000 * (time.perf_counter() - started)
        finish({"request_id": task_id, "asked": str(role), **facts}, 200, elapsed_ms)
        ctx.response.headers.update(video_headers(facts, chosen.format))
        return answer(ctx, data, media_type)

    async def _stop_batch(self, batch_id: str, is_task: bool) -> bool:
        """Between two images: the service is stopping, or the task was canceled."""
        return app.state.front.load.draining or (is_task and await canceled_in(task_store(), batch_id))

    @bentoml.api
    async def batch_progress(self, ctx: bentoml.Context, task_id: str) -> dict:
        """How far a remove_backgrounds task of this front process has got."""
        if (progress := self.batches.get(task_id)) is not None:
            return answer(ctx, progress.as_dict())
        # submitted, and BentoML still reading its files: the batch has not started yet
        if await asyncio.to_thread(task_status, task_store(), task_id) == "in_progress":
            return answer(ctx, {"state": "pending"})
        return answer(ctx, ApiError("unknown_task", f"no batch {task_id} in this process", status=404))
