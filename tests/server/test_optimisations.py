"""The speed work changes no pixels that matter: on a 12 MP photograph, the optimised
pipeline's alpha is within 1/255 (mean absolute difference) of the unoptimised one's and
its colours are identical. Real u2netp and ISNet weights, in process."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, jpeg_bytes
from wizpix.core.catalog import load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import build_roles
from wizpix.core.settings import Settings
from wizpix.image.compose import model_input, resize_mask
from wizpix.image.decode import decode_image
from wizpix.image.options import OutputOptions
from wizpix.image.render import render_result
from wizpix.runner.factory import build_model
from wizpix.weights.store import Weights

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
    role = build_roles(Settings(inference_threads=2), load_catalog())[RoleName(quality)]
    model = build_model(role, Weights(ROOT / "models" / str(role.model.file), "", "test"))
    pre = role.model.preprocess
    size, resample = pre.size, pre.resample
    image = decode_image(photo_12mp)

    exact_mask = model.predict(model_input(image, size, resample, reducing_gap=None)[None])[0]
    reference = np.asarray(Image.open(io.BytesIO(unoptimised_png(image, exact_mask, resample))))

    fast_mask = model.predict(model_input(image, size, resample)[None])[0]
    rendered = render_result(image, fast_mask, pre, OutputOptions())
    optimised = np.asarray(Image.open(io.BytesIO(rendered.data)))

    assert optimised.shape == reference.shape == (3024, 4032, 4)
    visible = optimised[..., 3] > 0  # hidden pixels are zeroed on purpose (compose_cutout)
    assert (optimised[visible][:, :3] == reference[visible][:, :3]).all()
    difference = np.abs(optimised[..., 3].astype(int) - reference[..., 3].astype(int)).mean()
    assert difference <= 1.0, f"mean alpha difference {difference:.3f} levels"


def test_the_pro_graph_widened_to_fp32_at_import_gives_the_same_masks() -> None:
    """What the store holds (fp32) against the file as published (fp16 weights): within one
    level of 255 on real photographs."""
    from skimage import data

    from wizpix.weights.store import resolve_weights

    settings = Settings(inference_threads=2, pro_precision="fp32")  # the widened graph, not int8
    role = build_roles(settings, load_catalog())[RoleName.PRO]
    stored = resolve_weights(role, ROOT / "models", allow_remote=False)
    assert "fp16 widened to fp32 at import" in stored.source
    published = build_model(role, Weights(ROOT / "models" / str(role.model.file), "", "as published"))
    widened = build_model(role, stored)
    pre = role.model.preprocess
    for photo in (data.astronaut(), data.chelsea(), data.coffee()):
        batch = model_input(Image.fromarray(photo), pre.size, pre.resample)[None]
        difference = np.abs(published.predict(batch).astype(int) - widened.predict(batch).astype(int))
        assert difference.max() <= 1, difference.max()
