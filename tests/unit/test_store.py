"""Import into the BentoML store and verified loading, in a store of the test's own."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import run_python

SCRIPT = textwrap.dedent(
    """
    import dataclasses, hashlib, sys
    from pathlib import Path
    from wizpix.core.catalog import load_catalog
    from wizpix.core.enums import RoleName
    from wizpix.core.roles import build_roles
    from wizpix.core.settings import Settings
    from wizpix.weights.store import WeightsCorrupt, WeightsMissing, import_to_store, resolve_weights

    work = Path(sys.argv[1])
    data = b"weights" * 100
    sha = hashlib.sha256(data).hexdigest()
    u2netp = load_catalog().require("u2netp")
    spec = u2netp.model_copy(update={"name": "unit-model", "file": "unit.onnx",
        "sources": (u2netp.sources[1].model_copy(update={"sha256": sha}),)})
    role = dataclasses.replace(build_roles(Settings(), load_catalog())[RoleName.FAST], model=spec)
    try:
        resolve_weights(role, work / "empty", allow_remote=False)
    except WeightsMissing as error:
        print("MISSING", "fetch_models.py --model unit-model" in str(error))
    (work / "unit.onnx").write_bytes(data)
    print("FROM_MODEL_DIR", resolve_weights(role, work, allow_remote=False).source)
    tag, created = import_to_store("unit-model", spec, work / "unit.onnx", sha, "a test")
    print("IMPORTED", tag, created, import_to_store("unit-model", spec, work / "unit.onnx", sha, "a test")[1])
    weights = resolve_weights(role, work / "empty", allow_remote=False)
    print("FROM_STORE", weights.sha256 == sha, weights.source)
    weights.path.write_bytes(data[:-1])
    try:
        resolve_weights(role, work / "empty", allow_remote=False)
    except WeightsCorrupt as error:
        print("CORRUPT", "does not match" in str(error))
    own = work / "fine-tuned.onnx"
    mine = dataclasses.replace(role, model_path=own)
    try:
        resolve_weights(mine, work / "empty", allow_remote=False)
    except WeightsMissing as error:
        print("OWN_MISSING", "FAST_MODEL_PATH" in str(error) and str(work) not in str(error))
    own.write_bytes(data + b"tuned")
    weights = resolve_weights(mine, work / "empty", allow_remote=False)
    print("OWN", weights.sha256 == hashlib.sha256(data + b"tuned").hexdigest(), weights.source)
    """
)


def test_store_import_is_idempotent_and_loading_verifies_checksums(tmp_path: Path) -> None:
    output = run_python(SCRIPT, str(tmp_path), BENTOML_HOME=str(tmp_path / "bentoml"))
    lines = dict(line.split(" ", 1) for line in output.splitlines())
    assert lines["MISSING"] == "True"
    # a verified file in MODEL_DIR is imported, and served from the store
    assert lines["FROM_MODEL_DIR"].startswith("bentoml store unit-model:")
    assert lines["IMPORTED"].startswith("unit-model:") and lines["IMPORTED"].endswith("False False")
    assert (
        lines["FROM_STORE"].startswith("True bentoml store unit-model:")
        and "(from verified copy of pip wheel" in lines["FROM_STORE"]
    )
    assert lines["CORRUPT"] == "True"
    # a user's own file: refused by name when absent, imported as <family>-custom when present
    assert lines["OWN_MISSING"] == "True"
    assert lines["OWN"].startswith("True bentoml store unit-model-custom:")
    assert "(from local file fine-tuned.onnx)" in lines["OWN"]
