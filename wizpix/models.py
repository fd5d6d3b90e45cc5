"""One class per kind of model; each turns a batch of model-sized images into masks.

The contract is the same for all: uint8 N×S×S×3 in, uint8 N×S×S out, same N. Batches are
run one image at a time inside: on the 2-core CPUs this was built on a stacked u2netp
batch was no faster per image, and IMG.LY's ISNet graph hard-codes batch 1 in a Resize
node, so adaptive batching here buys queueing and fewer round trips, not bigger tensors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .catalog import ModelSpec
from .imaging import activate, mock_alpha, normalize, to_uint8

log = logging.getLogger("wizpix.models")


class MaskModel(Protocol):
    name: str
    input_size: int
    provider: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def check_batch(batch: np.ndarray, size: int) -> None:
    if batch.ndim != 4 or batch.shape[1:] != (size, size, 3) or batch.dtype != np.uint8:
        raise ValueError(f"expected a uint8 batch N×{size}×{size}×3, got {batch.dtype} {batch.shape}")


def _session_options(threads: int, memory_arena: bool) -> Any:  # an ort.SessionOptions
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The arena keeps peak activation memory resident (ISNet at 1024²: 2.2 GB vs 0.5 GB)
    # for ~12% speed; see FAST_MEMORY_ARENA / PRO_MEMORY_ARENA in the README.
    options.enable_cpu_mem_arena = memory_arena
    options.intra_op_num_threads = threads
    # No busy-waiting between kernels: on 2 cores a spinning pool steals the core the
    # front needs for decoding and encoding, at no gain for a single image.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def _providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    preferred = [p for p in ("CUDAExecutionProvider", "CoreMLExecutionProvider") if p in available]
    return [*preferred, "CPUExecutionProvider"]


class OnnxMaskModel:
    """The pro pipeline: bare ONNX Runtime, every recipe detail taken from the spec."""

    def __init__(self, spec: ModelSpec, path: Path, threads: int, memory_arena: bool = False) -> None:
        import onnxruntime as ort

        self.name = spec.name
        self.spec = spec
        self.input_size = spec.preprocess.size
        self.session = ort.InferenceSession(
            str(path), _session_options(threads, memory_arena), providers=_providers()
        )
        self.provider = self.session.get_providers()[0]
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.input_size)
        masks = []
        for image in batch:
            tensor = normalize(image[None], self.spec.preprocess)
            raw = self.session.run([self.output_name], {self.input_name: tensor})[0]
            masks.append(to_uint8(activate(raw[:, 0], self.spec.postprocess))[0])
        return np.stack(masks)


class RembgMaskModel:
    """The fast pipeline: rembg's own session class for the model, fed our verified file."""

    def __init__(
        self, name: str, path: Path | None, threads: int, size_hint: int, memory_arena: bool = False
    ) -> None:
        from PIL import Image  # noqa: F401 - rembg expects Pillow images
        from rembg.sessions import sessions

        base = sessions[name]  # FAST_MODEL_NAME was checked against rembg at start-up
        if path is not None:
            # Same class, same recipe; only where the weights come from is ours.
            base = type(
                base.__name__, (base,), {"download_models": classmethod(lambda cls, *a, **k: str(path))}
            )
        self.session = base(name, _session_options(threads, memory_arena), providers=_providers())
        self.name = name
        self.provider = self.session.inner_session.get_providers()[0]
        shape = self.session.inner_session.get_inputs()[0].shape
        self.input_size = shape[-1] if isinstance(shape[-1], int) else size_hint

    def predict(self, batch: np.ndarray) -> np.ndarray:
        from PIL import Image

        check_batch(batch, self.input_size)
        return np.stack([np.asarray(self.session.predict(Image.fromarray(image))[0]) for image in batch])


class MockMaskModel:
    """No weights: alpha is the distance to the border colour. Deterministic, for tests."""

    provider = "none (mock)"

    def __init__(self, spec: ModelSpec) -> None:
        self.name = spec.name
        self.input_size = spec.preprocess.size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.input_size)
        return to_uint8(mock_alpha(batch))
