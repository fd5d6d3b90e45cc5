"""Cutout quality against ground truth: the labelled sets, and the metrics of both kinds.

- Salient-object masks (``images/`` + ``masks/``, as ECSSD): pysodmetrics' MAE, max and
  adaptive F-measure, weighted F, S-measure and E-measure, scored as served
  (``normalize=False``: its default min-max stretches each prediction, which would hide a
  hazy background), plus IoU at 0.5 and the MAE in a band around the true edge.
- Alpha mattes (``images/`` + ``alphas/`` + optional ``trimaps/``, as alphamatting.com):
  SAD, MSE, gradient and connectivity errors inside the trimap's unknown region (the
  benchmark's own definitions, Rhemann et al. 2009: no library on the index computes
  them), the whole-image MAE and the edge-band MAE.

Pure: arrays in, numbers out; unit-tested on synthetic masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
EDGE_BAND_PX = 10


@dataclass(frozen=True)
class Pair:
    set: str
    name: str
    image: Path
    truth: Path
    kind: str  # "mask" (binary, salient object) or "alpha" (soft matte)
    trimap: Path | None = None


def _files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in EXTENSIONS}


def _trimaps(folder: Path) -> Path | None:
    """``trimaps/`` itself, or its first sub-folder (alphamatting ships Trimap1, Trimap2)."""
    if not folder.is_dir():
        return None
    if _files(folder):
        return folder
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    return subfolders[0] if subfolders else None


def labelled_set(folder: Path) -> list[Pair]:
    """The pairs of one folder laid out as ``images/`` + ``masks/`` or ``alphas/``."""
    images = _files(folder / "images")
    kind = "mask" if (folder / "masks").is_dir() else "alpha"
    truths = _files(folder / ("masks" if kind == "mask" else "alphas"))
    trimaps = _trimaps(folder / "trimaps")
    trimap_files = _files(trimaps) if trimaps else {}
    return [
        Pair(folder.name, name, images[name], truths[name], kind, trimap_files.get(name))
        for name in sorted(images.keys() & truths.keys())
    ]


def discover(root: Path) -> dict[str, list[Pair]]:
    """Every labelled set under ``root``: ``root`` itself, or each sub-folder with ``images/``."""
    if (root / "images").is_dir():
        return {root.name: labelled_set(root)}
    return {
        folder.name: labelled_set(folder)
        for folder in sorted(p for p in root.iterdir() if (p / "images").is_dir())
    }


def spread(pairs: list[Pair], limit: int | None, offset: int = 0) -> list[Pair]:
    """At most ``limit`` pairs spread evenly over the set (every k-th from ``offset``), so
    that a sample sees the whole set and not its first photos only."""
    if limit is None or limit >= len(pairs):
        return pairs
    step = len(pairs) / limit
    return [pairs[min(len(pairs) - 1, int(offset + i * step))] for i in range(limit)]


def read_grey(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask, matte or trimap as float [0, 1], at ``size`` (width, height) when given."""
    image = Image.open(path).convert("L")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.NEAREST)
    return np.asarray(image, np.float64) / 255.0


def edge_band(truth: np.ndarray, width: int = EDGE_BAND_PX) -> np.ndarray:
    """The pixels within ``width`` of the true subject's outline."""
    solid = truth >= 0.5
    outline = solid ^ ndimage.binary_erosion(solid, iterations=1, border_value=0)
    if not outline.any():
        return np.zeros_like(solid)
    return ndimage.distance_transform_edt(~outline) <= width


