"""The /health report, built from the runners' own status answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import ModelState, RoleName
from wizpix.core.settings import Settings


def overall_status(states: Iterable[ModelState | str]) -> str:
    """ok when every model can serve; degraded when one cannot; else warming_up."""
    states = [ModelState(state) for state in states]
    if any(state.broken for state in states):
        return "degraded"
    if all(state.servable for state in states):
        return "ok"
    return "warming_up"


def health_report(models: dict[RoleName, RunnerStatus], settings: Settings) -> dict[str, Any]:
    providers = {status.provider for status in models.values() if status.provider}
    provider = next((p for p in providers if p != "none (mock)"), None) or next(iter(providers), None)
    return {
        "status": overall_status(status.state for status in models.values()),
        "device": provider,  # ONNX Runtime's provider name (each model says its device too)
        "devices": {str(role): status.device for role, status in models.items()},
        "device_setting": settings.device,
        "precision_setting": settings.pro_precision,  # each model says its build and why
        "models": {str(role): status.model_dump(mode="json") for role, status in models.items()},
        "warmup": {
            "on_startup": settings.warmup_on_startup,
            "blocking": settings.warmup_blocking,
            **{str(role): status.warmup for role, status in models.items()},
        },
        "fallback": {
            "auto_fallback_fast": settings.auto_fallback_fast,
            "allow_remote_download": settings.allow_remote_download,
        },
    }
