"""The front service's work for one request, independent of BentoML.

decode → choose a runner → send it a model-sized array → scale the mask back → compose →
encode. Runners are reached through a two-method client, so the same code runs against
BentoML's remote proxies in production and against in-process runners in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from anyio import to_thread
from PIL import Image

from .catalog import Catalog
from .errors import ApiError, Unavailable
from .fallback import Quality, Route, choose_route, route_after_pro_error
from .health import health_report
from .imaging import decode_image, model_input, resize_mask
from .loading import model_name
from .memory import release_free_memory
from .output import OutputOptions, Rendered, render
from .settings import Settings

log = logging.getLogger("wizpix.frontend")


class RunnerClient(Protocol):
    async def predict(self, images: np.ndarray) -> np.ndarray: ...

    async def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ModelInput:
    """What the front needs to know to feed a runner: its square size and resampling."""

    size: int
    resample: str


@dataclass
class Cutout:
    data: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # for the request's log line and metrics


class Cutter:
    def __init__(self, settings: Settings, catalog: Catalog, runners: dict[Quality, RunnerClient]) -> None:
        self.settings = settings
        self.catalog = catalog
        self.runners = runners
        self._inputs: dict[Quality, ModelInput] = {}
        for role in runners:
            spec = catalog.get(model_name(role, settings))
            if spec is not None:
                self._inputs[role] = ModelInput(
                    spec.preprocess.size, self._resample(role, spec.preprocess.resample)
                )

    @staticmethod
    def _resample(role: Quality, declared: str) -> str:
        # rembg's normalize() always resizes with Lanczos; resizing the same way here keeps
        # fast's masks identical to rembg.remove() whatever the catalogue says for the model.
        return "lanczos" if role == "fast" else declared

    async def runner_status(self, role: Quality) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.runners[role].status(), self.settings.status_timeout_s)
        except Exception as error:  # noqa: BLE001 - a dead runner is a state, not a crash
            return {
                "role": role,
                "name": model_name(role, self.settings),
                "state": "unreachable",
                "error": f"{type(error).__name__}: {error}"[:300],
                "warmup": None,
            }

    async def health(self) -> dict[str, Any]:
        fast, pro = await asyncio.gather(self.runner_status("fast"), self.runner_status("pro"))
        return health_report(fast, pro, self.settings)

    async def _model_input(self, role: Quality) -> ModelInput:
        """From the catalogue; for a rembg model outside it, from the loaded graph's shape."""
        if role not in self._inputs:
            status = await self.runner_status(role)
            if not status.get("input_size"):
                raise Unavailable(
                    f"{role}_unavailable",
                    f"{role} model {status['name']} is {status['state']}: {status.get('error')}",
                )
            self._inputs[role] = ModelInput(int(status["input_size"]), self._resample(role, "bilinear"))
        return self._inputs[role]

    async def _infer(self, role: Quality, image: Image.Image) -> tuple[np.ndarray, ModelInput]:
        spec = await self._model_input(role)
        batch = (await to_thread.run_sync(model_input, image, spec.size, spec.resample))[None]
        try:
            masks = await self.runners[role].predict(batch)
        except ApiError:
            raise
        except Exception:
            status = await self.runner_status(role)
            if status["state"] not in ("ready", "idle", "loading"):
                raise Unavailable(
                    f"{role}_unavailable",
                    f"{role} model {status['name']} is {status['state']}: {status.get('error')}",
                    headers={"Retry-After": "10"},
                ) from None
            raise
        if masks.shape != (1, spec.size, spec.size):
            raise RuntimeError(f"{role} runner returned masks of shape {masks.shape}")
        return masks[0], spec

    async def remove_background(
        self, data: bytes, quality: Quality, options: OutputOptions | None = None
    ) -> Cutout:
        cutout = await self._remove_background(data, quality, options or OutputOptions())
        if cutout.facts["megapixels"] >= 2:
            release_free_memory()  # its full-size buffers are garbage by now
        return cutout

    async def _remove_background(self, data: bytes, quality: Quality, options: OutputOptions) -> Cutout:
        started = time.perf_counter()
        image = await to_thread.run_sync(decode_image, data, self.settings.max_image_pixels)
        route = Route(quality)
        if quality == "pro":
            pro = await self.runner_status("pro")
            route = choose_route("pro", pro["state"], self.settings.auto_fallback_fast, pro.get("error"))
        if route.runner == "pro":
            try:
                mask, spec = await self._infer("pro", image)
            except Exception as error:  # noqa: BLE001 - pro errors follow the fallback rule
                log.warning("pro inference failed, applying fallback rule: %s", error)
                unreachable = isinstance(error, ApiError) and error.code == "runner_unreachable"
                kind = "unreachable" if unreachable else "error"
                route = route_after_pro_error(str(error)[:200], self.settings.auto_fallback_fast, kind)
        if route.runner == "fast":
            mask, spec = await self._infer("fast", image)
        width, height = image.size
        rendered = await to_thread.run_sync(render_result, image, mask, spec, options)
        elapsed_ms = (time.perf_counter() - started) * 1000
        served_by = model_name(route.runner, self.settings)
        headers = {
            "X-WizPix-Quality": route.runner,
            "X-WizPix-Model": served_by,
            "X-WizPix-Time-Ms": f"{elapsed_ms:.0f}",
            "X-WizPix-BBox": ",".join(map(str, rendered.bbox)) if rendered.bbox else "none",
        }
        if route.fallback_reason:
            headers["X-WizPix-Fallback"] = route.fallback_reason
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
        }
        return Cutout(rendered.data, rendered.media_type, headers, facts)


def render_result(image: Image.Image, mask: np.ndarray, spec: ModelInput, options: OutputOptions) -> Rendered:
    """Scale the model-sized mask to the image, then encode what the client asked for."""
    return render(image, resize_mask(mask, image.size, spec.resample), options)
