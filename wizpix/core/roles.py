"""A role (fast or pro) as one object, built once from the settings and the catalogue.

Everything that differs between the two tiers (which model, its kind, a user's own file,
batching, arena, threads, where the runner lives) is read here and nowhere else, so the
service, the runners, the front and the fetch script ask the role instead of branching
on a string.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from wizpix.core.catalog import Catalog, Int8Recipe, ModelSpec, load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.settings import Settings, get_settings

CUSTOM_SUFFIX = "-custom"  # store entries of a user's own weights: "<family>-custom"


@dataclass(frozen=True)
class Role:
    name: RoleName
    model: ModelSpec  # the family: its kind, recipe and interface
    model_path: Path | None  # the user's own weights for that family, if any
    max_batch_size: int
    max_latency_ms: int
    memory_arena: bool
    threads: int
    cpu_nice: int  # 0: normal; higher: yields the CPU to the other runner (see wizpix/runner/priority.py)
    device: str = "auto"  # DEVICE: auto, cpu or cuda (wizpix/runner/device.py)
    precision: str = "fp32"  # auto, fp32 or int8: which build runs (wizpix/runner/precision.py)

    @property
    def service_name(self) -> str:
        return f"wizpix-{self.name}"

    @property
    def model_id(self) -> str:
        """What served a request (headers, logs, metrics): the model, or its custom file."""
        return f"{self.model.name}{CUSTOM_SUFFIX}" if self.model_path else self.model.name

    @cached_property
    def recipe_digest(self) -> str:
        """Changes whenever what the model's mask depends on, besides its weights, does."""
        spec = self.model
        recipe = [spec.kind, spec.preprocess.model_dump(), spec.postprocess.model_dump()]
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def store_name(self) -> str | None:
        """The BentoML store entry holding its weights; None for a model without weights."""
        return self.model_id if self.model.has_weights or self.model_path else None

    @property
    def variable(self) -> str:
        """The environment variable that picks its model, for messages."""
        return f"{self.name.upper()}_MODEL_NAME"

    @property
    def path_variable(self) -> str:
        return f"{self.name.upper()}_MODEL_PATH"

    @property
    def int8_recipe(self) -> Int8Recipe | None:
        """The eight-bit build its weights get at import: the family's recipe, for a user's
        own file only when its precision asks for int8."""
        if self.model_path is not None and self.precision != "int8":
            return None
        return self.model.int8

    def fetch_hint(self) -> str:
        """The command that gets this role its weights."""
        if self.model_path:
            return f"check {self.path_variable}={self.model_path}"
        return f"make models (or: scripts/fetch_models.py --model {self.model.name})"


def build_roles(settings: Settings, catalog: Catalog) -> dict[RoleName, Role]:
    """Both roles; the settings name their fields ``<role>_<setting>``."""

    def setting(role: RoleName, field: str) -> Any:
        return getattr(settings, f"{role}_{field}")

    return {
        name: Role(
            name=name,
            model=catalog.require(settings.model_name(name)),
            model_path=setting(name, "model_path"),
            max_batch_size=setting(name, "max_batch_size"),
            max_latency_ms=setting(name, "max_latency_ms"),
            memory_arena=setting(name, "memory_arena"),
            threads=settings.threads,
            cpu_nice=setting(name, "cpu_nice"),
            device=settings.device,
            precision=settings.pro_precision if name is RoleName.PRO else "fp32",
        )
        for name in RoleName
    }


@lru_cache(maxsize=1)
def get_roles() -> dict[RoleName, Role]:
    """The process-wide roles, from the process-wide settings."""
    return build_roles(get_settings(), load_catalog())
