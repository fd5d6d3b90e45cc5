"""Bounded work in flight and per-request deadlines on a real `bentoml serve`.

Slow uploads are the load here: a client that trickles its body holds an admission slot
exactly as a slow inference does, and needs no model to be slow.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Server, mock_server_ok, trickling_upload
from wizpix.front.guards import DEADLINE_HEADER

LIMIT, DEADLINE_S = 2, 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"MAX_IN_FLIGHT": str(LIMIT), "REQUEST_TIMEOUT_S": str(DEADLINE_S)}
    with mock_server_ok(tmp_path_factory.mktemp("overload"), **env) as running:
        yield running


def read_response(sock: socket.socket) -> tuple[int, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read())


@pytest.mark.server
def test_slow_uploads_fill_the_slots_then_others_get_503_then_408_frees_them(
    server: Server, disc_png: bytes
) -> None:
    held = [trickling_upload(server.url) for _ in range(LIMIT)]
    try:
        time.sleep(0.5)
        with server.client() as client:
            refused = client.post("/remove-bg", files={"file": ("d.png", disc_png, "image/png")})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "overloaded" and refused.headers["retry-after"]
            load = client.get("/health").json()["requests"]
            assert load["in_flight"] == LIMIT and load["refused"] >= 1, load
            # the deadline covers the upload: a trickling client is cut with 408
            for sock in held:
                status, body = read_response(sock)
                assert status == 408 and body["error"]["code"] == "upload_timeout", body
            load = client.get("/health").json()["requests"]
            assert load["in_flight"] == 0 and load["timed_out"] >= LIMIT, load
            served = client.post("/remove-bg", files={"file": ("d.png", disc_png, "image/png")})
            assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    finally:
        for sock in held:
            sock.close()


@pytest.mark.server
def test_a_bad_deadline_header_is_a_422(server: Server, disc_png: bytes) -> None:
    with server.client() as client:
        for bad in ("0", "-5", "soon"):
            response = client.post(
                "/remove-bg", files={"file": ("d.png", disc_png, "image/png")}, headers={DEADLINE_HEADER: bad}
            )
            assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
