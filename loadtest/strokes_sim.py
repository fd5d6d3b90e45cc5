"""Strokes a person would paint, simulated from the ground truth, for `make eval`.

For a served mask and its photo's truth: one ``keep`` stroke inside the largest region the
mask missed (truth foreground, mask background) and one ``remove`` stroke inside the largest
region it kept by mistake. Each is a short line through the region's deepest point (farthest
from its border), along the region's long axis, a fifth of its length, clipped to the
region: a hint of where, never the truth itself. A region under 0.1% of the photo gets no
stroke (a person would not bother). Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MIN_SHARE = 0.001  # of the photo: smaller regions get no stroke
LENGTH_SHARE = 0.2  # of the region's extent along its long axis
WIDTH_SHARE = 0.008  # of the photo's diagonal (at least 3 px)


def largest_region(wrong: np.ndarray) -> np.ndarray | None:
    labels, count = ndimage.label(wrong, structure=np.ones((3, 3)))
    if count == 0:
        return None
    sizes = ndimage.sum_labels(wrong, labels, index=range(1, count + 1))
    biggest = int(np.argmax(sizes)) + 1
    region = labels == biggest
    return region if region.sum() >= MIN_SHARE * wrong.size else None


def stroke_in(region: np.ndarray) -> np.ndarray:
    """A short line through the region's deepest point along its long axis, clipped to it."""
    depth = ndimage.distance_transform_edt(region)
    cy, cx = np.unravel_index(int(np.argmax(depth)), region.shape)
    ys, xs = np.nonzero(region)
    coords = np.stack([ys - ys.mean(), xs - xs.mean()])
    _, vectors = np.linalg.eigh(np.cov(coords) if len(ys) > 1 else np.eye(2))
    axis = vectors[:, -1]  # the long axis (largest eigenvalue)
    extent = float(np.ptp(coords.T @ axis)) if len(ys) > 1 else 1.0
    half = max(1.0, LENGTH_SHARE * extent / 2)
    width = max(3, round(WIDTH_SHARE * float(np.hypot(*region.shape))))
    line = np.zeros(region.shape, bool)
    for t in np.linspace(-half, half, int(2 * half) + 1):
        y, x = round(cy + t * axis[0]), round(cx + t * axis[1])
        if 0 <= y < region.shape[0] and 0 <= x < region.shape[1]:
            line[y, x] = True
    return ndimage.binary_dilation(line, iterations=width // 2) & region


def simulated_strokes(truth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(keep, remove) boolean strokes for ``mask`` (float 0-1) against ``truth`` (0-1)."""
    missed = largest_region((truth >= 0.5) & (mask < 0.5))
    kept = largest_region((truth < 0.5) & (mask >= 0.5))
    return (
        None if missed is None else stroke_in(missed),
        None if kept is None else stroke_in(kept),
    )
