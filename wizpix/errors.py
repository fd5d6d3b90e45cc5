"""One error schema for every 4xx/5xx the service returns: {"error": {"code", "message"}}."""

from __future__ import annotations


class ApiError(Exception):
    """An error that maps to an HTTP status and a stable machine-readable code."""

    status = 500

    def __init__(
        self, code: str, message: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        if status is not None:
            self.status = status

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadInput(ApiError):
    """The client sent something we cannot process (4xx)."""

    status = 400


class Unavailable(ApiError):
    """No model can serve the request right now (503)."""

    status = 503
