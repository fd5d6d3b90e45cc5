"""fp16 weights widened to fp32 at import: the same outputs, no fp16 left, fp32 graphs untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.standins import build_standin
from wizpix.weights.fp16 import widen_fp16


def fp16_graph(path: Path) -> Path:
    """IMG.LY's pattern: fp16 weights, fp32 in and out, Casts around the compute."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.linspace(-1, 1, 12, dtype=np.float16).reshape(1, 3, 2, 2)
    nodes = [
        helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
        helper.make_node("Constant", [], ["bias"], value=numpy_helper.from_array(np.array(0.25, np.float16))),
        helper.make_node("Conv", ["x16", "w"], ["y16"], pads=[0, 0, 1, 1]),
        helper.make_node("Add", ["y16", "bias"], ["z16"]),
        helper.make_node("Cast", ["z16"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "fp16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_fp16_weights_constants_and_casts_are_widened_with_the_same_outputs(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto

    source = fp16_graph(tmp_path / "half.onnx")
    widened = widen_fp16(source, tmp_path / "full.onnx")
    assert (widened.initializers, widened.constants, widened.casts) == (1, 1, 1)
    assert "fp16 widened to fp32 at import" in widened.describe()
    model = onnx.load(str(tmp_path / "full.onnx"))
    assert all(t.data_type != TensorProto.FLOAT16 for t in model.graph.initializer)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert np.abs(run(source, x) - run(tmp_path / "full.onnx", x)).max() < 1e-2  # fp16 rounding, gone


def test_an_fp32_graph_and_a_file_that_is_not_onnx_are_left_as_they_are(tmp_path: Path) -> None:
    plain = build_standin(tmp_path / "plain.onnx", 32)
    assert not widen_fp16(plain, tmp_path / "out.onnx").changed
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    assert not widen_fp16(tmp_path / "junk.onnx", tmp_path / "out.onnx").changed
    assert not (tmp_path / "out.onnx").exists()
