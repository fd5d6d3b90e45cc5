"""The pure image functions, without any server."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from wizpix.core.catalog import Postprocess, load_catalog
from wizpix.core.errors import BadInput
from wizpix.image.compose import compose_cutout, model_input, resize_mask, subject_bbox
from wizpix.image.decode import decode_image
from wizpix.image.encode import encode_png
from wizpix.runner.tensors import activate, mock_alpha, to_uint8


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"plain text, not pixels", "not_an_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "corrupt_image"),
    ],
)
def test_decode_rejects_bad_uploads_with_a_code(data: bytes, code: str) -> None:
    with pytest.raises(BadInput) as caught:
        decode_image(data)
    assert caught.value.code == code and caught.value.status == 400


def test_decode_rejects_a_truncated_jpeg(astronaut: bytes) -> None:
    with pytest.raises(BadInput) as caught:
        decode_image(astronaut[: len(astronaut) // 3])
    assert caught.value.code == "corrupt_image"


def test_decode_honours_exif_orientation() -> None:
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(_encode(image, "JPEG", exif=exif))
    assert decoded.size == (20, 40) and decoded.mode == "RGB"


def test_decode_keeps_transparency_of_palette_and_rgba_inputs() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert decode_image(_encode(rgba, "PNG")).mode == "RGBA"
    palette = Image.new("P", (8, 8), 0)
    palette.info["transparency"] = 0
    assert decode_image(_encode(palette, "PNG", transparency=0)).mode == "RGBA"
    gray16 = Image.fromarray(np.full((8, 8), 40000, np.uint16))
    assert decode_image(_encode(gray16, "PNG")).mode == "RGB"


def test_decode_refuses_images_over_the_pixel_limit() -> None:
    with pytest.raises(BadInput) as caught:
        decode_image(_encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=5000)
    assert caught.value.status == 413


def test_model_input_is_a_model_sized_uint8_array() -> None:
    array = model_input(Image.new("RGB", (1000, 500), (1, 2, 3)), 320, "lanczos")
    assert array.shape == (320, 320, 3) and array.dtype == np.uint8


def test_normalize_matches_rembg_recipe_for_u2netp() -> None:
    """Our spec-driven normalisation equals rembg's BaseSession.normalize for u2netp."""
    from rembg.sessions.base import BaseSession

    pre = load_catalog().require("u2netp").preprocess
    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, (pre.size, pre.size, 3), dtype=np.uint8)
    fake = SimpleNamespace(inner_session=SimpleNamespace(get_inputs=lambda: [SimpleNamespace(name="x")]))
    theirs = BaseSession.normalize(fake, Image.fromarray(image), pre.mean, pre.std, (pre.size, pre.size))["x"]
    ours = pre.normalize(image[None])
    assert ours.shape == (1, 3, pre.size, pre.size) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_normalize_unit_scale_with_mean_and_std() -> None:
    pre = load_catalog().require("birefnet-portrait").preprocess
    white = np.full((1, 2, 2, 3), 255, np.uint8)
    expected = (1.0 - np.asarray(pre.mean)) / np.asarray(pre.std)
    np.testing.assert_allclose(pre.normalize(white)[0, :, 0, 0], expected, rtol=1e-6)


def test_activations() -> None:
    raw = np.array([[[-2.0, 0.0], [2.0, 4.0]], [[1.0, 1.5], [2.0, 3.0]]], np.float32)
    sig = activate(raw, Postprocess(activation="sigmoid"))
    assert sig[0, 0, 1] == pytest.approx(0.5)
    stretched = activate(raw, Postprocess(activation="none", stretch=True))
    assert stretched.reshape(2, -1).min(axis=1).tolist() == [0, 0]
    assert stretched.reshape(2, -1).max(axis=1).tolist() == [1, 1]
    both = activate(raw, Postprocess(activation="sigmoid", stretch=True))
    assert both[0, 0, 1] == pytest.approx((0.5 - sig[0].min()) / (sig[0].max() - sig[0].min()))
    clipped = activate(raw, Postprocess(activation="none"))
    assert clipped.min() == 0 and clipped.max() == 1
    assert to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 128, 255]


def test_resize_mask_to_the_image_size() -> None:
    mask = np.zeros((320, 320), np.uint8)
    assert resize_mask(mask, (640, 480), "lanczos").shape == (480, 640)


def test_compose_keeps_visible_colours_and_zeroes_hidden_ones() -> None:
    image = Image.new("RGB", (4, 2), (200, 100, 50))
    alpha = np.array([[0, 64, 128, 255]] * 2, np.uint8)
    cutout = np.asarray(compose_cutout(image, alpha))
    assert (cutout[:, 1:, :3] == (200, 100, 50)).all()  # not premultiplied: no dark fringe
    assert (cutout[:, 0, :3] == 0).all()  # the discarded background is not recoverable
    assert (cutout[..., 3] == alpha).all()


def test_compose_multiplies_existing_transparency() -> None:
    image = Image.new("RGBA", (2, 1), (9, 9, 9, 128))
    cutout = np.asarray(compose_cutout(image, np.array([[255, 128]], np.uint8)))
    assert cutout[0, :, 3].tolist() == [128, 64]


def test_subject_bbox() -> None:
    alpha = np.zeros((50, 80), np.uint8)
    alpha[10:20, 30:45] = 255
    alpha[5, 5] = 100  # below the threshold: not subject
    assert subject_bbox(alpha) == (30, 10, 15, 10)
    assert subject_bbox(np.zeros((5, 5), np.uint8)) is None


def test_png_round_trip_is_lossless() -> None:
    rgba = np.random.default_rng(1).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(Image.fromarray(rgba, "RGBA"))))
    assert (np.asarray(decoded) == rgba).all()


def test_mock_model_cuts_a_disc_off_a_flat_background(disc_png: bytes) -> None:
    batch = model_input(decode_image(disc_png), 320, "bilinear")[None]
    alpha = mock_alpha(batch)
    assert alpha[0, 160, 160] == 1.0 and alpha[0, 5, 5] == 0.0
    assert (mock_alpha(batch) == alpha).all()  # deterministic
