"""When the runners can serve: /readyz with a blocking warmup, and /health's start-up times.

Nothing has to be trained at start-up any more (the runners' dispatcher learns nothing:
``wizpix.runner.dispatcher``), so the front is ready when its runners are: each has loaded
its model and run it once. The front watches for that from its own start and keeps how
long each took, so that an operator sees where start-up time goes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import ModelState, RoleName


class Readiness:
    def __init__(self, roles: list[RoleName], status: Callable[[RoleName], Awaitable[RunnerStatus]]) -> None:
        self._status = status
        self.started = time.monotonic()
        self.ready_s: dict[RoleName, float | None] = dict.fromkeys(roles)  # from the front's start
        self.settled: set[RoleName] = set()  # ready, or broken: no more to wait for

    @property
    def all_ready(self) -> bool:
        return all(seconds is not None for seconds in self.ready_s.values())

    async def watch(self, interval_s: float = 0.25) -> None:
        """Until every runner serves or will not (missing, failed)."""
        while len(self.settled) < len(self.ready_s):
            for role in set(self.ready_s) - self.settled:
                state = (await self._status(role)).state
                if state is ModelState.READY:
                    self.ready_s[role] = round(time.monotonic() - self.started, 2)
                    self.settled.add(role)
                elif state in (ModelState.MISSING, ModelState.FAILED, ModelState.IDLE):
                    self.settled.add(role)  # idle: loaded on first use (WARMUP_ON_STARTUP=false)
            await asyncio.sleep(interval_s)
