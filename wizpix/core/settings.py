"""One typed settings object, read once from the environment.

Every service process imports ``service.py``, so a bad value has to stop start-up there,
with a message naming the variable and what it accepts, rather than surface as an odd
failure on the first request.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wizpix.core.catalog import load_catalog
from wizpix.core.cpus import usable_cpus
from wizpix.core.enums import RoleName
from wizpix.core.paths import PROJECT_ROOT
from wizpix.core.units import mib


class SettingsError(RuntimeError):
    """A configuration value is invalid; the message names the variable and allowed values."""


class Settings(BaseSettings):
    """Service configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # --- models ---------------------------------------------------------------------------
    model_dir: Path = Field(
        default=PROJECT_ROOT / "models",
        validation_alias=AliasChoices("MODEL_DIR", "PIPELINE_MODEL_DIR"),
        description="Where fetched weights are kept before import into the BentoML store "
        "(alias `PIPELINE_MODEL_DIR`).",
    )
    fast_model_name: str = Field(
        default="u2netp", description="A catalogue model that serves `fast` (see docs/models.md)."
    )
    pro_model_name: str = Field(
        default="inspyrenet",
        description="A catalogue model that serves `pro`; `inspyrenet`, the original description's "
        "name, is an alias of `isnet-general-use`.",
    )
    fast_model_path: Path | None = Field(
        default=None,
        description="Your own `.onnx` file for `fast`, run with the recipe of the family "
        "`FAST_MODEL_NAME` names; imported into the store as `<family>-custom`.",
    )
    pro_model_path: Path | None = Field(default=None, description="The same for `pro`.")
    allow_remote_download: bool = Field(
        default=False,
        description="Let a runner download missing weights when it starts; never at request time.",
    )
    # --- serving ------------------------------------------------------------------------
    auto_fallback_fast: bool = Field(
        default=True,
        description="Serve `pro` requests with `fast` when pro cannot serve (`X-WizPix-Fallback` says "
        "why); `false` answers `503 pro_unavailable`.",
    )
    pro_fuse_fast: Literal["auto", "true", "false"] = Field(
        default="auto",
        description="Whether `pro` fuses its model's mask with `fast`'s on the same photo (their mean, "
        "then the contrast curve). `auto`: where the pro model's manifest entry lists the fast model "
        "as measured better together (ISNet with u2netp), never for your own weights; `true` or "
        "`false` force it, for experiments. Without a servable fast model pro serves its own mask.",
    )
    pro_fusion_gain: float | None = Field(
        default=None,
        ge=1,
        le=16,
        description="The contrast curve after fusion, a^k / (a^k + (1-a)^k): 1 keeps the mean; higher "
        "pushes pixels the two models agree on to clear background and clear foreground. Unset: the "
        "pairing's measured gain (3).",
    )
    auto_threshold: float = Field(
        # make eval --auto-curve (int8 pro): the cheapest threshold within 5% of pro's error
        # on both sets: 47% escalated, 0.67x pro's seconds
        default=0.76,
        ge=0,
        le=1,
        description="`quality=auto` serves fast's cutout when its uncertainty is at most this, and "
        "escalates to pro above it (docs/quality.md draws error against time for every threshold).",
    )
    warmup_on_startup: bool = Field(
        default=True, description="Load each model and run one inference in the background at start."
    )
    warmup_blocking: bool = Field(
        default=False, description="Keep `/readyz` unready until both models are warm."
    )
    # Inference runs image by image (see wizpix/runner/kinds.py), so a bigger batch only makes
    # its first image wait for its last; 2 is the smallest BentoML accepts for a batchable API.
    fast_max_batch_size: int = Field(
        default=2, ge=2, le=64, description="Adaptive batching of the fast runner: largest batch."
    )
    fast_max_latency_ms: int = Field(
        default=120_000,
        ge=10,
        description="A call that has waited this long in the fast runner's queue is refused (`503 "
        "busy`). The front sheds first, by each request's own deadline and the queue's measured pace.",
    )
    pro_max_batch_size: int = Field(default=2, ge=2, le=16, description="The same for the pro runner.")
    pro_max_latency_ms: int = Field(default=120_000, ge=10, description="The same for the pro runner.")
    # The pro runner's process yields the CPU to fast and the front (Linux: autogroup and
    # thread nice values). Measured with loadtest/tiers.py: see docs/benchmarks.md.
    fast_cpu_nice: int = Field(default=0, ge=0, le=19, description="The fast runner's CPU nice value (0–19).")
    pro_cpu_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="The pro runner's CPU nice value (0–19): it yields the CPU to fast and the front.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Where the models run: `auto` (CUDA when onnxruntime-gpu and its libraries load, "
        "else the CPU, said in the log and /health), `cpu`, or `cuda`: strict, a model that cannot run "
        "on CUDA is `failed` with what is missing and the service `degraded`.",
    )
    inference_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="ONNX Runtime intra-op threads per runner; 0: the CPUs the runner may use (its "
        "affinity, and its container's CPU limit).",
    )
    fast_memory_arena: bool = Field(
        default=True,
        description="ONNX Runtime's CPU memory arena for the fast runner (u2netp: +330 MB resident "
        "for 18% speed).",
    )
    pro_memory_arena: bool = Field(
        default=True,
        description="The same for the pro runner (ISNet at 1024², one image a run: int8 +200 MB "
        "resident, fp32 +495 MB, each for 20% speed).",
    )
    pro_precision: Literal["auto", "fp32", "int8"] = Field(
        default="auto",
        description="Which build of the pro model runs: `int8`, the eight-bit build made at import "
        "(models whose manifest entry has an `int8` recipe; your own weights get one only when this "
        "says `int8`), `fp32`, or `auto`: the int8 build where it is at least 10% faster on this CPU, "
        "timed at warmup and said in the log and /health.",
    )
    # --- limits -------------------------------------------------------------------------
    max_upload_mb: float = Field(
        default=25,
        gt=0,
        le=1024,
        description="Larger uploads get `413 upload_too_large`, from `Content-Length` before the body "
        "is read (or while it streams).",
    )
    max_image_pixels: int = Field(
        default=50_000_000,
        ge=1,
        description="Larger images get `413 image_too_large`, from the header, before decoding.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, the cutting routes need it as `Authorization: Bearer …` or "
        "`X-API-Key` (else `401`; `403` on `/v1.0/`), checked before the body is read.",
    )
    request_timeout_s: float = Field(
        default=120,
        gt=0,
        le=86_400,
        description="Per-request deadline, upload included: `408 upload_timeout` while the body "
        "arrives, `504 deadline_exceeded` after.",
    )
    max_animation_frames: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Frames of an animated upload; more get `413 too_many_frames`.",
    )
    max_animation_pixels: int = Field(
        default=50_000_000,
        ge=1,
        description="Pixels of all an animation's frames together, from its header before decoding; more "
        "get `413 animation_too_large`.",
    )
    video_max_seconds: float = Field(
        default=60, gt=0, le=86_400, description="Longest video the `remove_video` task takes (`413`)."
    )
    video_max_frame_pixels: int = Field(
        default=3840 * 2160, ge=1, description="Largest video frame, in pixels (4K UHD by default; `413`)."
    )
    video_max_frames: int = Field(default=3600, ge=1, description="Most frames of a video (`413`).")
    video_max_mb: float = Field(default=512, gt=0, le=65536, description="Largest video upload (`413`).")
    max_in_flight: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Requests in progress at once per front worker; more get `503 overloaded` "
        "before their body is read.",
    )
    connection_max_age_s: float = Field(
        default=10,
        ge=0,
        le=86_400,
        description="The front closes a client's keep-alive connection after its first answer past "
        "this age, so that a per-connection balancer (a Kubernetes Service) in front of several "
        "fronts spreads clients over replicas added or back since; 0: after every answer.",
    )
    runner_connection_max_age_s: float = Field(
        default=0,
        ge=0,
        le=86_400,
        description="The same for a runner's connections from the front: 0 (the default) closes each "
        "after its answer, so that a per-connection balancer places every inference (a connection "
        "costs well under a millisecond; an inference 0.1 s or more).",
    )
    mask_cache_mb: float = Field(
        default=64,
        ge=0,
        le=65536,
        description="Recent masks kept in the front for repeat edits, least recently used out; 0 disables.",
    )
    shutdown_grace_s: float = Field(
        default=6,
        gt=0,
        le=3600,
        description="On SIGTERM the front refuses new requests (`503 shutting_down`) and gives those "
        "in flight this long before answering them `503` too: a stopped service is gone in seconds.",
    )
    status_timeout_s: float = Field(
        default=3.0,
        gt=0,
        description="How long the front waits for a runner's status before calling it unreachable.",
    )
    # --- remove.bg's v1.0 API (wizpix/front/removebg/) ---------------------------------
    removebg_default_quality: RoleName = Field(
        default=RoleName.PRO,
        description="The tier that serves `/v1.0/removebg` (remove.bg has no quality parameter); a "
        "request's own `quality` wins.",
    )
    allow_image_url: bool = Field(
        default=False,
        description="Let `/v1.0/removebg` fetch `image_url` / `bg_image_url`: http(s), public "
        "addresses only, every redirect re-checked, `MAX_UPLOAD_MB` and `IMAGE_URL_TIMEOUT_S`.",
    )
    image_url_allow_hosts: str = Field(
        default="",
        description="Comma-separated hosts fetched even though they resolve to a private, loopback "
        "or link-local address (an internal image store).",
    )
    image_url_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="The whole download of an image URL, redirects included."
    )
    rate_limit_mp_per_minute: float = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="remove.bg's rate limit in images of 1 MP per minute, per API key (else per "
        "client address), per front worker: `429` past it; 0: off, else at least 1.",
    )

    @field_validator("rate_limit_mp_per_minute")
    @classmethod
    def _off_or_at_least_one(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("must be 0 (off) or at least 1: a bucket under one image would refuse all")
        return value

    # --- the remove_backgrounds task ------------------------------------------------------
    # A whole batch is one upload, refused as a whole past these. BentoML keeps a submitted
    # batch's whole upload in memory and in its task store, and the zip it answers likewise:
    # these bound what one batch can hold in the front.
    batch_max_files: int = Field(default=100, ge=1, le=100_000, description="Files per batch (`413`).")
    batch_max_mb: float = Field(default=256, gt=0, le=65536, description="Total upload of a batch (`413`).")
    batch_max_output_mb: float = Field(
        default=1024,
        gt=0,
        le=65536,
        description="Largest zip a batch answers; past it, the remaining images fail.",
    )
    batch_concurrency: int = Field(
        default=2, ge=1, le=64, description="Images of all batches in progress at once."
    )

    @field_validator("fast_model_name", "pro_model_name")
    @classmethod
    def _serves_its_role(cls, value: str, info: ValidationInfo) -> str:
        role = RoleName(str(info.field_name).split("_")[0])
        allowed = load_catalog().names_for(role)
        if value not in allowed:
            raise ValueError(f"not a {role} model of the catalogue (allowed: {', '.join(allowed)})")
        return value

    @field_validator("pro_fuse_fast", mode="before")
    @classmethod
    def _auto_or_a_boolean(cls, value: object) -> object:
        words = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}
        text = str(value).strip().lower()
        return words.get(text, text)

    @field_validator("image_url_allow_hosts")
    @classmethod
    def _host_list(cls, value: str) -> str:
        for host in value.split(","):
            if host.strip() and not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host.strip()):
                raise ValueError(
                    f"{host.strip()!r} is not a host name or address (give a comma-separated list)"
                )
        return value

    @field_validator("fast_model_path", "pro_model_path")
    @classmethod
    def _an_onnx_file_path(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() != ".onnx":
            raise ValueError("must be the path of an .onnx file")
        return value.expanduser().resolve() if value is not None else None

    def model_name(self, role: RoleName) -> str:
        """The catalogue name configured for ``role``, aliases resolved."""
        configured = self.fast_model_name if role is RoleName.FAST else self.pro_model_name
        return load_catalog().require(configured).name

    @property
    def image_url_hosts(self) -> frozenset[str]:
        """IMAGE_URL_ALLOW_HOSTS as a set of lower-case host names (or addresses)."""
        return frozenset(
            host.strip().strip("[]").lower() for host in self.image_url_allow_hosts.split(",") if host.strip()
        )

    @property
    def threads(self) -> int:
        return self.inference_threads or usable_cpus()

    # The limits given in MB, as the code counts them.
    @property
    def max_upload_bytes(self) -> int:
        return mib(self.max_upload_mb)

    @property
    def mask_cache_bytes(self) -> int:
        return mib(self.mask_cache_mb)

    @property
    def video_max_bytes(self) -> int:
        return mib(self.video_max_mb)

    @property
    def batch_max_bytes(self) -> int:
        return mib(self.batch_max_mb)

    @property
    def batch_max_output_bytes(self) -> int:
        return mib(self.batch_max_output_mb)


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
