"""The closed vocabularies every module shares: roles, model, warmup and task states.

Each is one enum, so a state is spelled once: the slot sets it, the fallback rule and
/health read it, and JSON carries its value (they are ``str`` enums).
"""

from __future__ import annotations

from enum import StrEnum


class RoleName(StrEnum):
    """The two tiers: a runner each, and what served a request."""

    FAST = "fast"
    PRO = "pro"


class Quality(StrEnum):
    """What a client asks for with ``quality``: a tier, or ``auto``: fast, and pro as well
    where fast's mask is unsure (AUTO_THRESHOLD)."""

    FAST = "fast"
    PRO = "pro"
    AUTO = "auto"


class ModelState(StrEnum):
    IDLE = "idle"  # weights verified, loaded on first use (WARMUP_ON_STARTUP=false)
    LOADING = "loading"
    READY = "ready"
    MISSING = "missing"  # no weights; the error says how to fetch them
    FAILED = "failed"  # corrupt weights, a graph that does not fit its family, a load error
    UNREACHABLE = "unreachable"  # the runner process does not answer

    @property
    def servable(self) -> bool:
        return self in (ModelState.READY, ModelState.IDLE)

    @property
    def broken(self) -> bool:
        """Will not serve until someone acts (fetch, fix the file) or the runner returns."""
        return self in (ModelState.MISSING, ModelState.FAILED, ModelState.UNREACHABLE)


class WarmupState(StrEnum):
    DISABLED = "disabled"
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def under_way(self) -> bool:
        return self in (WarmupState.PENDING, WarmupState.RUNNING)


class TaskState(StrEnum):
    """A batch or video task's state on ``/batch_progress``."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"
    FAILED = "failed"
