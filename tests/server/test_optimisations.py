"""The speed work changes no pixels that matter: on a 12 MP photograph, the optimised
pipeline's alpha is within 1/255 (mean absolute difference) of the unoptimised one's and
its colours are identical. Real u2netp and ISNet weights, in process."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, jpeg_bytes
from wizpix.catalog import load_catalog
from wizpix.frontend import ModelInput, render_result
from wizpix.imaging import decode_image, model_input, resize_mask
from wizpix.models import OnnxMaskModel, RembgMaskModel
from wizpix.output import OutputOptions

pytestmark = pytest.mark.weights


def unoptimised_png(image: Image.Image, mask: np.ndarray, resample: str) -> bytes:
    """The first version: numpy stack for the cutout, Pillow's default PNG level."""
    alpha = resize_mask(mask, image.size, resample)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([np.asarray(image.convert("RGB")), alpha]), "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_12mp() -> bytes:
    from skimage import data

    return jpeg_bytes(
        np.asarray(Image.fromarray(data.coffee()).resize((4032, 3024), Image.Resampling.BICUBIC))
    )


@pytest.mark.parametrize("quality", ["fast", "pro"])
def test_optimised_alpha_within_one_level_of_the_unoptimised_pipeline(
    photo_12mp: bytes, quality: str
) -> None:
    catalog = load_catalog()
    if quality == "fast":
        model = RembgMaskModel("u2netp", Path(ROOT / "models/u2netp.onnx"), threads=2, size_hint=320)
        resample = "lanczos"
    else:
        spec = catalog.require("isnet-general-use")
        model = OnnxMaskModel(spec, ROOT / "models/isnet-general-use.onnx", threads=2)
        resample = spec.preprocess.resample
    image = decode_image(photo_12mp)
    size = model.input_size

    exact_mask = model.predict(model_input(image, size, resample, reducing_gap=None)[None])[0]
    reference = np.asarray(Image.open(io.BytesIO(unoptimised_png(image, exact_mask, resample))))

    fast_mask = model.predict(model_input(image, size, resample)[None])[0]
    rendered = render_result(image, fast_mask, ModelInput(size, resample), OutputOptions())
    optimised = np.asarray(Image.open(io.BytesIO(rendered.data)))

    assert optimised.shape == reference.shape == (3024, 4032, 4)
    visible = optimised[..., 3] > 0  # hidden pixels are zeroed on purpose (compose_cutout)
    assert (optimised[visible][:, :3] == reference[visible][:, :3]).all()
    difference = np.abs(optimised[..., 3].astype(int) - reference[..., 3].astype(int)).mean()
    assert difference <= 1.0, f"mean alpha difference {difference:.3f} levels"
