"""Pure functions on model-sized masks: two models' masks fused into one, and how sure a
mask is of itself.

Both were chosen by measuring against hand-labelled ground truth (``make eval``,
docs/quality.md), not by taste: ISNet alone is no better than u2netp on ECSSD (it fails
where it takes the ground for the subject, u2netp where it misses thin parts), and their
mean, given back its contrast, is better than either on every set.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from wizpix.image.compose import RESAMPLE

# The unsure band of a served alpha: neither clear background nor clear foreground.
UNSURE = (3, 230)
# The share of unsure pixels that reads as uncertainty 0.63 (1 - 1/e): on the eval sets
# the median cutout has 3% unsure, the 90th percentile 12%.
UNSURE_SCALE = 0.04


def fuse(primary: np.ndarray, secondary: np.ndarray, gain: float, resample: str = "lanczos") -> np.ndarray:
    """The mean of two uint8 masks (``secondary`` resized to ``primary``'s size), then the
    contrast curve a^k / (a^k + (1 - a)^k): fixed at 0, 0.5 and 1, it makes the pixels both
    models lean the same way clear and leaves their disagreements soft."""
    if secondary.shape != primary.shape:
        height, width = primary.shape
        secondary = np.asarray(Image.fromarray(secondary, "L").resize((width, height), RESAMPLE[resample]))
    mean = (primary.astype(np.float32) + secondary.astype(np.float32)) / 510.0
    if gain != 1:
        mean = np.clip(mean, 1e-6, 1 - 1e-6)
        high, low = mean**gain, (1 - mean) ** gain
        mean = high / (high + low)
    return np.rint(mean * 255).astype(np.uint8)


def uncertainty(mask: np.ndarray) -> float:
    """0.000 (a crisp mask) to 1.000: grows with the share of pixels in the unsure band.

    It ranks cutouts by their real error (Spearman 0.76 against the per-image MAE over
    ECSSD and the alpha mattes, both tiers, in the research run; ``make eval`` measures it
    on every run). A truly soft subject (hair, a net) reads as unsure too: it says "hard to
    cut out", which is what an operator alerts on."""
    low, high = UNSURE
    unsure = np.count_nonzero((mask >= low) & (mask <= high)) / max(1, mask.size)
    return round(1.0 - float(np.exp(-unsure / UNSURE_SCALE)), 3)


class Steadier:
    """The masks of a video's frames, one after the other, made steady.

    Masks made frame by frame flicker at the subject's edge, most where nothing moves. Two
    cheap remedies, measured in docs/video.md: a frame that barely differs from the last one
    the model saw (``still``: mean change of a 64×64 thumbnail, in levels of 255) reuses its
    mask and costs no inference; and each mask is blended with the one before it
    (``smoothing`` of it, 0 for none), which settles the edge at the cost of a slight lag on
    fast motion."""

    def __init__(self, smoothing: float = 0.5, still: float = 2.0) -> None:
        self.smoothing, self.still = smoothing, still
        self._seen: np.ndarray | None = None  # the thumbnail of the last frame the model saw
        self._last: np.ndarray | None = None  # the last mask handed out, as float

    @staticmethod
    def thumbnail(frame: Image.Image) -> np.ndarray:
        return np.asarray(frame.convert("L").resize((64, 64), Image.Resampling.BILINEAR), np.float32)

    def needs_model(self, thumbnail: np.ndarray) -> bool:
        """Whether this frame differs enough from the last the model saw (which it then is)."""
        if self._seen is not None and float(np.abs(thumbnail - self._seen).mean()) < self.still:
            return False
        self._seen = thumbnail
        return True

    def steady(self, mask: np.ndarray) -> np.ndarray:
        """The mask to use for this frame, given the model's (or the reused) one."""
        current = mask.astype(np.float32)
        if self._last is not None and self._last.shape == current.shape and self.smoothing:
            current = self.smoothing * self._last + (1 - self.smoothing) * current
        self._last = current
        return np.rint(current).astype(np.uint8)
