"""remove.bg's envelope for errors raised outside the /v1.0 route, in process: the
middlewares (API key, admission, upload size) and FastAPI's validation."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import Query

from wizpix.api import create_app
from wizpix.removebg import _b64


def request(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def only_error(response: httpx.Response) -> dict:
    errors = response.json()["errors"]
    assert len(errors) == 1 and set(errors[0]) == {"title", "code", "detail"}
    return errors[0]


def test_missing_or_wrong_key_is_403_on_v1_and_401_elsewhere() -> None:
    app = create_app(api_key="s3cret")
    for path, method in (("/v1.0/account", "GET"), ("/v1.0/removebg", "POST")):
        for headers in ({}, {"X-Api-Key": "nope"}):
            response = request(app, method, path, headers=headers)
            assert response.status_code == 403 and only_error(response)["code"] == "auth_failed"
    assert request(app, "GET", "/v1.0/account", headers={"X-Api-Key": "s3cret"}).status_code == 200
    native = request(app, "POST", "/remove-bg")
    assert native.status_code == 401 and native.json()["error"]["code"] == "unauthorized"


def test_admission_and_upload_limits_answer_in_the_envelope() -> None:
    app = create_app(max_upload_bytes=1000, max_in_flight=1)
    too_big = request(app, "POST", "/v1.0/removebg", files={"image_file": ("a", b"x" * 5000)})
    assert too_big.status_code == 400 and only_error(too_big)["code"] == "upload_too_large"
    app.state.load.in_flight = 1  # a request is being served
    busy = request(app, "POST", "/v1.0/removebg", data={"image_url": "x"})
    assert busy.status_code == 503 and only_error(busy)["code"] == "overloaded"
    assert busy.headers["retry-after"] == "2"
    native = request(app, "POST", "/remove-bg")
    assert native.status_code == 503 and native.json()["error"]["code"] == "overloaded"


def test_validation_errors_are_400_in_the_envelope_on_v1() -> None:
    app = create_app()

    @app.get("/v1.0/probe")
    async def probe(n: int = Query()) -> dict:
        return {"n": n}

    response = request(app, "GET", "/v1.0/probe?n=x")
    assert response.status_code == 400 and only_error(response)["code"] == "invalid_request"
    assert request(app, "GET", "/v1.0/nowhere").json()["errors"][0]["code"] == "http_error"


def test_bodies_that_used_to_be_500s_are_400s_that_say_why() -> None:
    app = create_app()
    file_in_json = request(app, "POST", "/v1.0/removebg", json={"image_file": "iVBORw0KGgo="})
    assert file_in_json.status_code == 400 and "image_file_b64" in only_error(file_in_json)["detail"]
    deep = request(
        app, "POST", "/v1.0/removebg", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert deep.status_code == 400 and only_error(deep)["code"] == "invalid_json"
    assert _b64("data:image/png;base64") == b""  # then "empty_file", as for an empty upload


def test_a_base64_field_over_a_megabyte_is_read() -> None:
    """Starlette caps text fields at 1 MB unless told otherwise; a base64 photo is larger."""
    app = create_app(max_upload_bytes=4 * 2**20)
    large = "." * 1_500_000  # read whole, then refused for what it is, not for its size
    response = request(app, "POST", "/v1.0/removebg", data={"image_file_b64": large})
    assert response.status_code == 400 and only_error(response)["code"] == "invalid_base64"
