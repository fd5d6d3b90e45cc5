"""Two strokes fix a cutout: a short keep line brings back the whole region the model
missed, a remove line takes away the region it kept by mistake, and nothing else moves."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from tests.unit.test_masks import two_model_cutter
from wizpix.core.enums import Quality
from wizpix.core.errors import ApiError
from wizpix.image.strokes import Strokes, correct, read_stroke

H, W = 300, 400


@pytest.fixture(scope="module")
def scene() -> dict[str, np.ndarray]:
    """A subject (a disc and an arm) on a plain background, and a blob that is not subject."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    parts = {
        "body": (yy - 150) ** 2 + (xx - 150) ** 2 < 70**2,
        "arm": (yy > 130) & (yy < 170) & (xx >= 150) & (xx < 360),
        "blob": (yy - 60) ** 2 + (xx - 330) ** 2 < 30**2,
    }
    photo = np.full((H, W, 3), (40, 120, 200), np.uint8)
    for name, colour in (("body", (200, 60, 50)), ("arm", (220, 170, 140)), ("blob", (60, 200, 80))):
        photo[parts[name]] = colour
    photo = np.clip(photo + rng.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    return {"photo": photo, **parts}


def _line(rows: slice, cols: slice) -> np.ndarray:
    stroke = np.zeros((H, W), bool)
    stroke[rows, cols] = True
    return stroke


def test_a_short_line_brings_back_the_whole_missed_arm_and_removes_the_blob(scene) -> None:
    truth = scene["body"] | scene["arm"]
    model = (scene["body"] | scene["blob"]).astype(np.uint8) * 255  # missed the arm, kept the blob
    keep = _line(slice(148, 152), slice(280, 300))  # 20 px of a 210 px arm
    remove = _line(slice(58, 62), slice(320, 340))
    fixed = correct(scene["photo"], model, keep, remove)
    error = lambda alpha: float(np.abs(alpha / 255 - truth).mean())  # noqa: E731
    assert error(fixed) < 0.1 * error(model)
    assert (fixed[scene["arm"]] > 128).mean() > 0.98 and (fixed[scene["blob"]] < 128).mean() > 0.98
    # away from both regions the model's mask is kept to the pixel
    away = ~(scene["arm"] | scene["blob"])
    away[100:200, 130:380] = False  # the arm's edge band
    away[20:100, 290:370] = False  # the blob's
    assert (fixed[away] == model[away]).all()


def test_only_a_keep_stroke_or_none_at_all(scene) -> None:
    model = scene["body"].astype(np.uint8) * 255
    keep = _line(slice(148, 152), slice(280, 300))
    fixed = correct(scene["photo"], model, keep, None)
    assert (fixed[scene["arm"]] > 128).mean() > 0.98
    assert Strokes.read(None, None, (W, H)).apply(Image.fromarray(scene["photo"]), model) is model


def _png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_stroke_is_any_size_scaled_to_the_photo_white_on_black_or_on_a_transparent_sheet() -> None:
    small = np.zeros((30, 40), np.uint8)
    small[10:20, 10:20] = 255
    scaled = read_stroke(_png(small), (W, H), "keep")
    assert scaled.shape == (H, W) and scaled[150, 150] and not scaled[0, 0]
    sheet = np.zeros((30, 40, 4), np.uint8)
    sheet[10:20, 10:20] = 255  # white and opaque; the rest transparent (and black)
    sheet[0:5, 0:5, :3] = 255  # white but transparent: not painted
    painted = read_stroke(_png(sheet, "RGBA"), (40, 30), "keep")
    assert painted[15, 15] and not painted[2, 2]


@pytest.mark.parametrize("data", [b"not a picture", b"\xff\xd8\xff\xe0 a JPEG header"])
def test_an_unreadable_stroke_is_a_400_saying_which(data: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        read_stroke(data, (W, H), "remove")
    assert caught.value.status == 400 and caught.value.code == "invalid_stroke"
    assert str(caught.value).startswith("remove: not a readable PNG stroke")


def test_the_cutter_applies_strokes_to_the_models_mask_and_says_so(disc_png: bytes) -> None:
    """The mock cuts the disc; a keep stroke on a corner of the white background brings the
    whole white background back, as a region, and says so."""
    cutter = two_model_cutter()
    photo = Image.open(io.BytesIO(disc_png))
    keep = np.zeros((photo.height, photo.width), np.uint8)
    keep[5:10, 5:30] = 255
    plain = asyncio.run(cutter.remove_background(disc_png, Quality.FAST))
    fixed = asyncio.run(cutter.remove_background(disc_png, Quality.FAST, strokes=(_png(keep), None)))
    assert fixed.headers["X-WizPix-Strokes"] == "keep" and "X-WizPix-Strokes" not in plain.headers
    assert fixed.headers["X-WizPix-Cache"] == "hit"  # the correction of a recent upload: no inference
    alpha = np.asarray(Image.open(io.BytesIO(fixed.data)))[..., 3]
    assert alpha[2, 2] > 240 and alpha[120, 20] > 240 and alpha[-3, -3] > 240  # the region
