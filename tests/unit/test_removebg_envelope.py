"""remove.bg's envelope for errors raised outside the /v1.0 route, in process: the
middlewares (API key, admission, upload size) and FastAPI's validation."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, Query

from tests.unit.test_frontend import in_process
from wizpix.core.settings import Settings
from wizpix.core.units import MIB
from wizpix.front.app import create_app
from wizpix.front.removebg.routes import _b64
from wizpix.front.wiring import with_guards


def create(**values: object) -> FastAPI:
    """The front's app with the mock model on both runners, in process."""
    settings = Settings(fast_model_name="mock", pro_model_name="mock", **values)
    app = create_app(settings)
    app.state.front.cutter = in_process(settings)
    return app


def request(app: FastAPI, method: str, path: str, **kwargs) -> httpx.Response:
    """A request through the guards, as BentoML serves the app."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=with_guards(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def only_error(response: httpx.Response) -> dict:
    errors = response.json()["errors"]
    assert len(errors) == 1 and set(errors[0]) == {"title", "code", "detail"}
    return errors[0]


def test_missing_or_wrong_key_is_403_on_v1_and_401_elsewhere() -> None:
    app = create(api_key="s3cret")
    for path, method in (("/v1.0/account", "GET"), ("/v1.0/removebg", "POST")):
        for headers in ({}, {"X-Api-Key": "nope"}):
            response = request(app, method, path, headers=headers)
            assert response.status_code == 403 and only_error(response)["code"] == "auth_failed"
    assert request(app, "GET", "/v1.0/account", headers={"X-Api-Key": "s3cret"}).status_code == 200
    native = request(app, "POST", "/remove-bg")
    assert native.status_code == 401 and native.json()["error"]["code"] == "unauthorized"


def test_admission_and_upload_limits_answer_in_the_envelope() -> None:
    app = create(max_upload_mb=1000 / MIB, max_in_flight=1)
    too_big = request(app, "POST", "/v1.0/removebg", files={"image_file": ("a", b"x" * 5000)})
    assert too_big.status_code == 400 and only_error(too_big)["code"] == "upload_too_large"
    app.state.front.load.in_flight = 1  # a request is being served
    busy = request(app, "POST", "/v1.0/removebg", data={"image_url": "x"})
    assert busy.status_code == 503 and only_error(busy)["code"] == "overloaded"
    assert busy.headers["retry-after"] == "2"
    native = request(app, "POST", "/remove-bg")
    assert native.status_code == 503 and native.json()["error"]["code"] == "overloaded"


def test_validation_errors_are_400_in_the_envelope_on_v1() -> None:
    app = create()

    @app.get("/v1.0/probe")
    async def probe(n: int = Query()) -> dict:
        return {"n": n}

    response = request(app, "GET", "/v1.0/probe?n=x")
    assert response.status_code == 400 and only_error(response)["code"] == "invalid_request"
    assert request(app, "GET", "/v1.0/nowhere").json()["errors"][0]["code"] == "http_error"


def test_bodies_that_used_to_be_500s_are_400s_that_say_why() -> None:
    app = create()
    file_in_json = request(app, "POST", "/v1.0/removebg", json={"image_file": "iVBORw0KGgo="})
    assert file_in_json.status_code == 400 and "image_file_b64" in only_error(file_in_json)["detail"]
    deep = request(
        app, "POST", "/v1.0/removebg", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert deep.status_code == 400 and only_error(deep)["code"] == "invalid_json"
    assert _b64("data:image/png;base64") == b""  # then "empty_file", as for an empty upload


def test_a_base64_field_over_a_megabyte_is_read() -> None:
    """Starlette caps text fields at 1 MB unless told otherwise; a base64 photo is larger."""
    app = create(max_upload_mb=4)
    large = "." * 1_500_000  # read whole, then refused for what it is, not for its size
    response = request(app, "POST", "/v1.0/removebg", data={"image_file_b64": large})
    assert response.status_code == 400 and only_error(response)["code"] == "invalid_base64"
