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
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from anyio import to_thread
from PIL import Image

from wizpix.core.catalog import Preprocess
from wizpix.core.contract import RunnerClient, RunnerStatus, check_masks
from wizpix.core.enums import ModelState, Quality, RoleName
from wizpix.core.errors import ApiError, Unavailable
from wizpix.core.fusion import fusion_for
from wizpix.core.memory import release_free_memory
from wizpix.core.roles import Role
from wizpix.core.settings import Settings
from wizpix.front.fallback import BUSY, INFERENCE_ERROR, Route, choose_route, route_after_pro_error
from wizpix.front.health import health_report
from wizpix.front.mask_cache import MaskCache, MaskKey
from wizpix.front.observability import MASK_CACHE_BYTES
from wizpix.front.pacing import Pacer
from wizpix.front.readiness import Readiness
from wizpix.front.runner_client import RETRIED
from wizpix.image.animation import Animation, read_animation
from wizpix.image.compose import model_input
from wizpix.image.decode import decode_image
from wizpix.image.masks import fuse, uncertainty
from wizpix.image.options import OutputOptions
from wizpix.image.render import Rendered, check_animatable, render_animation, render_result
from wizpix.image.strokes import Strokes

log = logging.getLogger(__name__)

Inferred = tuple[list[np.ndarray], Preprocess, str | None]  # model-sized masks, their recipe, hit/miss/None


