"""Which runner serves a request: the original design's fallback rules as a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import Unavailable

Quality = Literal["fast", "pro"]
SERVABLE = ("ready", "idle")  # idle: weights present, loaded on first use (warmup off)

REASONS = {
    "loading": "pro model is warming up",
    "missing": "pro model weights are missing",
    "failed": "pro model failed to load",
    "unreachable": "pro runner is unreachable",
    "error": "pro inference failed",
}


@dataclass(frozen=True)
class Route:
    runner: Quality
    fallback_reason: str | None = None
    fallback_code: str | None = None  # a key of REASONS: a bounded label for metrics


def _fall_back(code: str, detail: str | None, auto_fallback: bool) -> Route:
    reason = REASONS.get(code, f"pro model is {code}")
    if auto_fallback:
        return Route("fast", reason, code)
    message = f"{reason}: {detail}" if detail else reason
    raise Unavailable(
        "pro_unavailable", f"{message} (AUTO_FALLBACK_FAST=false)", headers={"Retry-After": "10"}
    )


def choose_route(
    quality: Quality, pro_state: str | None, auto_fallback: bool, detail: str | None = None
) -> Route:
    """fast → fast; pro → pro when servable, else fast (or 503 when fallback is off)."""
    if quality == "fast" or pro_state in SERVABLE:
        return Route(quality)
    return _fall_back(str(pro_state), detail, auto_fallback)


def route_after_pro_error(detail: str, auto_fallback: bool, code: str = "error") -> Route:
    """An inference error in pro follows the same rule as an unavailable model; ``code``
    says what kind (``unreachable`` when the runner could not be reached at all)."""
    return _fall_back(code, detail, auto_fallback)
