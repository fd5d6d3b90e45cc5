"""Prometheus metrics and one structured log line per request.

Metrics are plain prometheus_client objects: BentoML runs every service in multiprocess mode,
so the front's and the runners' series all show on the one ``/metrics`` it serves. Labels are
bounded sets (qualities, model names, fallback and error codes), never free text.

The request log is an ASGI middleware around the routes that cut (see
``wizpix.front.wiring``): it gives each request an id
(the caller's ``X-Request-Id`` when it is sane), collects what the route and the error
handlers note in ``request.state.wizpix``, and writes one JSON line when the answer has
been sent. Never the image, never its file name.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wizpix.core.enums import RoleName
from wizpix.front.fallback import REASONS

log = logging.getLogger("wizpix.requests")

MP_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 12, 16, 24, 50)

REQUESTS = Counter(
    name="wizpix_requests_total",
    documentation="/remove-bg requests by quality asked, quality served (none when not served) and status",
    labelnames=["asked", "served", "status"],
)
FALLBACKS = Counter(
    name="wizpix_fallbacks_total",
    documentation=(
        "pro requests served by fast, by reason (loading, missing, failed, unreachable, error, busy)"
    ),
    labelnames=["reason"],
)
ERRORS = Counter(
    name="wizpix_errors_total",
    documentation="/remove-bg error answers by error code and HTTP status",
    labelnames=["code", "status"],
)
INPUT_MEGAPIXELS = Histogram(
    name="wizpix_input_megapixels",
    documentation="Size of decoded uploads in megapixels, by quality asked",
    labelnames=["asked"],
    buckets=MP_BUCKETS,
)
UNCERTAINTY = Histogram(
    name="wizpix_uncertainty",
    documentation="X-WizPix-Uncertainty of served cutouts, by quality served: alert on a drift of it",
    labelnames=["served"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
MASK_CACHE = Counter(
    name="wizpix_mask_cache_total",
    documentation="Mask cache lookups of /remove-bg requests by result (hit: no inference)",
    labelnames=["result"],
)
MASK_CACHE_BYTES = Gauge(
    name="wizpix_mask_cache_bytes",
    documentation="Bytes of masks held by the mask cache, all front workers",
    multiprocess_mode="livesum",
)


def start_known_series(roles: Iterable[RoleName]) -> None:
    """Series for the label values known in advance exist at 0 from start-up, so that an
    alert on, say, ``rate(wizpix_fallbacks_total[5m])`` has a series before the first one."""
    for reason in REASONS:
        FALLBACKS.labels(reason=str(reason))
    for result in ("hit", "miss"):
        MASK_CACHE.labels(result=result)
    for asked in roles:
        for served in roles:
            REQUESTS.labels(asked=str(asked), served=str(served), status="200")


_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def note(scope_state: Any, **facts: Any) -> None:
    """Add facts to the current request's log record (a no-op outside the middleware)."""
    record = getattr(scope_state, "wizpix", None)
    if isinstance(record, dict):
        record.update(facts)


class RequestLog:
    """One JSON line per request, written once its answer has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        record: dict[str, Any] = {"request_id": request_id}
        scope.setdefault("state", {})["wizpix"] = record
        started = time.perf_counter()
        status = 500

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged_send)
        finally:
            record.setdefault("error", None)
            finish(record, status, (time.perf_counter() - started) * 1000)


def finish(record: dict[str, Any], status: int, total_ms: float) -> None:
    """Count the request and write its line."""
    record = {"status": status, **record, "total_ms": round(total_ms, 1)}
    asked = str(record.get("asked") or "none")
    REQUESTS.labels(asked=asked, served=str(record.get("served") or "none"), status=str(status)).inc()
    if record.get("fallback_code"):
        FALLBACKS.labels(reason=record["fallback_code"]).inc()
    if status >= 400:
        ERRORS.labels(code=str(record.get("error") or f"http_{status}"), status=str(status)).inc()
    if record.get("cache"):
        MASK_CACHE.labels(result=record["cache"]).inc()
    if record.get("uncertainty") is not None:
        UNCERTAINTY.labels(served=str(record.get("served"))).observe(record["uncertainty"])
    if record.get("megapixels") is not None:
        INPUT_MEGAPIXELS.labels(asked=asked).observe(record["megapixels"])
    log.info("%s", json.dumps(record, separators=(",", ":")))
