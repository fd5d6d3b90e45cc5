"""An eight-bit build of an fp32 graph, derived once at import into the store.

ONNX Runtime's static quantization (QDQ: quantize/dequantize pairs around each operator,
which its CPU provider fuses into integer kernels), calibrated by running the fp32 graph on
a few ordinary photographs (scikit-image's bundled ones, in no evaluation set) fed exactly as
the runner feeds it. Dynamic quantization is not used: it turns convolutions into
ConvInteger, slow on CPUs, and it broke u2netp outright elsewhere. The same inputs give the
same bytes (checked by a test), and what made the build is recorded beside it in the store.
Whether the build is used on a given CPU is the runner's call (wizpix/runner/precision.py).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wizpix.core.catalog import Int8Recipe, Preprocess

log = logging.getLogger(__name__)

RESAMPLE = {"lanczos": 1, "bilinear": 2, "bicubic": 3, "nearest": 0}  # Pillow's filter numbers


@dataclass(frozen=True)
class Int8Build:
    """What was made, and what made it: recorded in the model's store entry."""

    file: str
    sha256: str
    recipe: str
    calibration: dict[str, str]  # photograph → sha256 of its RGB pixels
    onnxruntime: str
    build_s: float

    def metadata(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "recipe": self.recipe,
            "calibration": self.calibration,
            "onnxruntime": self.onnxruntime,
            "build_s": self.build_s,
        }


def calibration_photos(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """RGB uint8 arrays of scikit-image's bundled photographs, by name (greyscale made RGB)."""
    from skimage import data

    photos = {}
    for name in names:
        loaded = getattr(data, name)()
        array = np.asarray(loaded[0] if isinstance(loaded, tuple) else loaded)  # a stereo pair: its left
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        photos[name] = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    return photos


def model_tensor(photo: np.ndarray, pre: Preprocess) -> np.ndarray:
    """A photo as the runner feeds it to the graph: resized to the model's square input
    with the recipe's filter, then normalised."""
    from PIL import Image

    resized = Image.fromarray(photo).resize((pre.size, pre.size), RESAMPLE[pre.resample])
    return pre.normalize(np.asarray(resized, dtype=np.uint8)[None])


def quantize(source: Path, target: Path, recipe: Int8Recipe, pre: Preprocess) -> Int8Build:
    """Write the eight-bit build of the fp32 graph ``source`` to ``target``."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    photos = calibration_photos(recipe.calibration)
    tensors = [model_tensor(photo, pre) for photo in photos.values()]

    class Photos(CalibrationDataReader):
        """One photograph per step (CalibStridedMinMax): memory bounded by one activation set."""

        def __init__(self, input_name: str) -> None:
            self.input_name = input_name
            self.set_range(0, len(tensors))

        def __len__(self) -> int:
            return len(tensors)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.batches = iter(tensors[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self.batches, None)
            return None if tensor is None else {self.input_name: tensor}

    started = time.perf_counter()
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    with tempfile.TemporaryDirectory(prefix="wizpix-int8-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # shapes inferred and the graph folded first, as ONNX Runtime advises before quantizing;
        # ONNX's own shape inference suffices for fixed input sizes (the symbolic one needs sympy)
        quant_pre_process(str(source), str(prepared), skip_optimization=False, skip_symbolic_shape=True)
        import onnx

        input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
        quantize_static(
            str(prepared),
            str(target),
            Photos(input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range,
            activation_type=types[recipe.activations],
            weight_type=types[recipe.weights],
            calibrate_method=methods[recipe.method],
            extra_options={"CalibStridedMinMax": 1},
        )
    build = Int8Build(
        file=target.name,
        sha256=hashlib.sha256(target.read_bytes()).hexdigest(),
        recipe=recipe.describe(),
        calibration={name: hashlib.sha256(photo.tobytes()).hexdigest() for name, photo in photos.items()},
        onnxruntime=onnxruntime.__version__,
        build_s=round(time.perf_counter() - started, 1),
    )
    log.info("int8 build %s made in %.0f s (%s)", target.name, build.build_s, build.recipe)
    return build
