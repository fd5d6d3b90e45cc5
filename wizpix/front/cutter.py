"""The front's work for one request, independent of BentoML and of HTTP.

decode → choose a runner → send it a model-sized array → scale the mask back → compose →
encode. Runners are reached through the ``RunnerClient`` contract, so the same code runs
against BentoML's remote proxies in production and against in-process runners in tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anyio import to_thread
from PIL import Image

from wizpix.core.catalog import Preprocess
from wizpix.core.contract import RunnerClient, RunnerStatus, check_masks
from wizpix.core.enums import ModelState, RoleName
from wizpix.core.errors import ApiError, Unavailable
from wizpix.core.memory import release_free_memory
from wizpix.core.roles import Role
from wizpix.core.settings import Settings
from wizpix.front.fallback import INFERENCE_ERROR, Route, choose_route, route_after_pro_error
from wizpix.front.health import health_report
from wizpix.front.mask_cache import MaskCache, MaskKey
from wizpix.front.observability import MASK_CACHE_BYTES
from wizpix.front.pacing import Pacer
from wizpix.front.readiness import Readiness
from wizpix.image.compose import model_input
from wizpix.image.decode import decode_image
from wizpix.image.masks import fuse, uncertainty
from wizpix.image.options import OutputOptions
from wizpix.image.render import Rendered, render_result

log = logging.getLogger(__name__)

Inferred = tuple[np.ndarray, Preprocess, str | None]  # a model-sized mask, its recipe, hit/miss/None


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Cutout(Rendered):
    """A rendered answer and what served it: its ``X-WizPix-*`` headers, and the facts of
    the request's log line and metrics."""

    headers: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


