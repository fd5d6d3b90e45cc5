"""Training BentoML's adaptive-batching dispatchers once the runners' models are warm.

BentoML 1.4's adaptive batching learns its timing from the first calls it sees: eight and
one single calls, then two steps that wait for a partner request for up to (2n + 1) times
the inference time (seconds, for a 1024² model). Made by the front once the model is
warm, with a partner at hand for those two, no user request meets that wait; until then
the model reads as warming up, so ``pro`` requests are served by ``fast``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import numpy as np

from wizpix.core.contract import RunnerClient, RunnerStatus
from wizpix.core.enums import ModelState, RoleName, WarmupState
from wizpix.core.roles import Role

log = logging.getLogger(__name__)

DISPATCHER_TRAINING = (1,) * 9 + (2, 2)


class DispatcherTraining:
    """Each runner's dispatcher: pending, running, done or failed (disabled without warmup)."""

    def __init__(
        self,
        roles: dict[RoleName, Role],
        runners: dict[RoleName, RunnerClient],
        status: Callable[[RoleName], Awaitable[RunnerStatus]],
        enabled: bool,
    ) -> None:
        self.roles, self.runners, self._status = roles, runners, status
        self.states = dict.fromkeys(runners, WarmupState.PENDING if enabled else WarmupState.DISABLED)

    @property
    def training(self) -> bool:
        """A dispatcher is still to be trained (or being trained)."""
        return any(state.under_way for state in self.states.values())

    def seen_by_users(self, status: RunnerStatus) -> RunnerStatus:
        """A runner's status as the rest of the service sees it: still warming up while
        its dispatcher trains."""
        state = self.states[status.role]
        if state.under_way and status.state is ModelState.READY:
            return status.model_copy(
                update={"state": ModelState.LOADING, "warmup": WarmupState.RUNNING, "dispatcher": state}
            )
        return status.model_copy(update={"dispatcher": state})

    async def run(self) -> None:
        """Once each model is warm, make the calls its batching dispatcher learns from."""
        await asyncio.gather(*(self._train(role) for role in self.runners))

    async def _train(self, role: RoleName) -> None:
        if self.states[role] is not WarmupState.PENDING:
            return
        self.states[role] = WarmupState.RUNNING
        while (state := (await self._status(role)).state) is not ModelState.READY:
            if state in (ModelState.MISSING, ModelState.FAILED):  # nothing to train: it will not serve
                self.states[role] = WarmupState.FAILED
                return
            await asyncio.sleep(0.5)  # loading, or the runner process is not up yet
        size = self.roles[role].model.preprocess.size
        blank = np.zeros((1, size, size, 3), np.uint8)
        started = time.perf_counter()
        try:
            for partners in DISPATCHER_TRAINING:
                await asyncio.gather(*(self.runners[role].predict(blank) for _ in range(partners)))
        except Exception as error:  # noqa: BLE001 - the service runs; its first requests may wait
            log.warning("%s runner's batching dispatcher could not be trained: %s", role, error)
            self.states[role] = WarmupState.FAILED
            return
        self.states[role] = WarmupState.DONE
        log.info("%s runner's batching dispatcher trained in %.1f s", role, time.perf_counter() - started)
