"""Two painted strokes fix a cutout: ``keep`` brings back a region the model missed,
``remove`` takes away one it kept by mistake.

A stroke names a region, not just its pixels: a short line on a missed arm must bring back
the arm. So each stroke grows, on a working copy of the photo (long side ``WORK_SIDE``),
over the pixels connected to it that look like it (its colours) and that the model decided
the other way; that region, widened by a band, is the unknown part of a trimap whose other
pixels keep the model's answer, and closed-form matting (Levin, Lischinski and Weiss 2008,
made for scribbles; PyMatting's implementation) solves the alpha there, so the new edge
follows the photo's own edges, soft where they are soft. Outside the grown regions the
model's mask is untouched, to the pixel. Measured in ``make eval`` (docs/quality.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from wizpix.core.errors import ApiError

WORK_SIDE = 640  # the correction is solved at this long side, then scaled back
SURE = 0.9  # the model's alpha above this is sure foreground (below 1 - SURE, background)
BAND_PX = 4  # the unknown band around a grown region, at the working size
MIN_SPREAD = 0.10  # RGB distance (0-1) a colour may be from the stroke's and still belong
SPREAD_SIGMAS = 2.5  # ...or this many of the stroke's own standard deviations, if more
MAX_STROKE_PIXELS = 50_000_000


@dataclass(frozen=True)
class Strokes:
    keep: np.ndarray | None = None  # bool, the photo's size: a region to bring back
    remove: np.ndarray | None = None  # bool, the photo's size: a region to take away

    def __bool__(self) -> bool:
        return any(s is not None and s.any() for s in (self.keep, self.remove))

    @classmethod
    def read(cls, keep: bytes | None, remove: bytes | None, size: tuple[int, int]) -> Strokes:
        """The strokes of a request: PNGs, white on black, any size, scaled to ``size``."""
        return cls(
            None if keep is None else read_stroke(keep, size, "keep"),
            None if remove is None else read_stroke(remove, size, "remove"),
        )

    def apply(self, image: Image.Image, alpha: np.ndarray) -> np.ndarray:
        """``alpha`` (uint8, the photo's size) corrected by the strokes."""
        if not self:
            return alpha
        return correct(np.asarray(image.convert("RGB")), alpha, self.keep, self.remove)


def read_stroke(data: bytes, size: tuple[int, int], name: str) -> np.ndarray:
    """A stroke PNG as a boolean mask of ``size`` (width, height): its bright pixels."""
    try:
        picture = Image.open(io.BytesIO(data))
        if picture.format != "PNG":
            raise ValueError(f"{picture.format} is not PNG")
        if picture.width * picture.height > MAX_STROKE_PIXELS:
            raise ValueError(f"{picture.width}×{picture.height} is too large")
        grey = picture.convert("L")
        if "A" in picture.getbands():  # painted on a transparent sheet: what is opaque and bright
            grey = Image.fromarray(np.minimum(np.asarray(grey), np.asarray(picture.getchannel("A"))))
        grey = grey.resize(size, Image.Resampling.BILINEAR)
    except Exception as error:  # noqa: BLE001 - a bad stroke is the caller's: a 400 saying why
        raise ApiError("invalid_stroke", f"{name}: not a readable PNG stroke ({error})", status=400) from None
    return np.asarray(grey) >= 128


def _grow(rgb: np.ndarray, stroke: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The pixels connected to ``stroke`` through ``candidates`` whose colour is the stroke's."""
    colours = rgb[stroke]
    spread = max(MIN_SPREAD, SPREAD_SIGMAS * float(colours.std(axis=0).max()))
    similar = np.linalg.norm(rgb - colours.mean(axis=0), axis=-1) <= spread
    allowed = (similar & candidates) | stroke
    labels, _ = ndimage.label(allowed, structure=np.ones((3, 3)))
    touched = np.unique(labels[stroke])
    return np.isin(labels, touched[touched > 0])


def correct(
    rgb: np.ndarray, alpha: np.ndarray, keep: np.ndarray | None, remove: np.ndarray | None
) -> np.ndarray:
    """The corrected uint8 alpha of photo ``rgb`` (H×W×3 uint8) given the model's ``alpha``."""
    from pymatting import estimate_alpha_cf  # numba-compiled: loaded only when strokes come

    height, width = alpha.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))

    def small(array: np.ndarray, resample: Image.Resampling) -> np.ndarray:
        return np.asarray(Image.fromarray(array).resize(size, resample))

    work_rgb = small(rgb, Image.Resampling.LANCZOS).astype(np.float64) / 255
    work_alpha = small(alpha, Image.Resampling.BILINEAR).astype(np.float64) / 255
    strokes = {
        name: small(stroke.astype(np.uint8) * 255, Image.Resampling.NEAREST) > 0
        for name, stroke in (("keep", keep), ("remove", remove))
        if stroke is not None and stroke.any()
    }
    region = np.zeros(work_alpha.shape, bool)
    if "keep" in strokes:
        region |= _grow(work_rgb, strokes["keep"], work_alpha < SURE)
    if "remove" in strokes:
        region |= _grow(work_rgb, strokes["remove"], work_alpha > 1 - SURE)
    unknown = ndimage.binary_dilation(region, iterations=BAND_PX)
    trimap = np.where(work_alpha >= 0.5, 1.0, 0.0)
    trimap[unknown] = 0.5
    for name, value in (("keep", 1.0), ("remove", 0.0)):
        if name in strokes:
            trimap[strokes[name]] = value
    if not unknown.any():
        solved = work_alpha
    elif (trimap < 0.5).any() and (trimap > 0.5).any():
        solved = np.clip(estimate_alpha_cf(work_rgb, trimap), 0, 1)
    else:  # nothing left on one side: the whole picture is the other
        solved = np.full(trimap.shape, float((trimap > 0.5).any()))
    # back at the photo's size: the solved alpha inside the grown regions, the model's outside
    back = (width, height), Image.Resampling.BILINEAR
    full_unknown = np.asarray(Image.fromarray(unknown.astype(np.uint8) * 255).resize(*back)) >= 128
    full_solved = np.asarray(Image.fromarray((solved * 255).astype(np.float32)).resize(*back))
    corrected = np.where(full_unknown, np.rint(np.clip(full_solved, 0, 255)), alpha).astype(np.uint8)
    if keep is not None:
        corrected[keep] = 255
    if remove is not None:
        corrected[remove] = 0
    return corrected
