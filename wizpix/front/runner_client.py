"""The front's client for a runner reached through BentoML (``bentoml.depends``)."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import aiohttp
import numpy as np
from bentoml.exceptions import BentoMLException

from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import ModelState
from wizpix.core.errors import Unavailable

# A runner's dispatcher sheds requests it cannot serve within max_latency_ms (503), and its
# traffic limit refuses past max_concurrency (429): load, not a bug, so the client may retry.
SHED_CODES = (429, 503)
# A request reads its runner's status (state for the fallback rule, weights checksum for
# the mask cache key): kept this long, it costs no second round trip per request.
STATUS_TTL_S = 1.0
log = logging.getLogger(__name__)
# The runner calls of the request in hand that were sent twice, each as "<role>: <why>": the
# cutter gives each request a list of its own, and says what is in it in X-WizPix-Retry.
RETRIED: ContextVar[list[str] | None] = ContextVar("runner_calls_retried", default=None)


class RemoteRunner:
    """Adapts a BentoML dependency to the ``RunnerClient`` contract of the front."""

    def __init__(self, dependency: Any, role: str = "runner", status_ttl_s: float = STATUS_TTL_S) -> None:
        self._dependency = dependency
        self._role = role
        self._status_ttl_s = status_ttl_s
        self._status: tuple[float, RunnerStatus] | None = None

    async def predict(self, images: np.ndarray) -> np.ndarray:
        try:
            # a runner reached by URL answers in JSON: the dtype does not survive the trip
            masks = np.asarray(await self._predict_once_more_on_disconnect(images), dtype=np.uint8)
        except aiohttp.ClientConnectionError as error:
            self._status = None
            raise Unavailable(
                "runner_unreachable",
                f"the model runner could not be reached: {type(error).__name__}",
                headers={"Retry-After": "5"},
            ) from None
        except BentoMLException as error:
            self._status = None
            if int(getattr(error, "error_code", 500)) in SHED_CODES:
                raise Unavailable(
                    "busy", "the model runner is at capacity; retry shortly", headers={"Retry-After": "5"}
                ) from None
            raise
        except Exception:
            self._status = None  # whatever went wrong, the next request asks afresh
            raise
        if self._status is not None and self._status[1].state is not ModelState.READY:
            self._status = None  # an idle or loading model is ready once it has served
        return masks

    async def _predict_once_more_on_disconnect(self, images: np.ndarray) -> np.ndarray:
        """A connection lost mid-call: a pooled keep-alive connection the runner has just
        closed (seen under load as ServerDisconnectedError, 7 in 390 requests; as
        ClientOSError, a reset, on a connection idle since warmup), or a runner replica
        that died with the call on it (a balancer sends the new connection to a live one).
        Inference is a pure function of its input, so one retry on a fresh connection is
        safe; the request's answer says it happened."""
        try:
            return await self._dependency.to_async.predict(images=images)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            why = f"connection lost ({type(error).__name__}), sent again"
            log.warning("%s runner %s", self._role, why)
            if (retried := RETRIED.get()) is not None:
                retried.append(f"{self._role}: {why}")
            return await self._dependency.to_async.predict(images=images)

    async def status(self) -> RunnerStatus:
        """The runner's status, at most ``status_ttl_s`` old; an error is never cached, and
        a status other than ready is dropped once the model has served."""
        now = time.monotonic()
        if self._status is not None and now - self._status[0] < self._status_ttl_s:
            return self._status[1]
        self._status = None
        status = RunnerStatus.model_validate(await self._dependency.to_async.status())
        self._status = (now, status)
        return status
