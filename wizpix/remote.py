"""The front's client for a runner reached through BentoML (``bentoml.depends``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bentoml.exceptions import BentoMLException

from .errors import Unavailable

# A runner's dispatcher sheds requests it cannot serve within max_latency_ms (503), and its
# traffic limit refuses past max_concurrency (429): load, not a bug, so the client may retry.
SHED_CODES = (429, 503)


class RemoteRunner:
    """Adapts a BentoML dependency to the two-method ``RunnerClient`` of the front."""

    def __init__(self, dependency: Any) -> None:
        self._dependency = dependency

    async def predict(self, images: np.ndarray) -> np.ndarray:
        try:
            return await self._dependency.to_async.predict(images=images)
        except BentoMLException as error:
            if int(getattr(error, "error_code", 500)) in SHED_CODES:
                raise Unavailable(
                    "busy", "the model runner is at capacity; retry shortly", headers={"Retry-After": "5"}
                ) from None
            raise

    async def status(self) -> dict:
        return await self._dependency.to_async.status()
