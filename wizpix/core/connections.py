"""Keep-alive connections that end: an ASGI middleware for every WizPix service.

A Kubernetes Service (kube-proxy) balances connections, not requests. A client that keeps
its connections open for ever (the front's runner client does: BentoML recycling its
session killed calls in flight) sends all its calls to the replicas it met when they opened:
a replica added later, or one back from a crash, gets nothing. So a service answers
``Connection: close`` on a connection's first response past ``max_age_s``: the client opens
a new one for its next call, which the balancer places afresh. Closing after a whole
response, on HTTP/1.1 without pipelining, drops nothing in flight (gRPC's
MAX_CONNECTION_AGE and Envoy's max_connection_duration do the same). With 0, every answer
closes its connection: a per-connection balancer then places every call.

A connection is known by its peer's address and port, the only identity ASGI gives it. A
port reused by a later connection at worst closes that one early, once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PRUNE_EVERY = 1000  # requests between two sweeps of connections no longer seen


class ConnectionMaxAge:
    def __init__(self, app: ASGIApp, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.max_age_s = max_age_s
        self.clock = clock
        self.opened: dict[tuple[str, int], float] = {}
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] != "http" or not peer:
            await self.app(scope, receive, send)
            return
        now = self.clock()
        key = (str(peer[0]), int(peer[1]))
        if self.max_age_s and now - self.opened.setdefault(key, now) < self.max_age_s:
            self._prune(now)
            await self.app(scope, receive, send)
            return
        self.opened.pop(key, None)  # this answer ends it

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)

    def _prune(self, now: float) -> None:
        """Forget connections unseen for long: their clients closed them."""
        self.requests += 1
        if self.requests % PRUNE_EVERY == 0:
            horizon = now - 10 * max(self.max_age_s, 1)
            self.opened = {key: opened for key, opened in self.opened.items() if opened > horizon}
