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

from wizpix.core.catalog import Int8Recipe, ModelSpec
from wizpix.core.roles import Role
from wizpix.weights.fp16 import widen_fp16
from wizpix.weights.int8 import quantize
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
    int8: Path | None = None  # the eight-bit build made at import, checked like the rest
    int8_recipe: str | None = None  # how it was made (method, calibration)


# Bumped when what an import writes changes: an older entry is imported again.
# 2: fp16 weights widened to fp32 (wizpix/weights/fp16.py).
# 3: an eight-bit build beside the fp32 graph, where the family has a recipe (int8.py).
IMPORT_VERSION = 3


def _current(tag: str, int8: Int8Recipe | None) -> bool:
    """The entry exists, written by this version, with an int8 build when one is wanted."""
    try:
        existing = bentoml.models.get(tag)
    except NotFound:
        return False
    meta = existing.info.metadata
    if meta.get("import_version") == IMPORT_VERSION and (int8 is None or "int8" in meta):
        return True
    log.info("re-importing %s (imported by an older WizPix, or without the int8 build now wanted)", tag)
    bentoml.models.delete(tag)
    return False


def import_to_store(
    name: str, spec: ModelSpec, path: Path, sha256: str, source: str, int8: Int8Recipe | None = None
) -> tuple[str, bool]:
    """Import a verified file as ``name:sha256-prefix``; returns (tag, created).

    ``name`` is the model's own for catalogue weights, ``<family>-custom`` for a user's file;
    the family's recipe travels in the metadata either way. The tag keeps the published
    file's checksum; the metadata's ``sha256`` is the stored file's, which a runner checks.
    With ``int8``, the eight-bit build derived from the stored fp32 graph goes beside it."""
    tag = f"{name}:{sha256[:20]}"
    if _current(tag, int8):
        return tag, False
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
        eight_bit = Path(scratch) / f"{Path(file).stem}.int8.onnx"
        if int8 is not None:
            metadata["int8"] = quantize(stored, eight_bit, int8, spec.preprocess).metadata()
        labels = {"project": "wizpix", "family": spec.name}
        with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
            shutil.copyfile(stored, Path(model.path) / file)
            if int8 is not None:
                shutil.copyfile(eight_bit, Path(model.path) / eight_bit.name)
    made = ", ".join(what for what in (conversion, "int8 build made" if int8 else None) if what)
    log.info("imported %s into the BentoML model store%s", tag, f" ({made})" if made else "")
    return tag, True


def _checked(model: bentoml.Model, file: object, expected: object) -> tuple[Path, str]:
    """A file of the entry and its sha256, refused unless it is the one recorded."""
    path = Path(model.path) / str(file)
    if not path.is_file():
        raise WeightsCorrupt(f"store entry {model.tag} has no file {file}")
    actual = digest_file(path).sha256
    if actual != str(expected or ""):
        raise WeightsCorrupt(
            f"store entry {model.tag}: {file} sha256 {actual[:16]}… does not match the recorded "
            f"{str(expected)[:16]}…"
        )
    return path, actual


def _from_store(tag: str) -> Weights | None:
    try:
        model = bentoml.models.get(tag)
    except NotFound:
        return None
    meta = model.info.metadata
    path, actual = _checked(model, meta.get("file"), meta.get("sha256"))
    int8 = meta.get("int8")
    int8_path = _checked(model, int8["file"], int8["sha256"])[0] if isinstance(int8, dict) else None
    published = str(meta.get("source_sha256") or actual)
    return Weights(
        path,
        published,
        f"bentoml store {model.tag} (from {meta.get('source', '?')})",
        actual if actual != published else None,
        int8_path,
        f"{int8['recipe']}; ONNX Runtime {int8['onnxruntime']}" if int8_path else None,
    )


def import_user_file(role: Role) -> tuple[str, bool]:
    """A user's own weights (``<ROLE>_MODEL_PATH``) into the store, checksummed."""
    path = role.model_path
    assert path is not None and role.store_name is not None
    if not path.is_file():
        raise WeightsMissing(f"{role.path_variable}: no file {path.name} there")
    sha256 = digest_file(path).sha256
    source = f"local file {path.name}"
    return import_to_store(role.store_name, role.model, path, sha256, source, role.int8_recipe)


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
    tag, _ = import_to_store(spec.name, spec, fetched.path, fetched.sha256, fetched.source, spec.int8)
    weights = _from_store(tag)
    assert weights is not None
    return weights
