"""What crosses the boundary between the front and a runner, written once.

A runner takes a batch of model-sized images and returns a batch of masks of the same
length; both ends check it. It answers ``status`` with a ``RunnerStatus``, which travels
as JSON and is read back into the same type; a runner that does not answer is a status
too (``RunnerStatus.unreachable``), so no caller handles a missing one apart.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wizpix.core.enums import ModelState, RoleName, WarmupState

# ONNX Runtime's providers by the name a client reads
DEVICES = {"CUDAExecutionProvider": "cuda", "CPUExecutionProvider": "cpu", "none (mock)": "none"}


def device_name(provider: str) -> str:
    return DEVICES.get(provider, provider.removesuffix("ExecutionProvider").lower())


class RunnerStatus(BaseModel):
    """A runner's own word on its model, as ``/health`` shows it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: RoleName
    name: str
    state: ModelState
    error: str | None = None
    source: str | None = None  # provenance of the weights; never a local path
    sha256: str | None = None  # the weights as published: part of the mask cache's key
    stored_sha256: str | None = None  # what runs, when the import rewrote it (fp16 → fp32)
    input_size: int | None = None
    provider: str | None = None
    build: str | None = None  # fp32, or int8: the eight-bit build made at import
    build_reason: str | None = None  # why that build (PRO_PRECISION, or auto's timing)
    warmup: WarmupState | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    served: int = 0
    batches: int = 0

    def label(self, model_id: str) -> str:
        """The model as X-WizPix-Model names it: ``@int8`` when its eight-bit build runs (no
        suffix: the published graph)."""
        return f"{model_id}@int8" if self.build == "int8" else model_id

    @property
    def device(self) -> str | None:
        """What the model runs on, as X-WizPix-Device says it: cpu, cuda, none (the mock)."""
        return None if self.provider is None else device_name(self.provider)

    @classmethod
    def unreachable(cls, role: RoleName, name: str, error: BaseException) -> RunnerStatus:
        return cls(
            role=role,
            name=name,
            state=ModelState.UNREACHABLE,
            error=f"{type(error).__name__}: {error}"[:300],
        )


class RunnerClient(Protocol):
    """How the front reaches a runner: BentoML's proxy in production, a slot in tests."""

    async def predict(self, images: np.ndarray) -> np.ndarray: ...

    async def status(self) -> RunnerStatus: ...


def check_images(batch: np.ndarray, size: int) -> None:
    """A runner's input: uint8 N×S×S×3, S the model's input size."""
    if batch.ndim != 4 or batch.shape[1:] != (size, size, 3) or batch.dtype != np.uint8:
        raise ValueError(f"expected a uint8 batch N×{size}×{size}×3, got {batch.dtype} {batch.shape}")


def check_masks(masks: np.ndarray, count: int, size: int, model: str) -> None:
    """A runner's output: uint8 N×S×S, as many masks as images."""
    if len(masks) != count:
        raise RuntimeError(f"{model} returned {len(masks)} masks for {count} images")
    if masks.ndim != 3 or masks.shape[1:] != (size, size) or masks.dtype != np.uint8:
        raise RuntimeError(
            f"{model} returned masks of {masks.dtype} {masks.shape}, expected uint8 N×{size}×{size}"
        )
