"""One typed settings object, read once from the environment.

Every service process imports ``service.py``, so a bad value has to stop start-up there,
with a message naming the variable and what it accepts, rather than surface as an odd
failure on the first request.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .catalog import load_catalog
from .paths import PROJECT_ROOT

ProModelName = Literal["inspyrenet", "isnet", "isnet-general-use", "birefnet-portrait", "mock"]

# `inspyrenet` is the name the original service used for the ISNet general-use network.
PRO_ALIASES = {"inspyrenet": "isnet-general-use", "isnet": "isnet-general-use"}


class SettingsError(RuntimeError):
    """A configuration value is invalid; the message names the variable and allowed values."""


class Settings(BaseSettings):
    """Service configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    model_dir: Path = Field(
        default=PROJECT_ROOT / "models",
        validation_alias=AliasChoices("MODEL_DIR", "PIPELINE_MODEL_DIR"),
        description="Where fetched weights are kept before import into the BentoML store.",
    )
    fast_model_name: str = Field(default="u2netp", description="rembg model name, or mock.")
    pro_model_name: ProModelName = "inspyrenet"
    allow_remote_download: bool = False
    auto_fallback_fast: bool = True
    warmup_on_startup: bool = True
    warmup_blocking: bool = False
    # Inference runs image by image (see wizpix/models.py), so a bigger batch only makes its
    # first image wait for its last; 2 is the smallest BentoML accepts for a batchable API.
    fast_max_batch_size: int = Field(default=2, ge=2, le=64)
    fast_max_latency_ms: int = Field(default=5_000, ge=10)
    pro_max_batch_size: int = Field(default=2, ge=2, le=16)
    pro_max_latency_ms: int = Field(default=30_000, ge=10)
    inference_threads: int = Field(
        default=0, ge=0, le=256, description="ONNX Runtime intra-op threads; 0 = all cores."
    )
    # ONNX Runtime's CPU arena keeps peak activation memory resident. Measured here: u2netp
    # +330 MB for 18% speed (worth it); ISNet at 1024² +1.7 GB for 12% (not by default).
    fast_memory_arena: bool = True
    pro_memory_arena: bool = False
    max_upload_mb: float = Field(default=25, gt=0, le=1024, description="Larger uploads get 413.")
    max_image_pixels: int = Field(default=50_000_000, ge=1, description="Larger images get 413, undecoded.")
    api_key: SecretStr | None = Field(default=None, description="When set, /remove-bg requires it.")
    request_timeout_s: int = Field(
        default=120, ge=1, description="Per-request deadline: upload, inference and encoding (408/504)."
    )
    max_in_flight: int = Field(
        default=8, ge=1, le=1024, description="/remove-bg requests at once per front worker; more get 503."
    )
    # Runners deployed on their own (e.g. one Kubernetes Deployment each, scaled apart):
    # the front then calls them at these URLs instead of starting them itself.
    fast_runner_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    pro_runner_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    status_timeout_s: float = Field(default=3.0, gt=0, description="How long /health waits.")

    @field_validator("fast_model_name")
    @classmethod
    def _known_fast_model(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value):
            raise ValueError("must be a rembg model name such as u2netp, u2net or mock")
        if load_catalog().get(value) is not None:
            return value
        # Outside our catalogue: ask rembg (imported only for such names, never by default).
        from rembg.sessions import sessions

        usable = sorted(
            name
            for name, session in sessions.items()
            # local, no credentials, no extra arguments (custom paths, SAM prompts)
            if session.is_local()
            and not session.requires_credentials()
            and not name.endswith("_custom")
            and name != "sam"
        )
        if value not in usable:
            raise ValueError(f"unknown model (allowed: mock or a local rembg model: {', '.join(usable)})")
        return value

    @property
    def pro_model(self) -> str:
        """The catalogue name of the pro model, aliases resolved."""
        return PRO_ALIASES.get(self.pro_model_name, self.pro_model_name)

    def memory_arena(self, role: str) -> bool:
        return self.fast_memory_arena if role == "fast" else self.pro_memory_arena

    @property
    def threads(self) -> int:
        return self.inference_threads or os.cpu_count() or 1


def _explain(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        variable = {"model_dir": "MODEL_DIR (or PIPELINE_MODEL_DIR)"}.get(field, field.upper())
        allowed = ""
        annotation = Settings.model_fields.get(field)
        if annotation is not None and annotation.annotation is bool:
            allowed = " (allowed: true, false, 1, 0, yes, no, on, off)"
        lines.append(f"{variable}={item.get('input')!r} is invalid: {item['msg']}{allowed}")
    return "Invalid WizPix configuration:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    """Read the environment now; raise SettingsError with a readable message when it is bad."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_explain(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
