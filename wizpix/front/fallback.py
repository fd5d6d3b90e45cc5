"""Which runner serves a request: the original design's fallback rules as a pure function."""

from __future__ import annotations

from dataclasses import dataclass

from wizpix.core.enums import ModelState, RoleName
from wizpix.core.errors import Unavailable

INFERENCE_ERROR = "error"  # pro was servable, but its inference raised
BUSY = "busy"  # pro's queue cannot be served before the request's deadline

# Every code a fallback can carry (a bounded metrics label) and what it tells a client.
REASONS: dict[str, str] = {
    ModelState.LOADING: "pro model is warming up",
    ModelState.MISSING: "pro model weights are missing",
    ModelState.FAILED: "pro model failed to load",
    ModelState.UNREACHABLE: "pro runner is unreachable",
    INFERENCE_ERROR: "pro inference failed",
    BUSY: "pro cannot meet the deadline (its queue is too long)",
}


@dataclass(frozen=True)
class Route:
    role: RoleName
    fallback_reason: str | None = None
    fallback_code: str | None = None  # a key of REASONS


def _fall_back(code: str, detail: str | None, auto_fallback: bool) -> Route:
    reason = REASONS.get(code, f"pro model is {code}")
    if auto_fallback:
        return Route(RoleName.FAST, reason, str(code))
    message = f"{reason}: {detail}" if detail else reason
    raise Unavailable(
        "pro_unavailable", f"{message} (AUTO_FALLBACK_FAST=false)", headers={"Retry-After": "10"}
    )


def choose_route(
    quality: RoleName, pro_state: ModelState, auto_fallback: bool, detail: str | None = None
) -> Route:
    """fast → fast; pro → pro when servable, else fast (or 503 when fallback is off)."""
    quality, pro_state = RoleName(quality), ModelState(pro_state)
    if quality is RoleName.FAST or pro_state.servable:
        return Route(quality)
    return _fall_back(pro_state, detail, auto_fallback)


def route_after_pro_error(detail: str, auto_fallback: bool, code: str = INFERENCE_ERROR) -> Route:
    """An inference error in pro follows the same rule as an unavailable model; ``code``
    says what kind (``unreachable`` when the runner could not be reached at all)."""
    return _fall_back(code, detail, auto_fallback)
