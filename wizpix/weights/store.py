"""The BentoML model store as the home of verified weights.

``fetch_models.py`` imports each fetched file here with its provenance; runners load from
here and re-check the checksum, so a file damaged after import is refused at load time
instead of producing garbage masks.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml.exceptions import NotFound

from wizpix.core.catalog import ModelSpec
from wizpix.core.roles import Role
from wizpix.weights.fp16 import widen_fp16
from wizpix.weights.sources import FetchError, digest_file, fetch_model

log = logging.getLogger(__name__)


class WeightsMissing(RuntimeError):
    """The weights are not available locally (and may not be downloaded now)."""


class WeightsCorrupt(RuntimeError):
    """The weights are present but do not match their recorded checksum."""


@dataclass(frozen=True)
class Weights:
    path: Path
    sha256: str  # the file as published (or as the user gave it): what a user can check
    source: str  # provenance for /health; never a local path
    stored_sha256: str | None = None  # what runs, when the import rewrote it (fp16 → fp32)


# Bumped when what an import writes changes: an older entry is imported again.
# 2: fp16 weights widened to fp32 (wizpix/weights/fp16.py).
IMPORT_VERSION = 2


def import_to_store(name: str, spec: ModelSpec, path: Path, sha256: str, source: str) -> tuple[str, bool]:
    """Import a verified file as ``name:sha256-prefix``; returns (tag, created).

    ``name`` is the model's own for catalogue weights, ``<family>-custom`` for a user's file;
    the family's recipe travels in the metadata either way. The tag keeps the published
    file's checksum; the metadata's ``sha256`` is the stored file's, which a runner checks."""
    tag = f"{name}:{sha256[:20]}"
    try:
        existing = bentoml.models.get(tag)
        if existing.info.metadata.get("import_version") == IMPORT_VERSION:
            return str(existing.tag), False
        log.info("re-importing %s (imported by an older WizPix)", tag)
        bentoml.models.delete(tag)
    except NotFound:
        pass
    file = spec.file or f"{spec.name}.onnx"
    with tempfile.TemporaryDirectory(prefix="wizpix-import-") as scratch:
        widened = widen_fp16(path, Path(scratch) / file)
        stored = Path(scratch) / file if widened.changed else path
        conversion = widened.describe() if widened.changed else None
        metadata = {
            **spec.metadata(),
            "family": spec.name,
            "source": f"{source}; {conversion}" if conversion else source,
            "source_sha256": sha256,
            "sha256": digest_file(stored).sha256 if widened.changed else sha256,  # verified already
            "conversion": conversion or "none",
            "file": file,
            "import_version": IMPORT_VERSION,
        }
        labels = {"project": "wizpix", "family": spec.name}
        with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
            shutil.copyfile(stored, Path(model.path) / file)
    log.info("imported %s into the BentoML model store%s", tag, f" ({conversion})" if conversion else "")
    return tag, True


def _from_store(tag: str) -> Weights | None:
    try:
        model = bentoml.models.get(tag)
    except NotFound:
        return None
    meta = model.info.metadata
    path = Path(model.path) / str(meta.get("file"))
    expected = str(meta.get("sha256", ""))
    if not path.is_file():
        raise WeightsCorrupt(f"store entry {model.tag} has no weights file")
    actual = digest_file(path).sha256
    if actual != expected:
        raise WeightsCorrupt(
            f"store entry {model.tag}: sha256 {actual[:16]}… does not match the recorded {expected[:16]}…"
        )
    published = str(meta.get("source_sha256") or actual)
    stored = actual if actual != published else None
    return Weights(path, published, f"bentoml store {model.tag} (from {meta.get('source', '?')})", stored)


def import_user_file(role: Role) -> tuple[str, bool]:
    """A user's own weights (``<ROLE>_MODEL_PATH``) into the store, checksummed."""
    path = role.model_path
    assert path is not None and role.store_name is not None
    if not path.is_file():
        raise WeightsMissing(f"{role.path_variable}: no file {path.name} there")
    sha256 = digest_file(path).sha256
    return import_to_store(role.store_name, role.model, path, sha256, f"local file {path.name}")


def resolve_weights(role: Role, model_dir: Path, allow_remote: bool) -> Weights:
    """Find verified weights: the store, then MODEL_DIR, then (only if allowed) the sources.
    A user's own file is imported (once per checksum) and served from the store."""
    if role.model_path is not None:
        tag, _ = import_user_file(role)
        weights = _from_store(tag)
        assert weights is not None
        return weights
    spec = role.model
    if (stored := _from_store(f"{spec.name}:latest")) is not None:
        return stored
    try:
        # With no sources, fetch_model accepts only a verified file already in MODEL_DIR.
        fetched = fetch_model(spec, model_dir, sources=None if allow_remote else ())
    except FetchError as error:
        if allow_remote:
            raise WeightsMissing(str(error)) from None
        raise WeightsMissing(
            f"weights for {spec.name} are not in the BentoML store or MODEL_DIR and "
            f"ALLOW_REMOTE_DOWNLOAD=false; run: {role.fetch_hint()}"
        ) from None
    # through the store, so what runs is what an import writes (fp32, checked)
    tag, _ = import_to_store(spec.name, spec, fetched.path, fetched.sha256, fetched.source)
    weights = _from_store(tag)
    assert weights is not None
    return weights
