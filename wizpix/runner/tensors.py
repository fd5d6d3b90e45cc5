"""Tensors of the runner: a graph's raw output to masks in uint8, as the manifest's
``Postprocess`` declares (its input side is ``Preprocess.normalize``); the mock model's mask
is here too."""

from __future__ import annotations

import numpy as np

from wizpix.core.catalog import Postprocess


def activate(raw: np.ndarray, post: Postprocess) -> np.ndarray:
    """Raw model output NxHxW → probabilities in [0, 1] as the spec declares."""
    x = raw.astype(np.float32)
    if post.activation == "sigmoid":
        x = 1.0 / (1.0 + np.exp(-x))
    if post.stretch:
        lo = x.reshape(len(x), -1).min(axis=1).reshape(-1, 1, 1)
        hi = x.reshape(len(x), -1).max(axis=1).reshape(-1, 1, 1)
        x = (x - lo) / np.maximum(hi - lo, 1e-6)
    return np.clip(x, 0.0, 1.0)


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    return np.rint(probabilities * 255.0).astype(np.uint8)


def mock_alpha(batch: np.ndarray) -> np.ndarray:
    """Deterministic stand-in for a network: how far each pixel is from the border colour.

    Good enough to cut a subject off a flat background, which is what HTTP tests need.
    """
    out = np.empty(batch.shape[:3], dtype=np.float32)
    for index, rgb in enumerate(batch.astype(np.float32)):
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
        distance = np.linalg.norm(rgb - np.median(border, axis=0), axis=-1)
        out[index] = np.clip((distance - 24.0) / 48.0, 0.0, 1.0)
    return out


def warmup_probe(size: int) -> np.ndarray:
    """A 1×S×S×3 uint8 batch, the same every time: what a model runs at warmup (and what
    PRO_PRECISION=auto times both builds on)."""
    return np.linspace(0, 255, size * size * 3, dtype=np.float32).astype(np.uint8).reshape(1, size, size, 3)
