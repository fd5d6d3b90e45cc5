"""The BentoML model store as the home of verified weights.

``fetch_models.py`` imports each fetched file here with its provenance; runners load from
here and re-check the checksum, so a file damaged after import is refused at load time
instead of producing garbage masks.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml.exceptions import NotFound

from .catalog import ModelSpec
from .fetch import FetchError, digest_file, fetch_model

log = logging.getLogger("wizpix.store")


class WeightsMissing(RuntimeError):
    """The weights are not available locally (and may not be downloaded now)."""


class WeightsCorrupt(RuntimeError):
    """The weights are present but do not match their recorded checksum."""


@dataclass(frozen=True)
class Weights:
    path: Path
    sha256: str
    source: str  # provenance for /health; never a local path


def import_to_store(spec: ModelSpec, path: Path, sha256: str, source: str) -> tuple[str, bool]:
    """Import a verified file as ``name:sha256-prefix``; returns (tag, created)."""
    tag = f"{spec.name}:{sha256[:20]}"
    try:
        return str(bentoml.models.get(tag).tag), False
    except NotFound:
        pass
    metadata = {**spec.metadata(), "source": source, "sha256": sha256, "file": spec.file}
    with bentoml.models.create(
        tag, labels={"project": "wizpix", "role": spec.role}, metadata=metadata
    ) as model:
        shutil.copyfile(path, Path(model.path) / str(spec.file))
    log.info("imported %s into the BentoML model store", tag)
    return tag, True


def _from_store(spec: ModelSpec) -> Weights | None:
    try:
        model = bentoml.models.get(f"{spec.name}:latest")
    except NotFound:
        return None
    meta = model.info.metadata
    path = Path(model.path) / str(meta.get("file", spec.file))
    expected = str(meta.get("sha256", ""))
    if not path.is_file():
        raise WeightsCorrupt(f"store entry {model.tag} has no weights file")
    actual = digest_file(path).sha256
    if actual != expected:
        raise WeightsCorrupt(
            f"store entry {model.tag}: sha256 {actual[:16]}… does not match the recorded {expected[:16]}…"
        )
    return Weights(path, actual, f"bentoml store {model.tag} (from {meta.get('source', '?')})")


def resolve_weights(spec: ModelSpec, model_dir: Path, allow_remote: bool) -> Weights:
    """Find verified weights: the store, then MODEL_DIR, then (only if allowed) the sources."""
    if (stored := _from_store(spec)) is not None:
        return stored
    try:
        # With no sources, fetch_model accepts only a verified file already in MODEL_DIR.
        fetched = fetch_model(spec, model_dir, sources=None if allow_remote else ())
    except FetchError as error:
        if allow_remote:
            raise WeightsMissing(str(error)) from None
        raise WeightsMissing(
            f"weights for {spec.name} are not in the BentoML store or MODEL_DIR and "
            f"ALLOW_REMOTE_DOWNLOAD=false; run: python scripts/fetch_models.py --model {spec.name}"
        ) from None
    if fetched.downloaded:
        import_to_store(spec, fetched.path, fetched.sha256, fetched.source)
    return Weights(fetched.path, fetched.sha256, f"MODEL_DIR ({fetched.source})")
