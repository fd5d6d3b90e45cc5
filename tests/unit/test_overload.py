"""Bounded work in flight and per-request deadlines, in process (tests/server has the real server).

Slow uploads are the load here: a client that trickles its body holds an admission slot
exactly as a slow inference does, and needs no model to be slow.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest
from fastapi import Request

from wizpix.core.errors import Unavailable
from wizpix.core.settings import Settings
from wizpix.core.units import MIB
from wizpix.front.app import create_app
from wizpix.front.guards import DEADLINE_HEADER, Load
from wizpix.front.runner_client import RemoteRunner
from wizpix.front.wiring import Guards, with_guards


def slow_app(max_in_flight: int, deadline_s: float, work_s: float) -> Guards:
    settings = Settings(max_upload_mb=10_000 / MIB, max_in_flight=max_in_flight, request_timeout_s=deadline_s)
    app = create_app(settings, routers=())

    @app.post("/remove-bg")
    async def work(request: Request) -> dict:
        await request.body()
        await asyncio.sleep(work_s)
        return {"ok": True}

    return with_guards(app)


def load_of(app: Guards) -> Load:
    return app.app.state.front.load


async def _post_many(app, count: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await asyncio.gather(
            *(client.post("/remove-bg", content=b"x", headers=headers or {}) for _ in range(count))
        )


def test_work_past_the_limit_is_refused_with_503_and_retry_after() -> None:
    app = slow_app(max_in_flight=2, deadline_s=10, work_s=0.3)
    responses = asyncio.run(_post_many(app, 5))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503, 503], codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["error"]["code"] == "overloaded" and refused.headers["retry-after"] == "2"
    assert load_of(app).in_flight == 0 and load_of(app).refused == 3


def test_a_request_past_its_deadline_gets_504_and_frees_its_slot() -> None:
    app = slow_app(max_in_flight=1, deadline_s=0.2, work_s=5)
    started = time.monotonic()
    (response,) = asyncio.run(_post_many(app, 1))
    assert time.monotonic() - started < 2
    assert response.status_code == 504 and response.json()["error"]["code"] == "deadline_exceeded"
    assert load_of(app).in_flight == 0 and load_of(app).timed_out == 1


def test_the_client_may_ask_for_a_shorter_deadline_never_a_longer_one() -> None:
    app = slow_app(max_in_flight=4, deadline_s=30, work_s=0.5)
    (short,) = asyncio.run(_post_many(app, 1, {DEADLINE_HEADER: "100"}))
    assert short.status_code == 504
    (enough,) = asyncio.run(_post_many(app, 1, {DEADLINE_HEADER: "5000"}))
    assert enough.status_code == 200
    capped = slow_app(max_in_flight=4, deadline_s=0.1, work_s=0.5)
    (longer,) = asyncio.run(_post_many(capped, 1, {DEADLINE_HEADER: "60000"}))
    assert longer.status_code == 504


class _Shedding:
    """A BentoML dependency whose dispatcher refuses the call, as a runner at capacity does."""

    def __init__(self, code: int) -> None:
        from bentoml.exceptions import BentoMLException

        async def predict(images: np.ndarray) -> np.ndarray:
            raise BentoMLException("shed", error_code=code)

        self.to_async = type("Async", (), {"predict": staticmethod(predict)})()


@pytest.mark.parametrize("code", [429, 503])
def test_a_runner_shedding_load_becomes_our_busy_503(code: int) -> None:
    with pytest.raises(Unavailable) as caught:
        asyncio.run(RemoteRunner(_Shedding(code)).predict(np.zeros((1, 4, 4, 3), np.uint8)))
    assert caught.value.code == "busy" and caught.value.headers["Retry-After"]


class _Disconnecting:
    """A dependency whose pooled connection was closed by the runner `drops` times."""

    def __init__(self, drops: int, error: type[Exception] | None = None) -> None:
        import aiohttp

        self.calls = 0
        make = error or aiohttp.ServerDisconnectedError

        async def predict(images: np.ndarray) -> np.ndarray:
            self.calls += 1
            if self.calls <= drops:
                raise make()
            return np.zeros(images.shape[:3], np.uint8)

        self.to_async = type("Async", (), {"predict": staticmethod(predict)})()


@pytest.mark.parametrize("error", ["ServerDisconnectedError", "ClientOSError"])
def test_a_connection_closed_under_a_request_is_retried_once_then_503(error: str) -> None:
    import aiohttp

    kind = getattr(aiohttp, error)
    batch = np.zeros((1, 4, 4, 3), np.uint8)
    once = _Disconnecting(drops=1, error=kind)
    assert asyncio.run(RemoteRunner(once).predict(batch)).shape == (1, 4, 4) and once.calls == 2
    with pytest.raises(Unavailable) as caught:
        asyncio.run(RemoteRunner(_Disconnecting(drops=2, error=kind)).predict(batch))
    assert caught.value.code == "runner_unreachable" and caught.value.status == 503


def test_other_runner_errors_are_not_disguised_as_load() -> None:
    from bentoml.exceptions import BentoMLException

    with pytest.raises(BentoMLException):
        asyncio.run(RemoteRunner(_Shedding(500)).predict(np.zeros((1, 4, 4, 3), np.uint8)))


def test_draining_answers_work_in_flight_within_the_grace_and_refuses_new_work() -> None:
    app = slow_app(max_in_flight=4, deadline_s=30, work_s=5)

    async def scenario() -> tuple[httpx.Response, httpx.Response, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            in_flight = asyncio.create_task(client.post("/remove-bg", content=b"x"))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            load_of(app).drain(0.3)
            new = await client.post("/remove-bg", content=b"x")
            return await in_flight, new, time.monotonic() - started

    cut, refused, took = asyncio.run(scenario())
    assert cut.status_code == 503 and cut.json()["error"]["code"] == "shutting_down" and took < 2
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
    assert refused.headers["retry-after"] and load_of(app).report()["draining"] is True
