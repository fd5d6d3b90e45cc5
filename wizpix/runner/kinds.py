"""One class per kind of model, and the registry of kinds the manifest names.

Each turns a batch of model-sized images into masks.

The contract is the same for all: uint8 N×S×S×3 in, uint8 N×S×S out, same N. Batches are
run one image at a time inside: on the 2-core CPUs this was built on a stacked u2netp
batch was no faster per image, and IMG.LY's ISNet graph hard-codes batch 1 in a Resize
node, so adaptive batching here buys queueing and fewer round trips, not bigger tensors.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import types
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from wizpix.core.catalog import ModelSpec
from wizpix.core.contract import check_images
from wizpix.core.roles import Role
from wizpix.runner.device import check_session, providers
from wizpix.runner.precision import Precision, fixed, timed_choice
from wizpix.runner.tensors import activate, mock_alpha, to_uint8, warmup_probe
from wizpix.weights.store import Weights

log = logging.getLogger(__name__)


class MaskModel(Protocol):
    name: str
    input_size: int
    provider: str
    precision: Precision  # which build runs, and why
    warmed: bool  # its making already ran it (auto's timing): no warmup run needed

    def __init__(self, role: Role, weights: Weights | None) -> None: ...

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class InterfaceMismatch(ValueError):
    """A graph's inputs or outputs do not fit the family it is meant to run as."""


def _shape(arg: Any) -> str:
    return f"{arg.type} {list(arg.shape)}"


def _fits(dims: list[Any], expected: list[int | None]) -> bool:
    """Symbolic dimensions (strings, None) fit anything; fixed ones must match."""
    return len(dims) == len(expected) and all(
        want is None or not isinstance(dim, int) or dim == want
        for dim, want in zip(dims, expected, strict=True)
    )


def check_interface(session: Any, spec: ModelSpec) -> None:
    """One float image N×3×S×S in, a first output N×1×S×S: what every family's recipe feeds
    and reads. A user's file that differs would give garbage or crash mid-request, so it is
    refused at load with what was expected and what was found."""
    size = spec.preprocess.size
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    image_in = len(inputs) == 1 and inputs[0].type == "tensor(float)"
    if not (image_in and _fits(inputs[0].shape, [None, 3, size, size])):
        found = ", ".join(_shape(i) for i in inputs)
        problems.append(f"one input tensor(float) [N, 3, {size}, {size}], found {found}")
    if not outputs or not _fits(outputs[0].shape, [None, 1, size, size]):
        found = _shape(outputs[0]) if outputs else "no output"
        problems.append(f"a first output [N, 1, {size}, {size}], found {found}")
    if problems:
        raise InterfaceMismatch(
            f"the graph does not fit the {spec.name} family: expected " + "; expected ".join(problems)
        )


def _session_options(threads: int, memory_arena: bool) -> Any:  # an ort.SessionOptions
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The arena keeps peak activation memory resident for speed (ISNet at 1024², one image a
    # run, no memory pattern: int8 515 MB against 315 MB for 20%, fp32 986 against 491 MB
    # for 20%); see FAST_MEMORY_ARENA / PRO_MEMORY_ARENA in docs/configuration.md.
    options.enable_cpu_mem_arena = memory_arena
    # The memory pattern pre-plans every activation of the graph at its peak, kept for good
    # in the arena: u2netp 544 MB resident with it, 349 MB without, at the same speed (the
    # arena still reuses its blocks).
    options.enable_mem_pattern = False
    options.intra_op_num_threads = threads
    # No busy-waiting between kernels: on 2 cores a spinning pool steals the core the
    # front needs for decoding and encoding, at no gain for a single image.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def _no_int8(role: Role) -> str:
    """Why a model has no eight-bit build to run."""
    if role.model.int8 is None:
        return f"no int8 build: the {role.model.name} family has no int8 recipe in the manifest"
    if role.model_path is not None:
        return "no int8 build: your own weights get one only when PRO_PRECISION=int8"
    return "no int8 build in its store entry (imported by an older WizPix: run make models)"


class OnnxMaskModel:
    """Bare ONNX Runtime, every recipe detail taken from the spec; the fp32 graph or the
    eight-bit build made at import, as PRO_PRECISION says (wizpix/runner/precision.py)."""

    def __init__(self, role: Role, weights: Weights | None) -> None:
        import onnxruntime as ort

        if weights is None:
            raise ValueError(f"{role.model.name} needs a weights file")
        spec = role.model
        self.name = role.model_id
        self.spec = spec
        self.input_size = spec.preprocess.size

        def session(path: Path, memory_arena: bool = role.memory_arena) -> Any:
            options = _session_options(role.threads, memory_arena)
            made = ort.InferenceSession(str(path), options, providers=providers(role.device))
            check_interface(made, spec)
            return made

        self.precision = fixed(role.precision, weights.int8 is not None, _no_int8(role))
        self.warmed = False
        if self.precision is None:  # auto, with both builds at hand: timed on this CPU
            assert weights.int8 is not None
            # timed without the arena: two arenas at once (fp32 ~1 GB, int8 ~0.5 GB) would
            # put start-up's peak over a 2 GiB container; the arena speeds both alike (~20%)
            fp32, int8 = session(weights.path, False), session(weights.int8, False)
            tensor = spec.preprocess.normalize(warmup_probe(self.input_size))
            self.precision = timed_choice(
                lambda: self._run(fp32, tensor), lambda: self._run(int8, tensor), role.threads
            )
            if not role.memory_arena:  # the timed session is the one to serve with, warm
                self.session, self.warmed = {"fp32": fp32, "int8": int8}[self.precision.build], True
            del fp32, int8  # the build not chosen goes now, not at the next collection
        if not self.warmed:
            self.session = session({"fp32": weights.path, "int8": weights.int8}[self.precision.build])
        self.provider = check_session(self.session, role.device)

    @staticmethod
    def _run(session: Any, batch: np.ndarray) -> np.ndarray:
        return session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: batch})[0]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_images(batch, self.input_size)
        masks = []
        for image in batch:
            raw = self._run(self.session, self.spec.preprocess.normalize(image[None]))
            masks.append(to_uint8(activate(raw[:, 0], self.spec.postprocess))[0])
        return np.stack(masks)


