"""Which model each runner holds and where its weights come from, per the settings."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from .catalog import Catalog, ModelSpec, load_catalog
from .fetch import digest_file
from .models import MaskModel, MockMaskModel, OnnxMaskModel, RembgMaskModel
from .settings import Settings
from .slot import ModelSlot
from .store import Weights, WeightsMissing, resolve_weights


def model_name(role: str, settings: Settings) -> str:
    return settings.fast_model_name if role == "fast" else settings.pro_model


def _rembg_home_weights(name: str, allow_remote: bool) -> Weights | None:
    """Weights for a rembg model outside our catalogue: rembg's own cache, or its download."""
    from rembg.sessions import sessions

    session = sessions[name]  # FAST_MODEL_NAME was checked against rembg at start-up
    existing = session.resolve_existing(f"{session.name()}.onnx")
    if existing is not None:
        path = Path(existing)
        return Weights(path, digest_file(path).sha256, "rembg model cache")
    if allow_remote:
        return None  # rembg downloads (and checks) it itself when the session is built
    raise WeightsMissing(
        f"weights for rembg model {name} are not in rembg's cache and ALLOW_REMOTE_DOWNLOAD=false"
    )


def _build(
    role: str, spec: ModelSpec | None, name: str, settings: Settings, weights: Weights | None
) -> MaskModel:
    if name == "mock":
        assert spec is not None
        return MockMaskModel(spec)
    path = weights.path if weights else None
    if role == "pro":
        assert spec is not None and path is not None
        return OnnxMaskModel(spec, path, settings.threads, settings.memory_arena(role))
    size_hint = spec.preprocess.size if spec else 320
    return RembgMaskModel(name, path, settings.threads, size_hint, settings.memory_arena(role))


def build_slot(role: str, settings: Settings, catalog: Catalog | None = None) -> ModelSlot:
    catalog = catalog or load_catalog()
    name = model_name(role, settings)
    spec = catalog.get(name)
    if name == "mock":
        resolve = lambda: None  # noqa: E731
    elif spec is not None and spec.has_weights:
        resolve = partial(resolve_weights, spec, settings.model_dir, settings.allow_remote_download)
    else:
        resolve = partial(_rembg_home_weights, name, settings.allow_remote_download)
    return ModelSlot(
        role,
        name,
        resolve,
        partial(_build, role, spec, name, settings),
        warmup_on_startup=settings.warmup_on_startup,
        warmup_blocking=settings.warmup_blocking,
        trim_after_batch=name != "mock" and not settings.memory_arena(role),
    )
