"""The base of the front's middlewares: each acts on /remove-bg only, before FastAPI reads
the body, and lets every other route (health, metrics, the page) straight through."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RouteMiddleware:
    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/remove-bg",)) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
