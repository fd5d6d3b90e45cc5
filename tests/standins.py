"""Small ONNX graphs with a model family's interface, for families whose weights cannot be
had here: the same input and outputs as the real network, a few cheap operators inside.

The graph is smooth in the image (a 1×1 convolution over the normalised colours, then a
9×9 average), so its mask has real edges and gradients for a recipe to get right or
wrong, and it ends the way the family does: in a sigmoid, or in logits (BiRefNet).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Interface per family, read off the published graphs (see ../shared/model-sources.md):
# input name, how many outputs (the first is the mask), and whether it ends in a sigmoid.
INTERFACES: dict[str, tuple[str, int, bool]] = {
    "u2net": ("input.1", 7, True),
    "isnet": ("input", 6, True),
    "birefnet": ("input_image", 1, False),
    "bria": ("pixel_values", 1, True),
    "modnet": ("input", 1, True),
}


def interface_of(name: str) -> tuple[str, int, bool]:
    if name.startswith("birefnet"):
        return INTERFACES["birefnet"]
    if name.startswith("isnet"):
        return INTERFACES["isnet"]
    if name.startswith("bria"):
        return INTERFACES["bria"]
    if name.startswith("modnet"):
        return INTERFACES["modnet"]
    return INTERFACES["u2net"]


def build_standin(
    path: Path,
    size: int,
    *,
    input_name: str = "input",
    outputs: int = 1,
    sigmoid: bool = True,
    channels: int = 3,
    output_channels: int = 1,
    output_size: int | None = None,
) -> Path:
    """Write the graph to ``path``. The keyword arguments other than the interface let a
    test make a file that does not fit its family (wrong channels, size, output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([0.9, -0.6, 0.4, 0.2][:channels], np.float32).reshape(1, channels, 1, 1)
    weights = np.repeat(weights, output_channels, axis=0)
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["mixed"]),
        helper.make_node("AveragePool", ["mixed"], ["smooth"], kernel_shape=[9, 9], pads=[4, 4, 4, 4]),
        helper.make_node("Mul", ["smooth", "gain"], ["logits"]),
    ]
    last = "logits"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["probability"]))
        last = "probability"
    out = output_size or size
    if out != size:
        nodes.append(
            helper.make_node("AveragePool", [last], ["resized"], kernel_shape=[2, 2], strides=[2, 2])
        )
        last = "resized"
    names = ["mask", *(f"side{i}" for i in range(1, outputs))]
    nodes += [helper.make_node("Identity", [last], [name]) for name in names]
    graph = helper.make_graph(
        nodes,
        "standin",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, output_channels, out, out]) for n in names],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.full(output_channels, 0.1, np.float32), "b"),
            numpy_helper.from_array(np.array(3.0, np.float32), "gain"),
        ],
    )
    graph.node[0].input[0] = input_name
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def standin_for(name: str, size: int, directory: Path) -> Path:
    """A stand-in with the interface of model ``name``, saved as ``directory/<name>.onnx``."""
    input_name, outputs, sigmoid = interface_of(name)
    directory.mkdir(parents=True, exist_ok=True)
    return build_standin(
        directory / f"{name}.onnx", size, input_name=input_name, outputs=outputs, sigmoid=sigmoid
    )
