"""`quality=auto`'s cost curve, for `make eval`: error against seconds, every threshold.

From three runs of the same photos through one service: ``fast`` (its error, its
uncertainty, its seconds), ``pro`` (its error) and ``auto`` with AUTO_THRESHOLD=0 (every
photo escalated: the seconds an escalation really costs, fast's mask reused for the fusion;
its mask is pro's). For a threshold t a photo is served by fast when its fast uncertainty is
at most t, else escalated, so auto's error and seconds at every t follow exactly, photo by
photo; the threshold chosen is the cheapest whose error stays within ``LIMIT`` of pro's on
every set. Pure: numbers in, rows out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIMIT = 1.05  # auto's error at most this many times pro's, on every set
SPEED = 0.5  # ...at most this share of pro's mean seconds per image (the target)


@dataclass(frozen=True)
class Photos:
    """One set's photos: each one's error served by fast and by pro (MAE, or SAD on mattes),
    fast's uncertainty, and the seconds of fast alone, of pro, and of an escalation."""

    fast_error: list[float]
    pro_error: list[float]
    uncertainty: list[float]
    fast_s: list[float]
    pro_s: list[float]
    escalated_s: list[float]


@dataclass(frozen=True)
class Point:
    threshold: float
    errors: dict[str, float]  # set → auto's error / pro's
    seconds: float  # auto's mean seconds per image, every set
    pro_seconds: float
    escalated: float  # share of photos escalated

    @property
    def within(self) -> bool:
        return all(ratio <= LIMIT for ratio in self.errors.values())


def point(sets: dict[str, Photos], threshold: float) -> Point:
    errors, seconds, pro_seconds, escalated = {}, [], [], []
    for name, photos in sets.items():
        up = np.asarray(photos.uncertainty) > threshold
        chosen = np.where(up, photos.pro_error, photos.fast_error)
        errors[name] = float(chosen.mean() / np.mean(photos.pro_error))
        seconds += list(np.where(up, photos.escalated_s, photos.fast_s))
        pro_seconds += list(photos.pro_s)
        escalated += list(up)
    means = (float(np.mean(values)) for values in (seconds, pro_seconds, escalated))
    return Point(threshold, errors, *means)


def curve(sets: dict[str, Photos]) -> list[Point]:
    """Every threshold that changes a decision (each photo's uncertainty), 0 and 1."""
    values = sorted({0.0, 1.0, *(u for photos in sets.values() for u in photos.uncertainty)})
    return [point(sets, t) for t in values]


def chosen(points: list[Point]) -> Point:
    """The cheapest threshold within LIMIT of pro's error on every set (or, when none is,
    the one closest to it)."""
    within = [p for p in points if p.within]
    if within:
        return min(within, key=lambda p: (p.seconds, -p.threshold))
    return min(points, key=lambda p: max(p.errors.values()))
