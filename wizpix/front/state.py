"""What every route receives, the same way: the front's shared objects, from the app.

The FastAPI app is made when ``service.py`` is imported, the ``Cutter`` only once BentoML
has made the service instance (its runners are dependencies of that instance). Routes
therefore ask for them per request, through FastAPI's ``Depends``, rather than closing
over a value that does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from wizpix.core.errors import Unavailable
from wizpix.core.settings import Settings
from wizpix.front.cutter import Cutter
from wizpix.front.guards import Load
from wizpix.front.removebg.rate_limit import RateLimiter


@dataclass
class FrontState:
    settings: Settings
    load: Load  # requests in flight, refused and cut: the admission guard's and /health's
    rate_limiter: RateLimiter | None  # remove.bg's per-key limit, when RATE_LIMIT_MP_PER_MINUTE is set
    cutter: Cutter | None = None  # set by the service instance

    @classmethod
    def from_settings(cls, settings: Settings) -> FrontState:
        limit = settings.rate_limit_mp_per_minute
        return cls(settings, Load(limit=settings.max_in_flight), RateLimiter(limit) if limit else None)


def front_state(request: Request) -> FrontState:
    return request.app.state.front


def cutter(request: Request) -> Cutter:
    if (found := front_state(request).cutter) is None:  # a request before the service instance
        raise Unavailable("starting", "the service is starting; retry shortly", headers={"Retry-After": "2"})
    return found


Front = Annotated[FrontState, Depends(front_state)]
CutterDep = Annotated[Cutter, Depends(cutter)]