class SaliencyScores:
    """pysodmetrics' accumulators for one tier on one set, and the per-image MAE."""

    def __init__(self) -> None:
        from py_sod_metrics import MAE, Emeasure, Fmeasure, Smeasure, WeightedFmeasure

        self.mae, self.fm, self.wfm, self.sm, self.em = (
            MAE(),
            Fmeasure(),
            WeightedFmeasure(),
            Smeasure(),
            Emeasure(),
        )
        self.iou: list[float] = []
        self.edge: list[float] = []

    def add(self, prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        gt = truth >= 0.5
        for metric in (self.mae, self.fm, self.wfm, self.sm, self.em):
            metric.step(prediction, gt, normalize=False)
        solid = prediction >= 0.5
        union = np.count_nonzero(solid | gt)
        self.iou.append(np.count_nonzero(solid & gt) / union if union else 1.0)
        band = edge_band(truth)
        self.edge.append(float(np.abs(prediction - truth)[band].mean()) if band.any() else 0.0)
        return {"mae": float(np.abs(prediction - gt).mean())}

    def results(self) -> dict[str, float]:
        fm, em = self.fm.get_results(), self.em.get_results()
        return {
            "MAE": float(self.mae.get_results()["mae"]),
            "maxF": float(np.max(fm["fm"]["curve"])),
            "adpF": float(fm["fm"]["adp"]),
            "wF": float(self.wfm.get_results()["wfm"]),
            "S": float(self.sm.get_results()["sm"]),
            "meanE": float(np.mean(em["em"]["curve"])),
            "IoU": float(np.mean(self.iou)),
            "edge MAE": float(np.mean(self.edge)),
        }


def unknown_region(trimap: np.ndarray | None, truth: np.ndarray) -> np.ndarray:
    """A trimap's grey: neither sure background nor sure foreground (all soft truth when
    there is no trimap)."""
    if trimap is None:
        return (truth > 0) & (truth < 1)
    return (trimap > 0.1) & (trimap < 0.9)


def gradient_error(
    prediction: np.ndarray, truth: np.ndarray, region: np.ndarray, sigma: float = 1.4
) -> float:
    """The benchmark's gradient error: squared difference of Gaussian-derivative gradient
    magnitudes in the unknown region, in thousands."""
    ours = ndimage.gaussian_gradient_magnitude(prediction, sigma)
    theirs = ndimage.gaussian_gradient_magnitude(truth, sigma)
    return float(((ours - theirs) ** 2)[region].sum() / 1000)


def connectivity_error(
    prediction: np.ndarray, truth: np.ndarray, region: np.ndarray, step: float = 0.1
) -> float:
    """The benchmark's connectivity error: how far each pixel is from the largest region
    connected to the source at every threshold, compared, in the unknown region, in thousands."""
    level = np.full(prediction.shape, -1.0)
    thresholds = np.arange(0, 1 + step, step)
    for index in range(1, len(thresholds)):
        both = (prediction >= thresholds[index]) & (truth >= thresholds[index])
        labels, count = ndimage.label(both, structure=np.ones((3, 3)))
        if count:
            sizes = ndimage.sum(both, labels, range(1, count + 1))
            largest = labels == (int(np.argmax(sizes)) + 1)
        else:
            largest = np.zeros_like(both)
        newly = (level == -1) & ~largest
        level[newly] = thresholds[index - 1]
    level[level == -1] = 1.0
    ours, theirs = prediction - level, truth - level
    ours_phi = 1 - ours * (ours >= 0.15)
    theirs_phi = 1 - theirs * (theirs >= 0.15)
    return float(np.abs(ours_phi - theirs_phi)[region].sum() / 1000)


def matte_scores(prediction: np.ndarray, truth: np.ndarray, trimap: np.ndarray | None) -> dict[str, float]:
    region = unknown_region(trimap, truth)
    difference = prediction - truth
    band = edge_band(truth)
    return {
        "SAD": float(np.abs(difference)[region].sum() / 1000),
        "MSE": float((difference**2)[region].mean()) if region.any() else 0.0,
        "Grad": gradient_error(prediction, truth, region),
        "Conn": connectivity_error(prediction, truth, region),
        "MAE": float(np.abs(difference).mean()),
        "edge MAE": float(np.abs(difference)[band].mean()) if band.any() else 0.0,
        "mae": float(np.abs(difference).mean()),
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "mae"] if rows else []
    return {key: float(np.mean([row[key] for row in rows])) for key in keys}


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (scipy's), NaN when either side is constant."""
    from scipy.stats import spearmanr

    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan
    return float(spearmanr(xs, ys).statistic)
