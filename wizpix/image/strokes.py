"""Two painted strokes fix a cutout: ``keep`` brings back a region the model missed,
``remove`` takes away one it kept by mistake.

A stroke names a region, not just its pixels: a short line on a missed arm must bring back
the arm. So, on a working copy of the photo (long side ``WORK_SIDE``), each stroke takes the
pixels the model decided the other way whose colour is likelier under the stroke's colours
than under the rest of what the model decided (GrabCut's colour model, from two smoothed
16³ histograms), connected to the stroke. The new boundary gets soft edges where the photo's
edges are: a band along it is the unknown part of a trimap, solved by closed-form matting
(Levin, Lischinski and Weiss 2008; PyMatting's implementation). Elsewhere the model's mask is
untouched, to the pixel.

Measured in ``make eval`` (docs/quality.md) with strokes simulated from the ground truth,
against what was tried: closed-form matting over the whole grown region (it turned large
uniform regions into their luminance: worse than no stroke), OpenCV's GrabCut with the
model's mask as its start (no better, and 150 MB more in the image), and the pro model run
again on a crop around the stroke (worse on average).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from wizpix.core.errors import ApiError

WORK_SIDE = 640  # the correction is solved at this long side, then scaled back
BAND_PX = 4  # the unknown band along the moved boundary, at the working size
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


BINS = 16  # colour histogram bins per channel (16³ colours)


def _density(indices: np.ndarray) -> np.ndarray:
    """A smoothed colour histogram (16³ bins) of the given colour indices, summing to 1."""
    counts = np.bincount(indices, minlength=BINS**3).astype(np.float64).reshape(BINS, BINS, BINS)
    smooth = ndimage.gaussian_filter(counts, sigma=1.0, mode="constant") + 1e-9
    return (smooth / smooth.sum()).ravel()


def _flip_region(colours: np.ndarray, stroke: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """The region the stroke names: pixels the model decided the other way (``decided``)
    whose colour is likelier under the stroke's colours than under the rest of what the
    model decided, connected to the stroke (the colour model of GrabCut, without its graph)."""
    # as likely counts (to rounding): a region of one colour, the stroke's, is the stroke's region
    likely = _density(colours[stroke])[colours] >= 0.999 * _density(colours[decided & ~stroke])[colours]
    region = ndimage.binary_opening(likely & decided, iterations=1) | stroke
    labels, _ = ndimage.label(region, structure=np.ones((3, 3)))
    touched = np.unique(labels[stroke])
    return ndimage.binary_fill_holes(np.isin(labels, touched[touched > 0]))


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
    quantized = np.minimum((work_rgb * BINS).astype(np.int64), BINS - 1)
    colours = (quantized[..., 0] * BINS + quantized[..., 1]) * BINS + quantized[..., 2]
    hard = work_alpha >= 0.5
    target = hard.copy()
    if "keep" in strokes:
        target |= _flip_region(colours, strokes["keep"], ~hard)
    if "remove" in strokes:
        target &= ~_flip_region(colours, strokes["remove"], hard)
    changed = target != hard
    if not changed.any():
        return alpha
    # soft edges only along the boundary the strokes moved: a band solved by closed-form
    # matting on the photo's colours; every other pixel as the model or the strokes decided
    near = ndimage.binary_dilation(changed, iterations=BAND_PX + 2)
    edge = target ^ ndimage.binary_erosion(target, iterations=1)
    trimap = target.astype(np.float64)
    trimap[ndimage.binary_dilation(edge, iterations=BAND_PX) & near] = 0.5
    for name, value in (("keep", 1.0), ("remove", 0.0)):
        if name in strokes:
            trimap[strokes[name]] = value
    if (trimap < 0.5).any() and (trimap > 0.5).any():
        solved = np.clip(estimate_alpha_cf(work_rgb, trimap), 0, 1)
    else:  # nothing left on one side: the whole picture is the other
        solved = np.full(trimap.shape, float((trimap > 0.5).any()))
    # back at the photo's size: the new alpha where the strokes changed it, the model's elsewhere
    back = (width, height), Image.Resampling.BILINEAR
    full_near = np.asarray(Image.fromarray(near.astype(np.uint8) * 255).resize(*back)) >= 128
    full_solved = np.asarray(Image.fromarray((solved * 255).astype(np.float32)).resize(*back))
    corrected = np.where(full_near, np.rint(np.clip(full_solved, 0, 255)), alpha).astype(np.uint8)
    if keep is not None:
        corrected[keep] = 255
    if remove is not None:
        corrected[remove] = 0
    return corrected