def rembg_sessions() -> dict[str, Any]:
    """rembg's registry of session classes, without running rembg's package ``__init__``.

    That ``__init__`` imports rembg's whole image pipeline (``bg.py``: pymatting, numba,
    llvmlite, scipy, scikit-image, jsonschema), none of which a runner calls: +165 MB
    resident and +1.1 s of start-up in the fast runner (measured). The sessions import only
    numpy, Pillow and ONNX Runtime, so the package is entered without its ``__init__``
    here; the stand-in package is taken away again, so that a later ``import rembg`` (a test,
    a script in the same process) gets the real one.
    """
    stand_in = "rembg" not in sys.modules
    if stand_in:
        spec = importlib.util.find_spec("rembg")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("rembg is not installed")
        package = types.ModuleType("rembg")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["rembg"] = package
    try:
        from rembg.sessions import sessions
    finally:
        if stand_in:
            del sys.modules["rembg"]
    return sessions


class RembgMaskModel:
    """rembg's own session class for the model's family, fed our verified file: its recipe
    is rembg's by construction (fast's alpha equals ``rembg.remove()``'s, tested)."""

    precision = Precision("fp32", "rembg's session runs the published graph")
    warmed = False

    def __init__(self, role: Role, weights: Weights | None) -> None:
        sessions = rembg_sessions()
        if weights is None:
            raise ValueError(f"{role.model.name} needs a weights file")
        path = weights.path
        spec = role.model
        family = sessions[spec.rembg_session or spec.name]
        # Same class, same recipe; only where the weights come from is ours.
        own_file = type(
            family.__name__, (family,), {"download_models": classmethod(lambda cls, *a, **k: str(path))}
        )
        options = _session_options(role.threads, role.memory_arena)
        self.session = own_file(spec.name, options, providers=providers(role.device))
        check_interface(self.session.inner_session, spec)
        self.name = role.model_id
        self.provider = check_session(self.session.inner_session, role.device)
        self.input_size = spec.preprocess.size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        from PIL import Image

        check_images(batch, self.input_size)
        return np.stack([np.asarray(self.session.predict(Image.fromarray(image))[0]) for image in batch])


class MockMaskModel:
    """No weights: alpha is the distance to the border colour. Deterministic, for tests."""

    provider = "none (mock)"
    precision = Precision("fp32", "no weights (mock)")
    warmed = False

    def __init__(self, role: Role, weights: Weights | None = None) -> None:
        self.name = role.model.name
        self.input_size = role.model.preprocess.size
        self.delay_s = role.model.mock_delay_ms / 1000  # a slow model, for load-shedding tests

    def predict(self, batch: np.ndarray) -> np.ndarray:
        check_images(batch, self.input_size)
        if self.delay_s:
            time.sleep(self.delay_s * len(batch))
        return to_uint8(mock_alpha(batch))


# The kinds a manifest entry may name: adding a kind is a class above and a line here.
KINDS: dict[str, type[MaskModel]] = {
    "rembg": RembgMaskModel,
    "onnx": OnnxMaskModel,
    "mock": MockMaskModel,
}