class Cutter:
    def __init__(
        self, settings: Settings, roles: dict[RoleName, Role], runners: dict[RoleName, RunnerClient]
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.runners = runners
        self.masks = MaskCache(settings.mask_cache_bytes)
        self.readiness = Readiness(list(runners), self.runner_status)
        self.pacers = {role: Pacer(str(role)) for role in runners}

    @property
    def fusing(self) -> bool:
        """pro fuses fast's mask with its own: when asked, and fast runs another model."""
        models = {self.roles[role].model_id for role in RoleName}
        return self.settings.pro_fuse_fast and len(models) == len(RoleName)

    async def runner_status(self, role: RoleName) -> RunnerStatus:
        """The runner's own word on its model, or unreachable."""
        try:
            return await asyncio.wait_for(self.runners[role].status(), self.settings.status_timeout_s)
        except Exception as error:  # noqa: BLE001 - a dead runner is a state, not a crash
            return RunnerStatus.unreachable(role, self.roles[role].model_id, error)

    async def health(self) -> dict[str, Any]:
        statuses = await asyncio.gather(*(self.runner_status(role) for role in RoleName))
        report = health_report(dict(zip(RoleName, statuses, strict=True)), self.settings)
        report["warmup"]["ready_s"] = {str(role): s for role, s in self.readiness.ready_s.items()}
        return report

    async def _unavailable(self, role: RoleName) -> Unavailable | None:
        """Why ``role`` cannot serve (its runner's own word), or None when it can."""
        status = await self.runner_status(role)
        if status.state.servable or status.state is ModelState.LOADING:
            return None
        return Unavailable(
            f"{role}_unavailable",
            f"{role} model {status.name} is {status.state}: {status.error}",
            headers={"Retry-After": "10"},
        )

    def _decode(self, data: bytes) -> tuple[Image.Image, str | None]:
        """The image, and the upload's digest when masks are cached (off the event loop: a
        25 MB upload takes ~40 ms to hash)."""
        image = decode_image(data, self.settings.max_image_pixels)
        return image, hashlib.sha256(data).hexdigest() if self.masks.enabled else None

    async def _mask_key(
        self, role: RoleName, upload: str | None, status: RunnerStatus | None
    ) -> MaskKey | None:
        """The cache key, from the runner's own word on its weights; None: do not cache."""
        if upload is None:
            return None
        status = status or await self.runner_status(role)
        weights = status.sha256 or ("none" if self.roles[role].store_name is None else None)
        if weights is None:  # not resolved yet, or unreachable: nothing to vouch for a mask
            return None
        model = self.roles[role]
        return MaskKey(upload, model.model_id, model.recipe_digest, weights)

    def _fused(self, pro: Inferred, fast: Inferred) -> Inferred:
        """pro's mask and fast's, fused at pro's size (see wizpix.image.masks)."""
        (mask, spec, pro_cache), (other, _, fast_cache) = pro, fast
        caches = {pro_cache, fast_cache}
        cache = None if None in caches else "hit" if caches == {"hit"} else "miss"
        return fuse(mask, other, self.settings.pro_fusion_gain, spec.resample), spec, cache

    async def _infer(
        self, role: RoleName, image: Image.Image, upload: str | None, status: RunnerStatus | None = None
    ) -> Inferred:
        """The model-sized mask, from the cache or the runner; and hit, miss or None."""
        spec = self.roles[role].model.preprocess
        key = await self._mask_key(role, upload, status)
        if key is not None and (cached := self.masks.get(key)) is not None:
            return cached, spec, "hit"
        batch = (await to_thread.run_sync(model_input, image, spec.size, spec.resample))[None]
        pacer = self.pacers[role]
        pacer.admit()  # 503 busy now, rather than a 504 after waiting for nothing
        try:
            with pacer.sent():
                masks = await self.runners[role].predict(batch)
        except ApiError:
            raise
        except Exception:
            if (unavailable := await self._unavailable(role)) is not None:
                raise unavailable from None
            raise
        check_masks(masks, 1, spec.size, f"{role} runner")
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
            route = choose_route(quality, pro.state, self.settings.auto_fallback_fast, pro.error)
            if route.fallback_reason:
                log.warning("pro request served by fast: %s (%s)", route.fallback_reason, pro.error)
        served_by = self.roles[route.role].model_id
        fast_result: Inferred | BaseException | None = None
        if route.role is RoleName.PRO:
            fusing = self.fusing
            # fast's mask for the fusion is made at the same time, on the other runner
            pro_result, fast_result = await asyncio.gather(
                self._infer(RoleName.PRO, image, upload, pro),
                self._infer(RoleName.FAST, image, upload) if fusing else _nothing(),
                return_exceptions=True,
            )
            if isinstance(pro_result, BaseException):
                if not isinstance(pro_result, Exception):
                    raise pro_result  # cancelled: the deadline, or the client went away
                log.warning("pro inference failed, applying fallback rule: %s", pro_result)
                unreachable = isinstance(pro_result, ApiError) and pro_result.code == "runner_unreachable"
                kind = ModelState.UNREACHABLE if unreachable else INFERENCE_ERROR
                route = route_after_pro_error(str(pro_result)[:200], self.settings.auto_fallback_fast, kind)
            elif isinstance(fast_result, tuple):
                mask, spec, cache = await to_thread.run_sync(self._fused, pro_result, fast_result)
                served_by = f"{served_by}+{self.roles[RoleName.FAST].model_id}"
            else:
                if fusing:
                    log.warning("pro served without fusion: fast could not serve (%s)", fast_result)
                mask, spec, cache = pro_result
        if route.role is RoleName.FAST:
            served_by = self.roles[RoleName.FAST].model_id
            if isinstance(fast_result, tuple):  # made for the fusion; pro then could not serve
                mask, spec, cache = fast_result
            else:
                mask, spec, cache = await self._infer(RoleName.FAST, image, upload)
        unsure = uncertainty(mask)
        device = (await self.runner_status(route.role)).device or "unknown"  # cached: no round trip
        width, height = image.size
        rendered = await to_thread.run_sync(render_result, image, mask, spec, options, background_image)
        elapsed_ms = (time.perf_counter() - started) * 1000
        headers = {
            "X-WizPix-Quality": route.role,
            "X-WizPix-Model": served_by,
            "X-WizPix-Uncertainty": f"{unsure:.3f}",
            "X-WizPix-Device": device,
            "X-WizPix-Time-Ms": f"{elapsed_ms:.0f}",
            "X-WizPix-BBox": ",".join(map(str, rendered.bbox)) if rendered.bbox else "none",
        }
        if route.fallback_reason:
            headers["X-WizPix-Fallback"] = route.fallback_reason
        if cache:
            headers["X-WizPix-Cache"] = cache
        facts = {
            "asked": quality,
            "served": route.role,
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
            "uncertainty": unsure,
            "device": device,
        }
        return Cutout(rendered.data, rendered.media_type, rendered.bbox, rendered.size, headers, facts)
