"""The eight-bit build made at import: reproducible bytes, its making recorded in the store
entry and checked at load, and the runner running the build PRO_PRECISION asks for. A small
stand-in graph with ISNet's interface, at 64²."""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_python
from tests.standins import build_standin
from wizpix.core.catalog import Int8Recipe, load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import build_roles
from wizpix.core.settings import Settings
from wizpix.runner.kinds import OnnxMaskModel
from wizpix.weights.int8 import quantize
from wizpix.weights.store import Weights

RECIPE = Int8Recipe(method="minmax", calibration=("astronaut", "coffee"))
SPEC = load_catalog().require("isnet-general-use")
SMALL = SPEC.model_copy(
    update={"preprocess": SPEC.preprocess.model_copy(update={"size": 64}), "int8": RECIPE}
)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    folder = tmp_path_factory.mktemp("int8")
    fp32 = build_standin(folder / "isnet.onnx", 64, input_name="input", outputs=6)
    build = quantize(fp32, folder / "isnet.int8.onnx", RECIPE, SMALL.preprocess)
    return fp32, folder / "isnet.int8.onnx", build


def test_the_same_inputs_give_the_same_bytes_and_the_making_is_recorded(builds, tmp_path: Path) -> None:
    fp32, int8, build = builds
    again = quantize(fp32, tmp_path / "again.onnx", RECIPE, SMALL.preprocess)
    assert again.sha256 == build.sha256 == hashlib.sha256(int8.read_bytes()).hexdigest()
    assert set(build.calibration) == {"astronaut", "coffee"} and all(
        len(v) == 64 for v in build.calibration.values()
    )
    assert "static quantization, QDQ, per-channel int8 weights, uint8 activations, minmax" in build.recipe
    import onnx

    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def _role(precision: str, own: Path | None = None):
    settings = Settings(
        fast_model_name="mock", pro_model_name="isnet", inference_threads=1, pro_precision=precision
    )
    role = build_roles(settings, load_catalog())[RoleName.PRO]
    return dataclasses.replace(role, model=SMALL, model_path=own)


def test_the_runner_runs_the_build_the_setting_asks_for(builds) -> None:
    fp32, int8, build = builds
    weights = Weights(fp32, "published", "a test", int8=int8, int8_recipe=build.recipe)
    batch = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    models = {setting: OnnxMaskModel(_role(setting), weights) for setting in ("fp32", "int8", "auto")}
    assert models["fp32"].precision.build == "fp32" and models["int8"].precision.build == "int8"
    auto = models["auto"].precision
    assert (
        auto.build in ("fp32", "int8")
        and auto.fp32_s
        and auto.int8_s
        and auto.reason.startswith("auto: int8 ")
    )
    masks = {setting: model.predict(batch).astype(int) for setting, model in models.items()}
    assert masks["fp32"].shape == (2, 64, 64)
    assert np.abs(masks["fp32"] - masks["int8"]).mean() < 3  # levels of 255: the same mask, near enough
    # without an int8 build: auto runs fp32 and says why; int8 is refused, saying why
    plain = Weights(fp32, "published", "a test")
    assert "no int8 build in its store entry" in OnnxMaskModel(_role("auto"), plain).precision.reason
    with pytest.raises(ValueError, match="PRO_PRECISION=int8, but no int8 build"):
        OnnxMaskModel(_role("int8"), plain)
    # a user's own weights: int8 only on request
    own = OnnxMaskModel(_role("auto", own=fp32), plain).precision
    assert own.build == "fp32" and "only when PRO_PRECISION=int8" in own.reason


STORE = textwrap.dedent(
    """
    import dataclasses, hashlib, sys
    from pathlib import Path
    from tests.standins import build_standin
    from wizpix.core.catalog import Int8Recipe, load_catalog
    from wizpix.core.enums import RoleName
    from wizpix.core.roles import build_roles
    from wizpix.core.settings import Settings
    from wizpix.weights.store import WeightsCorrupt, import_to_store, resolve_weights
    import bentoml

    work = Path(sys.argv[1])
    spec = load_catalog().require("isnet-general-use")
    recipe = Int8Recipe(method="minmax", calibration=("astronaut",))
    small = spec.model_copy(update={"name": "unit-isnet", "file": "unit.onnx", "int8": recipe,
        "preprocess": spec.preprocess.model_copy(update={"size": 64})})
    path = build_standin(work / "unit.onnx", 64, outputs=6)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    tag, _ = import_to_store("unit-isnet", small, path, sha, "a test")
    print("PLAIN", "int8" in bentoml.models.get(tag).info.metadata)
    tag, created = import_to_store("unit-isnet", small, path, sha, "a test", recipe)
    meta = bentoml.models.get(tag).info.metadata["int8"]
    print("REIMPORTED", created, meta["file"], sorted(meta["calibration"]), meta["onnxruntime"] != "")
    role = dataclasses.replace(build_roles(Settings(), load_catalog())[RoleName.PRO], model=small)
    weights = resolve_weights(role, work / "empty", allow_remote=False)
    recipe_text = weights.int8_recipe
    print("LOADED", weights.int8.name, "percentile" not in recipe_text, "minmax" in recipe_text)
    weights.int8.write_bytes(weights.int8.read_bytes()[:-1])
    try:
        resolve_weights(role, work / "empty", allow_remote=False)
    except WeightsCorrupt as error:
        print("CORRUPT", "unit.int8.onnx" in str(error) and "does not match" in str(error))
    """
)


def test_the_store_entry_holds_the_build_beside_the_graph_and_checks_it(tmp_path: Path) -> None:
    output = run_python(STORE, str(tmp_path), BENTOML_HOME=str(tmp_path / "bentoml"))
    lines = dict(line.split(" ", 1) for line in output.splitlines() if line.split(" ", 1)[0].isupper())
    assert lines["PLAIN"] == "False"  # none asked for: none made
    assert lines["REIMPORTED"] == "True unit.int8.onnx ['astronaut'] True"  # asked for later: made
    assert lines["LOADED"] == "unit.int8.onnx True True"
    assert lines["CORRUPT"] == "True"
