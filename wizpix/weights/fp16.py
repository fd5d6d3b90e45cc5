"""Graphs rewritten once, at import into the store, for the CPU they will run on.

IMG.LY's ISNet stores its weights in fp16 and casts them to fp32 around every operator
(238 initializers, 91 Casts): ONNX Runtime's CPU kernels compute in fp32 anyway, so the
casts are pure cost. Widening the weights once gives the same network in fp32 (outputs
within 4e-5 of the original's, measured in ../shared/model-sources.md), faster and
lighter at run time, for twice the file size. A graph with no fp16 is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Widened:
    initializers: int
    constants: int
    casts: int

    @property
    def changed(self) -> bool:
        return bool(self.initializers or self.constants or self.casts)

    def describe(self) -> str:
        return (
            f"fp16 widened to fp32 at import: {self.initializers} initializers, "
            f"{self.constants} constants, {self.casts} casts"
        )


def widen_fp16(source: Path, target: Path) -> Widened:
    """Write ``source`` with every fp16 weight, constant and cast made fp32 to ``target``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    try:
        model = onnx.load(str(source))
    except Exception:  # noqa: BLE001 - not ONNX: imported as it is, and the runner says why
        return Widened(0, 0, 0)
    graph = model.graph
    initializers = constants = casts = 0

    def widened(tensor: onnx.TensorProto) -> onnx.TensorProto:
        return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)

    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT16:
            tensor.CopyFrom(widened(tensor))
            initializers += 1
    for node in graph.node:
        for attribute in node.attribute:
            fp16 = attribute.t.data_type == TensorProto.FLOAT16
            if node.op_type == "Constant" and attribute.name == "value" and fp16:
                attribute.t.CopyFrom(widened(attribute.t))
                constants += 1
            elif node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT16:
                attribute.i = TensorProto.FLOAT
                casts += 1
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    result = Widened(initializers, constants, casts)
    if result.changed:
        onnx.save(model, str(target))
    return result
