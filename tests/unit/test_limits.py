"""Upload size, image size and the API key, in process (tests/server has the real server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import File, UploadFile

from wizpix.core.settings import Settings
from wizpix.core.units import MIB
from wizpix.front.app import create_app
from wizpix.front.wiring import with_guards


def limited_app(max_bytes: int, key: str | None = None):
    """Our app and its guards, with a route of its own in the place of /remove-bg."""
    app = create_app(Settings(max_upload_mb=max_bytes / MIB, api_key=key), routers=())

    @app.post("/remove-bg")
    async def upload(file: UploadFile = File(...)) -> dict:  # noqa: B008
        return {"size": len(await file.read())}

    return with_guards(app)


def call(app, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/remove-bg", **kwargs)

    return asyncio.run(go())


def test_declared_oversize_upload_is_refused_before_reading() -> None:
    response = call(limited_app(1000), files={"file": ("a.bin", b"x" * 5000)})
    assert response.status_code == 413 and response.json()["error"]["code"] == "upload_too_large"
    assert call(limited_app(10_000), files={"file": ("a.bin", b"x" * 5000)}).json() == {"size": 5000}


def test_chunked_oversize_upload_is_stopped_while_streaming() -> None:
    boundary = "wizpixboundary"

    async def body() -> AsyncIterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'.encode()
        for _ in range(50):
            yield b"x" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = call(
        limited_app(10_000),
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "upload_too_large"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "nope"}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"X-API-Key": "s3cret"}, 200),
        ({"Authorization": "Bearer s3cret"}, 200),
    ],
)
def test_api_key_bearer_or_header(headers: dict[str, str], status: int) -> None:
    response = call(limited_app(10_000, key="s3cret"), files={"file": ("a", b"x")}, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "unauthorized" and response.headers["www-authenticate"]


def test_the_key_is_checked_before_the_body_is_read() -> None:
    """A stranger's upload is never read: the 401 leaves before the first receive()."""
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/remove-bg",
        "raw_path": b"/remove-bg",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"5000")],
        "server": ("t", 80),
        "client": ("c", 1),
    }
    asyncio.run(limited_app(10_000, key="s3cret")(scope, receive, send))
    assert sent[0]["status"] == 401
