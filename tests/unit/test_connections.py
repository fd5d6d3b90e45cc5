"""Keep-alive connections end after their first answer past the maximum age."""

from __future__ import annotations

import asyncio

from wizpix.core.connections import ConnectionMaxAge


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(middleware: ConnectionMaxAge, peer: tuple[str, int] | None, kind: str = "http") -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    asyncio.run(middleware({"type": kind, "client": peer}, receive, send))
    return sent


def _closes(sent: list[dict]) -> bool:
    headers = dict(sent[0]["headers"])
    return headers.get(b"connection") == b"close"


def test_a_connection_past_its_age_is_told_to_close_once() -> None:
    now = [0.0]
    middleware = ConnectionMaxAge(_ok, max_age_s=10, clock=lambda: now[0])
    peer = ("10.0.0.2", 40000)
    assert not _closes(_call(middleware, peer))
    now[0] = 9.9
    assert not _closes(_call(middleware, peer))
    now[0] = 10.0
    sent = _call(middleware, peer)
    assert _closes(sent) and sent[1]["body"] == b"ok"
    assert [k for k, _ in sent[0]["headers"]].count(b"connection") == 1  # replaced, not doubled
    # the port, reused by a new connection, starts afresh
    now[0] = 11
    assert not _closes(_call(middleware, peer))


def test_each_connection_has_its_own_age() -> None:
    now = [0.0]
    middleware = ConnectionMaxAge(_ok, max_age_s=10, clock=lambda: now[0])
    _call(middleware, ("10.0.0.2", 1))
    now[0] = 8
    _call(middleware, ("10.0.0.2", 2))
    now[0] = 12
    assert _closes(_call(middleware, ("10.0.0.2", 1)))
    assert not _closes(_call(middleware, ("10.0.0.2", 2)))


def test_zero_closes_after_every_answer_and_other_scopes_pass() -> None:
    every = ConnectionMaxAge(_ok, max_age_s=0, clock=lambda: 0.0)
    assert _closes(_call(every, ("h", 1))) and _closes(_call(every, ("h", 1)))
    assert every.opened == {}
    aged = ConnectionMaxAge(_ok, max_age_s=0, clock=lambda: 0.0)
    assert not _closes(_call(aged, None))  # no peer known (a unix socket): left alone
