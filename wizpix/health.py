"""The /health report, built from the runners' own status answers."""

from __future__ import annotations

from typing import Any

from .settings import Settings


def overall_status(states: list[str]) -> str:
    """ok when every model can serve; degraded when one cannot; else warming_up."""
    if any(state in ("missing", "failed", "unreachable") for state in states):
        return "degraded"
    if all(state in ("ready", "idle") for state in states):
        return "ok"
    return "warming_up"


def health_report(fast: dict[str, Any], pro: dict[str, Any], settings: Settings) -> dict[str, Any]:
    providers = {m.get("provider") for m in (fast, pro) if m.get("provider")}
    device = next((p for p in providers if p != "none (mock)"), None) or next(iter(providers), None)
    return {
        "status": overall_status([fast["state"], pro["state"]]),
        "device": device,
        "models": {"fast": fast, "pro": pro},
        "warmup": {
            "on_startup": settings.warmup_on_startup,
            "blocking": settings.warmup_blocking,
            "fast": fast.get("warmup"),
            "pro": pro.get("warmup"),
        },
        "fallback": {
            "auto_fallback_fast": settings.auto_fallback_fast,
            "allow_remote_download": settings.allow_remote_download,
        },
    }
