"""Pure compositing: resize to the model and back, alpha onto colours, edges, bounding box.

Full-size work stays in uint8; only model-sized arrays are turned into anything else.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops

RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


# Pillow shrinks by whole factors first when the ratio is at least this: 4× faster on 12 MP.
REDUCING_GAP = 3.0


def model_input(
    image: Image.Image, size: int, resample: str, reducing_gap: float | None = REDUCING_GAP
) -> np.ndarray:
    """Resize once to the model's square input; uint8 SxSx3, the only array sent to a runner.

    ``reducing_gap`` lets Pillow shrink a large photo by whole factors before the exact
    filter: 4× faster on 12 MP, model input within 0.2 levels on average (tested).
    """
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    resized = rgb.resize((size, size), RESAMPLE[resample], reducing_gap=reducing_gap)
    return np.asarray(resized, dtype=np.uint8)


def resize_mask(mask: np.ndarray, size: tuple[int, int], resample: str) -> np.ndarray:
    """Scale a uint8 model-sized mask to (width, height) of the original image."""
    image = Image.fromarray(mask, mode="L")
    if image.size != size:
        image = image.resize(size, RESAMPLE[resample])
    return np.asarray(image)


HIDDEN = [255] + [0] * 255  # lookup table: alpha 0 → 1 (hidden), anything else → 0


def compose_cutout(image: Image.Image, alpha: np.ndarray) -> Image.Image:
    """RGBA cutout: visible colours untouched, the mask as alpha. Consumes ``image``.

    Colours are not premultiplied (rembg's ``naive_cutout`` darkens edges that way), but
    fully transparent pixels are zeroed: the discarded background cannot be recovered by
    dropping the alpha channel, and a 12 MP cutout encodes 2.6× smaller and faster. An
    input that already had transparency keeps it (alphas multiply). Done in place:
    12 MP in ~0.03 s, against 0.115 s for a numpy stack.
    """
    mask = Image.fromarray(alpha, mode="L")
    if image.mode == "RGBA":
        mask = ImageChops.multiply(image.getchannel("A"), mask)
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.paste((0,) * len(image.getbands()), mask=mask.point(HIDDEN, "1"))
    image.putalpha(mask)
    return image


def refine_edges(image: Image.Image, alpha: np.ndarray, max_pixels: int = 1_000_000) -> Image.Image:
    """Recover the colour of semi-transparent edge pixels (foreground estimation).

    An edge pixel's colour is a mix of subject and old background: composited onto a new
    background it shows a halo of the old one. pymatting's multilevel estimate recovers
    the subject's own colour. It runs at ~1 MP at most, and only edge pixels (0 < alpha <
    255) take the result, so opaque pixels keep their exact colours.
    """
    edge = (alpha > 0) & (alpha < 255)
    if not edge.any():
        return image
    from pymatting import estimate_foreground_ml  # numba-compiled: imported only when asked

    rgb = image.convert("RGB")
    scale = min(1.0, (max_pixels / (image.width * image.height)) ** 0.5)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small_rgb = np.asarray(rgb.resize(size, Image.Resampling.BILINEAR), np.float64) / 255.0
    small_alpha = resize_mask(alpha, size, "bilinear") / 255.0
    foreground = estimate_foreground_ml(small_rgb, small_alpha)
    foreground = Image.fromarray((np.clip(foreground, 0, 1) * 255).round().astype(np.uint8), "RGB")
    if foreground.size != image.size:
        foreground = foreground.resize(image.size, Image.Resampling.BILINEAR)
    pixels = np.array(rgb)
    pixels[edge] = np.asarray(foreground)[edge]
    refined = Image.fromarray(pixels, "RGB")
    if image.mode == "RGBA":
        refined.putalpha(image.getchannel("A"))
    return refined


def subject_bbox(alpha: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the pixels at or above threshold, or None for no subject."""
    solid = alpha >= threshold
    rows = np.flatnonzero(solid.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(solid.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def cover(background: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``background`` scaled to cover ``size`` (aspect kept) and centre-cropped to it."""
    width, height = size
    factor = max(width / background.width, height / background.height)
    # the part of the background that ends up in the result, centred: resizing only that
    # keeps the work bounded by the result (a 1×10000 strip must not become 625×6 250 000)
    box_width = min(background.width, width / factor)  # float rounding may overshoot by 1e-15
    box_height = min(background.height, height / factor)
    left, top = (background.width - box_width) / 2, (background.height - box_height) / 2
    # only the region that shows is converted (a 50 MP background behind a small result)
    region = (math.floor(left), math.floor(top), math.ceil(left + box_width), math.ceil(top + box_height))
    part = background.crop(region).convert("RGBA")
    box = (left - region[0], top - region[1], left - region[0] + box_width, top - region[1] + box_height)
    return part.resize(size, Image.Resampling.LANCZOS, box=box)


def flatten(image: Image.Image, background: tuple[int, int, int, int]) -> Image.Image:
    """``image`` over a colour: RGB when the colour is opaque."""
    canvas = Image.new("RGBA", image.size, background)
    canvas.alpha_composite(image)
    return canvas.convert("RGB") if background[3] == 255 else canvas


def opaque(image: Image.Image) -> bool:
    """No pixel with any transparency."""
    return image.mode != "RGBA" or image.getchannel("A").getextrema()[0] == 255
