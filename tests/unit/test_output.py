"""Output options, as pure functions: format, mask, background, crop, size, bbox."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from wizpix.errors import BadInput
from wizpix.output import OutputOptions, render


def scene() -> tuple[Image.Image, np.ndarray]:
    """A 200×100 picture whose 'subject' is the square x 50–89, y 20–59."""
    image = Image.new("RGB", (200, 100), (10, 120, 200))
    alpha = np.zeros((100, 200), np.uint8)
    alpha[20:60, 50:90] = 255
    return image, alpha


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_default_is_an_rgba_png_with_the_subject_bbox() -> None:
    result = render(*scene(), OutputOptions())
    assert result.media_type == "image/png" and result.size == (200, 100)
    assert result.bbox == (50, 20, 40, 40)
    assert decoded(result.data).shape == (100, 200, 4)


def test_webp_is_lossless() -> None:
    png = decoded(render(*scene(), OutputOptions()).data)
    webp = render(*scene(), OutputOptions(format="webp"))
    assert webp.media_type == "image/webp"
    assert (decoded(webp.data) == png).all()


def test_mask_output_is_the_alpha_as_grayscale() -> None:
    image, alpha = scene()
    result = decoded(render(image, alpha.copy(), OutputOptions(output="mask")).data)
    assert result.ndim == 2 and (result == alpha).all()


@pytest.mark.parametrize(
    ("colour", "expected"), [("#ffffff", (255, 255, 255)), ("00ff0080", (0, 255, 0, 128))]
)
def test_bg_color_composites_the_cutout(colour: str, expected: tuple[int, ...]) -> None:
    result = decoded(render(*scene(), OutputOptions(bg_color=colour)).data)
    assert tuple(result[0, 0]) == expected  # background pixel
    assert tuple(result[40, 70][:3]) == (10, 120, 200)  # subject pixel unchanged


@pytest.mark.parametrize("bad", ["fff", "red", "#12345", "1234567890"])
def test_bad_colours_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="RRGGBB"):
        OutputOptions(bg_color=bad)


def test_crop_with_margin_is_clamped_to_the_image() -> None:
    result = render(*scene(), OutputOptions(crop=True, crop_margin=30))
    assert result.size == (100, 90)  # x 20–119, y 0 (clamped)–89
    assert result.bbox == (30, 20, 40, 40)  # in the cropped result's coordinates
    assert render(*scene(), OutputOptions(crop=True)).size == (40, 40)


def test_crop_without_a_subject_is_a_clear_4xx() -> None:
    image, alpha = scene()
    with pytest.raises(BadInput) as caught:
        render(image, np.zeros_like(alpha), OutputOptions(crop=True))
    assert caught.value.status == 422 and caught.value.code == "no_subject"


def test_max_size_keeps_the_aspect_and_scales_the_bbox() -> None:
    result = render(*scene(), OutputOptions(max_size=50))
    assert result.size == (50, 25)
    x, y, w, h = result.bbox or (0, 0, 0, 0)
    assert abs(x - 12) <= 1 and abs(y - 5) <= 1 and abs(w - 10) <= 2 and abs(h - 10) <= 2
    assert render(*scene(), OutputOptions(max_size=1000)).size == (200, 100)  # never enlarged


def test_refine_recovers_the_colour_of_edge_pixels() -> None:
    """A red subject fading into a green background: edge pixels are red-green mixtures."""
    alpha = np.zeros((64, 96), np.uint8)
    alpha[:, :40] = 255
    alpha[:, 40:56] = np.linspace(255, 0, 16).astype(np.uint8)
    share = alpha[..., None] / 255.0
    blended = (share * (220, 20, 20) + (1 - share) * (20, 200, 20)).astype(np.uint8)
    plain = decoded(render(Image.fromarray(blended), alpha.copy(), OutputOptions()).data)
    refined = decoded(render(Image.fromarray(blended), alpha.copy(), OutputOptions(refine=True)).data)
    assert (refined[:, :40] == plain[:, :40]).all()  # opaque pixels untouched
    assert (refined[..., 3] == plain[..., 3]).all()  # alpha untouched
    edge_green = refined[20:40, 44:54, 1].astype(int).mean()
    assert edge_green < plain[20:40, 44:54, 1].astype(int).mean() - 40  # the green halo is gone
