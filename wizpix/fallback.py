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


def _fall_back(reason: str, detail: str | None, auto_fallback: bool) -> Route:
    if auto_fallback:
        return Route("fast", reason)
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
    return _fall_back(REASONS.get(str(pro_state), f"pro model is {pro_state}"), detail, auto_fallback)


def route_after_pro_error(detail: str, auto_fallback: bool) -> Route:
    """An inference error in pro follows the same rule as an unavailable model."""
    return _fall_back(REASONS["error"], detail, auto_fallback)
