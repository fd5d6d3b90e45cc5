"""The outermost guard: errors of the layers below ours leave in our envelope, exceptions as
our 500 at once (below it, BentoML would hold the connection for its traffic timeout)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.responses import JSONResponse, PlainTextResponse, Response

from wizpix.front.envelope import Envelope


def answering(response: Response | Exception):
    async def app(scope, receive, send) -> None:
        if isinstance(response, Exception):
            raise response
        await response(scope, receive, send)

    return Envelope(app)


def call(app, path: str = "/remove_background") -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post(path, content=b"x")

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("response", "status", "code", "says"),
    [
        (
            JSONResponse(
                {"error": "1 validation error", "detail": [{"loc": ["image"], "msg": "Field required"}]}, 400
            ),
            400,
            "invalid_request",
            "image: Field required",
        ),
        (
            JSONResponse([{"error": "application/vnd.bentoml+pickle is not allowed"}], 415),
            415,
            "unsupported_media_type",
            "pickle",
        ),
        (JSONResponse({"error": "task_id not found"}, 404), 404, "not_found", "task_id not found"),
        (
            PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "POST"}),
            405,
            "method_not_allowed",
            "Method",
        ),
        (
            JSONResponse({"error": "An unexpected error has occurred, /secret/path"}, 500),
            500,
            "internal_error",
            "the service failed",
        ),
    ],
)
def test_their_errors_are_told_in_ours(response: Response, status: int, code: str, says: str) -> None:
    answer = call(answering(response))
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert says in answer.json()["error"]["message"] and "/secret" not in answer.text


def test_an_exception_is_our_500_at_once_and_ours_pass_untouched() -> None:
    answer = call(answering(ValueError("invalid literal for int()")))
    assert answer.status_code == 500 and answer.json() == {
        "error": {"code": "internal_error", "message": "the service failed to process this request"}
    }
    removebg = call(answering(ValueError("boom")), "/v1.0/removebg")
    assert removebg.json()["errors"][0]["code"] == "internal_error"
    ours = {"error": {"code": "no_subject", "message": "nothing to crop"}}
    assert call(answering(JSONResponse(ours, 422))).json() == ours
    image = call(answering(Response(b"\x89PNG", media_type="image/png")))
    assert image.status_code == 200 and image.content == b"\x89PNG"
    assert json.loads(call(answering(JSONResponse({"ok": 1}))).text) == {"ok": 1}
