"""The front service's work for one request, independent of BentoML.

decode → choose a runner → send it a model-sized array → scale the mask back → compose →
encode. Runners are reached through a two-method client, so the same code runs against
BentoML's remote proxies in production and against in-process runners in tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from anyio import to_thread
from PIL import Image

from .catalog import Preprocess
from .enums import ModelState, RoleName, WarmupState
from .errors import ApiError, Unavailable
from .fallback import INFERENCE_ERROR, Route, choose_route, route_after_pro_error
from .health import health_report
from .imaging import decode_image, model_input, resize_mask
from .mask_cache import MaskCache, MaskKey
from .memory import release_free_memory
from .observability import MASK_CACHE_BYTES
from .output import OutputOptions, Rendered, render
from .roles import Role
from .settings import Settings

log = logging.getLogger("wizpix.frontend")

# BentoML 1.4's adaptive batching learns its timing from the first calls it sees: eight and
# one single calls, then two steps that wait for a partner request for up to (2n + 1) times
# the inference time (seconds, for a 1024² model). Made by the front once the model is
# warm, with a partner at hand for those two, no user request meets that wait.
DISPATCHER_TRAINING = (1,) * 9 + (2, 2)


class RunnerClient(Protocol):
    async def predict(self, images: np.ndarray) -> np.ndarray: ...

    async def status(self) -> dict[str, Any]: ...


@dataclass
class Cutout:
    data: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # for the request's log line and metrics
    size: tuple[int, int] = (0, 0)  # the result's width and height
    bbox: tuple[int, int, int, int] | None = None  # the subject in the result's coordinates


class Cutter:
    def __init__(
        self, settings: Settings, roles: dict[RoleName, Role], runners: dict[RoleName, RunnerClient]
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.runners = runners
        self.masks = MaskCache(int(settings.mask_cache_mb * 2**20))
        start = WarmupState.PENDING if settings.warmup_on_startup else WarmupState.DISABLED
        self.dispatchers = dict.fromkeys(runners, start)

    async def _runner_status(self, role: RoleName) -> dict[str, Any]:
        """The runner's own word on its model, or unreachable."""
        try:
            return await asyncio.wait_for(self.runners[role].status(), self.settings.status_timeout_s)
        except Exception as error:  # noqa: BLE001 - a dead runner is a state, not a crash
            return {
                "role": role,
                "name": self.roles[role].model_id,
                "state": ModelState.UNREACHABLE,
                "error": f"{type(error).__name__}: {error}"[:300],
                "warmup": None,
            }

    async def runner_status(self, role: RoleName) -> dict[str, Any]:
        """As the rest of the service sees it: still warming up while its dispatcher trains."""
        status = {**await self._runner_status(role), "dispatcher": self.dispatchers[role]}
        if self.dispatchers[role].under_way and ModelState(status["state"]) is ModelState.READY:
            status.update(state=ModelState.LOADING, warmup=WarmupState.RUNNING)
        return status

    @property
    def training(self) -> bool:
        """A dispatcher is still to be trained (or being trained)."""
        return any(state.under_way for state in self.dispatchers.values())

    async def warm_dispatchers(self) -> None:
        """Once each model is warm, make the calls its batching dispatcher learns from."""
        await asyncio.gather(*(self._warm_dispatcher(role) for role in self.runners))

    async def _warm_dispatcher(self, role: RoleName) -> None:
        if self.dispatchers[role] is not WarmupState.PENDING:
            return
        self.dispatchers[role] = WarmupState.RUNNING
        while (state := ModelState((await self._runner_status(role))["state"])) is not ModelState.READY:
            if state in (ModelState.MISSING, ModelState.FAILED):  # nothing to train: it will not serve
                self.dispatchers[role] = WarmupState.FAILED
                return
            await asyncio.sleep(0.5)  # loading, or the runner process is not up yet
        size = self.roles[role].model.preprocess.size
        blank = np.zeros((1, size, size, 3), np.uint8)
        started = time.perf_counter()
        try:
            for partners in DISPATCHER_TRAINING:
                await asyncio.gather(*(self.runners[role].predict(blank) for _ in range(partners)))
        except Exception as error:  # noqa: BLE001 - the service runs; its first requests may wait
            log.warning("%s runner's batching dispatcher could not be trained: %s", role, error)
            self.dispatchers[role] = WarmupState.FAILED
            return
        self.dispatchers[role] = WarmupState.DONE
        log.info("%s runner's batching dispatcher trained in %.1f s", role, time.perf_counter() - started)

    async def health(self) -> dict[str, Any]:
        statuses = await asyncio.gather(*(self.runner_status(role) for role in RoleName))
        return health_report(dict(zip(RoleName, statuses, strict=True)), self.settings)

    async def _unavailable(self, role: RoleName) -> Unavailable | None:
        """Why ``role`` cannot serve (its runner's own word), or None when it can."""
        status = await self._runner_status(role)
        state = ModelState(status["state"])
        if state.servable or state is ModelState.LOADING:
            return None
        return Unavailable(
            f"{role}_unavailable",
            f"{role} model {status['name']} is {state}: {status.get('error')}",
            headers={"Retry-After": "10"},
        )

    def _decode(self, data: bytes) -> tuple[Image.Image, str | None]:
        """The image, and the upload's digest when masks are cached (off the event loop: a
        25 MB upload takes ~40 ms to hash)."""
        image = decode_image(data, self.settings.max_image_pixels)
        return image, hashlib.sha256(data).hexdigest() if self.masks.enabled else None

    async def _mask_key(self, role: RoleName, upload: str | None, status: dict | None) -> MaskKey | None:
        """The cache key, from the runner's own word on its weights; None: do not cache."""
        if upload is None:
            return None
        status = status or await self._runner_status(role)
        weights = status.get("sha256") or ("none" if self.roles[role].store_name is None else None)
        if weights is None:  # not resolved yet, or unreachable: nothing to vouch for a mask
            return None
        model = self.roles[role]
        return MaskKey(upload, model.model_id, model.recipe_digest, weights)

    async def _infer(
        self, role: RoleName, image: Image.Image, upload: str | None, status: dict | None = None
    ) -> tuple[np.ndarray, Preprocess, str | None]:
        """The model-sized mask, from the cache or the runner; and hit, miss or None."""
        spec = self.roles[role].model.preprocess
        key = await self._mask_key(role, upload, status)
        if key is not None and (cached := self.masks.get(key)) is not None:
            return cached, spec, "hit"
        batch = (await to_thread.run_sync(model_input, image, spec.size, spec.resample))[None]
        try:
            masks = await self.runners[role].predict(batch)
        except ApiError:
            raise
        except Exception:
            if (unavailable := await self._unavailable(role)) is not None:
                raise unavailable from None
            raise
        if masks.shape != (1, spec.size, spec.size):
            raise RuntimeError(f"{role} runner returned masks of shape {masks.shape}")
        if key is None:
            return masks[0], spec, None
        self.masks.put(key, masks[0])
        MASK_CACHE_BYTES.set(self.masks.bytes)
        return masks[0], spec, "miss"

    async def remove_background(
        self,
        data: bytes,
        quality: RoleName,
        options: OutputOptions | None = None,
        *,
        background_image: Image.Image | None = None,
    ) -> Cutout:
        """``background_image``: decoded by the caller, composited behind the cutout."""
        cutout = await self._remove_background(
            data, RoleName(quality), options or OutputOptions(), background_image
        )
        if cutout.facts["megapixels"] >= 2:
            release_free_memory()  # its full-size buffers are garbage by now
        return cutout

    async def _remove_background(
        self, data: bytes, quality: RoleName, options: OutputOptions, background_image: Image.Image | None
    ) -> Cutout:
        started = time.perf_counter()
        image, upload = await to_thread.run_sync(self._decode, data)
        route, pro = Route(quality), None
        if quality is RoleName.PRO:
            pro = await self.runner_status(RoleName.PRO)
            state = ModelState(pro["state"])
            route = choose_route(quality, state, self.settings.auto_fallback_fast, pro.get("error"))
            if route.fallback_reason:
                log.warning("pro request served by fast: %s (%s)", route.fallback_reason, pro.get("error"))
        if route.runner is RoleName.PRO:
            try:
                mask, spec, cache = await self._infer(RoleName.PRO, image, upload, pro)
            except Exception as error:  # noqa: BLE001 - pro errors follow the fallback rule
                log.warning("pro inference failed, applying fallback rule: %s", error)
                unreachable = isinstance(error, ApiError) and error.code == "runner_unreachable"
                kind = ModelState.UNREACHABLE if unreachable else INFERENCE_ERROR
                route = route_after_pro_error(str(error)[:200], self.settings.auto_fallback_fast, kind)
        if route.runner is RoleName.FAST:
            mask, spec, cache = await self._infer(RoleName.FAST, image, upload)
        width, height = image.size
        rendered = await to_thread.run_sync(render_result, image, mask, spec, options, background_image)
        elapsed_ms = (time.perf_counter() - started) * 1000
        served_by = self.roles[route.runner].model_id
        headers = {
            "X-WizPix-Quality": route.runner,
            "X-WizPix-Model": served_by,
            "X-WizPix-Time-Ms": f"{elapsed_ms:.0f}",
            "X-WizPix-BBox": ",".join(map(str, rendered.bbox)) if rendered.bbox else "none",
        }
        if route.fallback_reason:
            headers["X-WizPix-Fallback"] = route.fallback_reason
        if cache:
            headers["X-WizPix-Cache"] = cache
        facts = {
            "asked": quality,
            "served": route.runner,
            "model": served_by,
            "fallback": route.fallback_reason,
            "fallback_code": route.fallback_code,
            "width": width,
            "height": height,
            "megapixels": round(width * height / 1e6, 3),
            "input_bytes": len(data),
            "output_bytes": len(rendered.data),
            "work_ms": round(elapsed_ms, 1),
            "cache": cache,
        }
        return Cutout(rendered.data, rendered.media_type, headers, facts, rendered.size, rendered.bbox)


def render_result(
    image: Image.Image,
    mask: np.ndarray,
    spec: Preprocess,
    options: OutputOptions,
    background_image: Image.Image | None = None,
) -> Rendered:
    """Scale the model-sized mask to the image, then encode what the client asked for."""
    return render(image, resize_mask(mask, image.size, spec.resample), options, background_image)