@dataclass(frozen=True)
class Masks:
    """The masks of one request's images and what made them."""

    masks: list[np.ndarray]
    spec: Preprocess
    cache: str | None
    route: Route
    served_by: str
    retried: tuple[str, ...] = ()  # runner calls sent twice (wizpix.front.runner_client)
    escalation: str | None = None  # quality=auto: what was decided, and why
    fast_uncertainty: float | None = None  # quality=auto: what the decision read


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
        self.fusion = fusion_for(settings, roles)  # whether pro fuses fast's mask, and why

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
        report["fusion"] = self.fusion.as_dict()
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
        return MaskKey(upload, status.label(model.model_id), model.recipe_digest, weights)

    def _fused(self, pro: Inferred, fast: Inferred) -> Inferred:
        """pro's masks and fast's, fused at pro's size (see wizpix.image.masks)."""
        (masks, spec, pro_cache), (others, _, fast_cache) = pro, fast
        caches = {pro_cache, fast_cache}
        cache = None if None in caches else "hit" if caches == {"hit"} else "miss"
        gain = self.fusion.gain
        return [fuse(m, o, gain, spec.resample) for m, o in zip(masks, others, strict=True)], spec, cache

    async def _infer(
        self,
        role: RoleName,
        images: list[Image.Image],
        uploads: list[str | None],
        status: RunnerStatus | None = None,
    ) -> Inferred:
        """The model-sized masks of ``images`` (one batch to the runner), each from the mask
        cache when its upload is known and cached; and hit, miss or None (a single image)."""
        spec = self.roles[role].model.preprocess
        keys = [await self._mask_key(role, upload, status) for upload in uploads]
        cached = [self.masks.get(key) if key is not None else None for key in keys]
        todo = [index for index, mask in enumerate(cached) if mask is None]
        if todo:
            arrays = await to_thread.run_sync(
                lambda: [model_input(images[index], spec.size, spec.resample) for index in todo]
            )
            pacer = self.pacers[role]
            pacer.admit()  # 503 busy now, rather than a 504 after waiting for nothing
            try:
                with pacer.sent():
                    masks = await self.runners[role].predict(np.stack(arrays))
            except ApiError:
                raise
            except Exception:
                if (unavailable := await self._unavailable(role)) is not None:
                    raise unavailable from None
                raise
            check_masks(masks, len(todo), spec.size, f"{role} runner")
            for index, mask in zip(todo, masks, strict=True):
                cached[index] = mask
                if keys[index] is not None:
                    self.masks.put(keys[index], mask)
            MASK_CACHE_BYTES.set(self.masks.bytes)
        cache = None
        if len(images) == 1 and keys[0] is not None:
            cache = "miss" if todo else "hit"
        return [mask for mask in cached if mask is not None], spec, cache

    async def cut_masks(
        self, images: list[Image.Image], quality: Quality | RoleName, uploads: list[str | None] | None = None
    ) -> Masks:
        """The masks of ``images`` as ``quality`` serves them, by the fallback rules: pro's
        fused with fast's (made at the same time, on the other runner), pro's alone when
        fast cannot serve, fast's when pro cannot; and which runner calls were sent twice."""
        retried: list[str] = []
        token = RETRIED.set(retried)  # shared with the tasks below, which copy the context
        uploads = uploads or [None] * len(images)
        try:
            if quality == Quality.AUTO:
                found = await self._auto(images, uploads)
            else:
                found = await self._cut_masks(images, RoleName(quality), uploads)
        finally:
            RETRIED.reset(token)
        return replace(found, retried=tuple(retried)) if retried else found

    async def _cut_masks(
        self, images: list[Image.Image], quality: RoleName, uploads: list[str | None]
    ) -> Masks:
        route, pro = Route(quality), None
        if quality is RoleName.PRO:
            pro = await self.runner_status(RoleName.PRO)
            route = choose_route(quality, pro.state, self.settings.auto_fallback_fast, pro.error)
            if route.fallback_reason:
                log.warning("pro request served by fast: %s (%s)", route.fallback_reason, pro.error)
        fast_result: Inferred | BaseException | None = None
        if route.role is RoleName.PRO and pro is not None:
            served_by = pro.label(self.roles[RoleName.PRO].model_id)  # the build that runs
            fusing = self.fusion.partner is not None
            pro_result, fast_result = await asyncio.gather(
                self._infer(RoleName.PRO, images, uploads, pro),
                self._infer(RoleName.FAST, images, uploads) if fusing else _nothing(),
                return_exceptions=True,
            )
            if isinstance(pro_result, BaseException):
                if not isinstance(pro_result, Exception):
                    raise pro_result  # cancelled: the deadline, or the client went away
                code = pro_result.code if isinstance(pro_result, ApiError) else None
                if code == "busy" and not self.settings.auto_fallback_fast:
                    raise pro_result  # 503 busy, with the Retry-After the queue gives
                log.warning("pro could not serve, applying fallback rule: %s", pro_result)
                kind = {"runner_unreachable": ModelState.UNREACHABLE, "busy": BUSY}.get(code, INFERENCE_ERROR)
                route = route_after_pro_error(str(pro_result)[:200], self.settings.auto_fallback_fast, kind)
            elif isinstance(fast_result, tuple):
                result = await to_thread.run_sync(self._fused, pro_result, fast_result)
                return Masks(*result, route, f"{served_by}+{self.roles[RoleName.FAST].model_id}")
            else:
                if fusing:
                    log.warning("pro served without fusion: fast could not serve (%s)", fast_result)
                return Masks(*pro_result, route, served_by)
        # fast: asked, or pro could not serve (the masks made for the fusion serve then)
        result = (
            fast_result
            if isinstance(fast_result, tuple)
            else await self._infer(RoleName.FAST, images, uploads)
        )
        return Masks(*result, route, self.roles[RoleName.FAST].model_id)

    async def _auto(self, images: list[Image.Image], uploads: list[str | None]) -> Masks:
        """fast first; pro as well where fast's mask is unsure, fused with the fast mask
        already made where the pair fuses (the escalation costs pro's model alone). Whatever
        keeps pro from serving in time serves the fast mask, and the answer says so."""
        fast_id, threshold = self.roles[RoleName.FAST].model_id, self.settings.auto_threshold
        try:
            fast = await self._infer(RoleName.FAST, images, uploads)
        except ApiError as error:  # fast cannot serve: pro, as a pro request would be
            found = await self._cut_masks(images, RoleName.PRO, uploads)
            return replace(found, escalation=f"fast cannot serve ({error.code}): pro")
        unsure = round(float(np.mean([uncertainty(mask) for mask in fast[0]])), 3)
        kept = partial(Masks, *fast, Route(RoleName.FAST), fast_id, fast_uncertainty=unsure)
        if unsure <= threshold:
            return kept(escalation=f"fast's uncertainty {unsure:.3f} <= {threshold:g}: fast")  # latin-1
        why = f"fast's uncertainty {unsure:.3f} > {threshold:g}"
        pro = await self.runner_status(RoleName.PRO)
        if not pro.state.servable:
            return kept(escalation=f"{why}, but pro is {pro.state}: fast")
        try:
            result = await self._infer(RoleName.PRO, images, uploads, pro)
        except Exception as error:  # noqa: BLE001 - the fast mask in hand serves
            busy = isinstance(error, ApiError) and error.code == "busy"
            cause = "pro cannot meet the deadline" if busy else f"pro failed ({error})"[:200]
            log.warning("auto: %s, %s: serving fast", why, cause)
            return kept(escalation=f"{why}, but {cause}: fast")
        served_by = pro.label(self.roles[RoleName.PRO].model_id)
        if self.fusion.partner == fast_id:
            result = await to_thread.run_sync(self._fused, result, fast)
            served_by = f"{served_by}+{fast_id}"
        return Masks(
            *result, Route(RoleName.PRO), served_by, escalation=f"{why}: pro", fast_uncertainty=unsure
        )

    async def remove_background(
        self,
        data: bytes,
        quality: Quality | RoleName,
        options: OutputOptions | None = None,
        *,
        background_image: Image.Image | None = None,
        strokes: tuple[bytes | None, bytes | None] = (None, None),
    ) -> Cutout:
        """``background_image``: decoded by the caller, composited behind the cutout.
        ``strokes``: PNGs of a ``keep`` and a ``remove`` stroke, correcting the model's mask
        (wizpix.image.strokes). An animated GIF, WebP or APNG comes back animated unless
        ``frames=first``."""
        cutout = await self._remove_background(
            data, Quality(quality), options or OutputOptions(), background_image, strokes
        )
        if cutout.facts["megapixels"] >= 2:
            release_free_memory()  # its full-size buffers are garbage by now
        return cutout

    async def _remove_background(
        self,
        data: bytes,
        quality: Quality,
        options: OutputOptions,
        background_image: Image.Image | None,
        painted: tuple[bytes | None, bytes | None],
    ) -> Cutout:
        started = time.perf_counter()
        if options.frames == "all":
            limits = self.settings.max_animation_frames, self.settings.max_animation_pixels
            if (animation := await to_thread.run_sync(read_animation, data, *limits)) is not None:
                if any(painted):
                    raise ApiError("not_for_animations", "strokes correct a still image", status=422)
                return await self._remove_animated(animation, data, quality, options, started)
        image, upload = await to_thread.run_sync(self._decode, data)
        strokes = await to_thread.run_sync(Strokes.read, *painted, image.size) if any(painted) else None
        found = await self.cut_masks([image], quality, [upload])
        mask = found.masks[0]
        width, height = image.size
        rendered = await to_thread.run_sync(
            render_result, image, mask, found.spec, options, background_image, strokes
        )
        facts = {"width": width, "height": height, "input_bytes": len(data)}
        if strokes:
            facts["strokes"] = [
                name for name, stroke in zip(("keep", "remove"), painted, strict=True) if stroke
            ]
        return await self._cutout(rendered, found, uncertainty(mask), quality, started, facts)

    async def _remove_animated(
        self, animation: Animation, data: bytes, quality: Quality, options: OutputOptions, started: float
    ) -> Cutout:
        """Each distinct frame cut once (stickers repeat theirs), in one batch per runner."""
        check_animatable(options)
        frames = animation.frames
        digests = [hashlib.blake2b(frame.tobytes(), digest_size=16).digest() for frame in frames]
        first: dict[bytes, Image.Image] = {}  # each distinct frame, in order of appearance
        for digest, frame in zip(digests, frames, strict=True):
            first.setdefault(digest, frame)
        found = await self.cut_masks(list(first.values()), quality)
        by_digest = dict(zip(first, found.masks, strict=True))
        masks = [by_digest[digest] for digest in digests]
        rendered = await to_thread.run_sync(render_animation, animation, masks, found.spec, options)
        width, height = frames[0].size
        facts = {"width": width, "height": height, "input_bytes": len(data), "frames": len(frames)}
        unsure = float(np.mean([uncertainty(mask) for mask in found.masks]))
        return await self._cutout(rendered, found, round(unsure, 3), quality, started, facts, len(frames))

    async def _cutout(
        self,
        rendered: Rendered,
        found: Masks,
        unsure: float,
        quality: Quality,
        started: float,
        facts: dict[str, Any],
        frames: int | None = None,
    ) -> Cutout:
        """The rendered answer with what served it: headers, and the facts of its log line."""
        device = (await self.runner_status(found.route.role)).device or "unknown"  # cached: no round trip
        elapsed_ms = (time.perf_counter() - started) * 1000
        headers = {
            "X-WizPix-Quality": found.route.role,
            "X-WizPix-Model": found.served_by,
            "X-WizPix-Uncertainty": f"{unsure:.3f}",
            "X-WizPix-Device": device,
            "X-WizPix-Time-Ms": f"{elapsed_ms:.0f}",
            "X-WizPix-BBox": ",".join(map(str, rendered.bbox)) if rendered.bbox else "none",
        }
        if frames is not None:
            headers["X-WizPix-Frames"] = str(frames)
        if "strokes" in facts:  # the mask was corrected by the client's strokes
            headers["X-WizPix-Strokes"] = ",".join(facts["strokes"])
        if found.route.fallback_reason:
            headers["X-WizPix-Fallback"] = found.route.fallback_reason
        if found.retried:
            headers["X-WizPix-Retry"] = "; ".join(found.retried)
        if found.escalation is not None:  # quality=auto
            headers["X-WizPix-Asked"] = str(quality)
            headers["X-WizPix-Escalation"] = found.escalation
            if found.fast_uncertainty is not None:
                headers["X-WizPix-Fast-Uncertainty"] = f"{found.fast_uncertainty:.3f}"
        if found.cache:
            headers["X-WizPix-Cache"] = found.cache
        pixels = facts["width"] * facts["height"] * (frames or 1)  # every frame's
        facts = {
            "asked": quality,
            "served": found.route.role,
            "model": found.served_by,
            "fallback": found.route.fallback_reason,
            "fallback_code": found.route.fallback_code,
            "retried": list(found.retried) or None,
            "escalation": found.escalation,
            **facts,
            "megapixels": round(pixels / 1e6, 3),
            "output_bytes": len(rendered.data),
            "work_ms": round(elapsed_ms, 1),
            "cache": found.cache,
            "uncertainty": unsure,
            "device": device,
        }
        return Cutout(rendered.data, rendered.media_type, rendered.bbox, rendered.size, headers, facts)
