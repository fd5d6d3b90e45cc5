"""Output options, as pure functions: format, mask, background, crop, size, bbox."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from wizpix.core.errors import BadInput
from wizpix.image.compose import cover
from wizpix.image.options import OutputOptions
from wizpix.image.render import _target_size, render


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


@pytest.mark.parametrize("bad", ["ggg", "notacolour", "#12345", "1234567890", "12 34 56"])
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


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("fff", "ffffff"),
        ("#0f08", "00ff0088"),
        ("81D4FA", "81d4fa"),
        ("green", "008000"),
        ("White", "ffffff"),
    ],
)
def test_colours_of_3_4_6_8_digits_and_names(given: str, normalised: str) -> None:
    assert OutputOptions(bg_color=given).bg_color == normalised


def test_roi_in_pixels_or_percent_makes_the_outside_background() -> None:
    # the subject is x 50–89, y 20–59: a region over its left half keeps that half only
    for roi in ("0 0 70 100", "0% 0% 35% 100%", "0px 0px 70px 100px"):
        result = render(*scene(), OutputOptions(roi=roi))
        assert result.bbox == (50, 20, 20, 40), roi
    assert render(*scene(), OutputOptions(roi="0% 0% 100% 100%")).bbox == (50, 20, 40, 40)


@pytest.mark.parametrize("bad", ["0 0 10", "a b c d", "0 0 10 10 10", "-1 0 10 10", "0 0 10 " + "9" * 400])
def test_bad_roi_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"x1 y1 x2 y2|length"):
        OutputOptions(roi=bad)


@pytest.mark.parametrize(
    ("margin", "size", "bbox"),
    [
        ("10px", (60, 60), (10, 10, 40, 40)),
        ("10% 5px", (50, 48), (5, 4, 40, 40)),  # top/bottom 10% of 40 = 4, left/right 5
        ("0 1px 2px 3px", (44, 42), (3, 0, 40, 40)),  # top right bottom left
        ("50%", (80, 80), (20, 20, 40, 40)),
    ],
)
def test_crop_margin_per_side_in_px_or_percent_of_the_subject(
    margin: str, size: tuple[int, int], bbox: tuple[int, int, int, int]
) -> None:
    result = render(*scene(), OutputOptions(crop=True, crop_margin=margin))
    assert (result.size, result.bbox) == (size, bbox)


@pytest.mark.parametrize("bad", ["51%", "10001px", "1 2 3", "ten"])
def test_crop_margin_limits(bad: str) -> None:
    with pytest.raises(ValidationError):
        OutputOptions(crop=True, crop_margin=bad)


def test_scale_resizes_the_subject_relative_to_the_image_and_centres_it() -> None:
    # subject 40×40 in 200×100: 50% → its longer side fits half of the limiting side (100)
    result = render(*scene(), OutputOptions(scale="50%"))
    assert result.size == (200, 100)
    assert result.bbox == (75, 25, 50, 50)
    assert render(*scene(), OutputOptions(scale="original")).bbox == (50, 20, 40, 40)


def test_position_places_the_subject() -> None:
    assert render(*scene(), OutputOptions(position="center")).bbox == (80, 30, 40, 40)
    assert render(*scene(), OutputOptions(position="0% 100%")).bbox == (0, 60, 40, 40)
    assert render(*scene(), OutputOptions(position="100%")).bbox == (160, 60, 40, 40)
    assert render(*scene(), OutputOptions(position="original")).bbox == (50, 20, 40, 40)
    # scale with position=original keeps the subject's centre
    assert render(*scene(), OutputOptions(scale="20%", position="original")).bbox == (60, 30, 20, 20)
    pixels = decoded(render(*scene(), OutputOptions(position="0% 0%")).data)
    assert tuple(pixels[5, 5]) == (10, 120, 200, 255) and pixels[50, 100, 3] == 0


@pytest.mark.parametrize("bad", ["5%", "101%", "big"])
def test_scale_limits(bad: str) -> None:
    with pytest.raises(ValidationError):
        OutputOptions(scale=bad)


@pytest.mark.parametrize("bad", ["left", "10% 20% 30%", "120%"])
def test_position_limits(bad: str) -> None:
    with pytest.raises(ValidationError):
        OutputOptions(position=bad)


def test_jpg_is_over_white_by_default_or_over_bg_color() -> None:
    result = render(*scene(), OutputOptions(format="jpg"))
    pixels = decoded(result.data)
    assert result.media_type == "image/jpeg" and pixels.shape == (100, 200, 3)
    assert (abs(pixels[0, 0].astype(int) - 255) <= 2).all()
    assert (abs(pixels[40, 70].astype(int) - (10, 120, 200)) <= 4).all()
    red = decoded(render(*scene(), OutputOptions(format="jpg", bg_color="f00")).data)
    assert (abs(red[0, 0].astype(int) - (255, 0, 0)) <= 4).all()


def test_zip_holds_color_jpg_and_alpha_png() -> None:
    import zipfile

    result = render(*scene(), OutputOptions(format="zip"))
    assert result.media_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        alpha = decoded(archive.read("alpha.png"))
        colour = decoded(archive.read("color.jpg"))
    _, expected = scene()
    assert (alpha == expected).all()
    assert colour.shape == (100, 200, 3) and (abs(colour[40, 70].astype(int) - (10, 120, 200)) <= 4).all()


def test_auto_is_png_with_transparency_and_jpg_without() -> None:
    assert render(*scene(), OutputOptions(format="auto")).media_type == "image/png"
    assert render(*scene(), OutputOptions(format="auto", bg_color="fff")).media_type == "image/jpeg"
    assert render(*scene(), OutputOptions(format="auto", output="mask")).media_type == "image/png"


def test_mask_as_jpg_is_grayscale() -> None:
    pixels = decoded(render(*scene(), OutputOptions(format="jpg", output="mask")).data)
    assert pixels.ndim == 2 and pixels[40, 70] > 250 and pixels[0, 0] < 5


def test_max_megapixels_caps_the_area_keeping_the_aspect() -> None:
    result = render(*scene(), OutputOptions(max_megapixels=0.005))  # 5000 px of 20 000
    width, height = result.size
    assert width * height <= 5000 and (width, height) == (100, 50)
    assert render(*scene(), OutputOptions(max_megapixels=1)).size == (200, 100)  # never enlarged


def test_background_image_is_scaled_to_cover_behind_the_cutout() -> None:
    # a 50×50 background: left half red, right half green; covering 200×100 it is scaled
    # ×4 and centre-cropped, so the result's left edge is red and its right edge green
    background = np.zeros((50, 50, 3), np.uint8)
    background[:, :25] = (255, 0, 0)
    background[:, 25:] = (0, 255, 0)
    result = render(*scene(), OutputOptions(), background_image=Image.fromarray(background))
    pixels = decoded(result.data)
    assert pixels.shape == (100, 200, 3)  # opaque: RGB
    assert tuple(pixels[50, 5]) == (255, 0, 0) and tuple(pixels[50, 195]) == (0, 255, 0)
    assert tuple(pixels[40, 70]) == (10, 120, 200)


def test_without_a_subject_placement_is_a_clear_4xx() -> None:
    image, alpha = scene()
    with pytest.raises(BadInput) as caught:
        render(image, np.zeros_like(alpha), OutputOptions(scale="50%"))
    assert caught.value.status == 422 and caught.value.code == "no_subject"


def test_a_thin_background_is_resized_only_where_it_shows() -> None:
    strip = Image.new("RGB", (1, 10_000), (0, 200, 0))
    covered = cover(strip, (625, 400))  # scaled whole, this would be 625 × 6 250 000 pixels
    assert covered.size == (625, 400) and covered.getpixel((300, 200)) == (0, 200, 0, 255)


def test_the_megapixel_cap_holds_for_a_one_pixel_strip() -> None:
    width, height = _target_size((1, 50_000_000), OutputOptions(max_megapixels=0.25))
    assert width == 1 and width * height <= 250_000


def strip(width: int, height: int) -> tuple[Image.Image, np.ndarray]:
    """A valid, tiny image that some encoders cannot hold: a long thin strip."""
    alpha = np.zeros((height, width), np.uint8)
    alpha[:, width // 4 : width // 2] = 255
    return Image.new("RGB", (width, height), (200, 30, 30)), alpha


@pytest.mark.parametrize(
    ("size", "fmt", "limit"),
    [((17000, 40), "webp", 16383), ((70000, 1), "jpg", 65500), ((70000, 1), "zip", 65500)],
)
def test_a_format_that_cannot_hold_the_result_is_a_422_naming_its_limit(
    size: tuple[int, int], fmt: str, limit: int
) -> None:
    with pytest.raises(BadInput) as refused:
        render(*strip(*size), OutputOptions(format=fmt, bg_color="ffffff"))
    error = refused.value
    assert error.status == 422 and error.code == "too_large_for_format"
    assert fmt in error.message and str(limit) in error.message and "max_size" in error.message


def test_auto_writes_png_where_jpeg_cannot_and_png_holds_any_strip() -> None:
    auto = render(*strip(70000, 1), OutputOptions(format="auto", bg_color="ffffff"))
    assert auto.media_type == "image/png" and auto.size == (70000, 1)
    assert render(*strip(17000, 40), OutputOptions(format="png")).media_type == "image/png"
    capped = render(*strip(17000, 40), OutputOptions(format="webp", max_size=16383))
    assert capped.media_type == "image/webp" and capped.size[0] == 16383


@pytest.mark.parametrize("result", [(1, 29), (2, 29), (3, 29), (1, 1), (29, 1), (512, 384)])
@pytest.mark.parametrize("background", [(2, 31), (5, 31), (31, 2), (4000, 3000), (1, 10000)])
def test_cover_fills_any_size_from_any_background(
    result: tuple[int, int], background: tuple[int, int]
) -> None:
    """Found by the fuzzer: a 1×29 result over a 2×31 background made a negative box offset."""
    covered = cover(Image.new("RGB", background, (10, 200, 30)), result)
    assert covered.size == result and covered.mode == "RGBA"
    assert np.asarray(covered)[..., :3].mean(axis=(0, 1)).round().tolist() == [10, 200, 30]
