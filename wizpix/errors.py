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


# remove.bg's v1.0 API answers errors as {"errors": [{"title", "code", "detail"}]}, with 400
# for any bad input and 403 for a missing or wrong key; every other path keeps ours.
REMOVEBG_PREFIX = "/v1.0/"
_REMOVEBG_STATUS = {401: 403, 413: 400, 415: 400, 422: 400}


def is_removebg_path(path: str) -> bool:
    return path.startswith(REMOVEBG_PREFIX)


def error_answer(path: str, status: int, code: str, message: str) -> tuple[int, dict]:
    """The status and JSON body of an error on ``path``: the one place that picks the envelope."""
    if not is_removebg_path(path):
        return status, {"error": {"code": code, "message": message}}
    title = code.replace("_", " ").capitalize()
    return _REMOVEBG_STATUS.get(status, status), {
        "errors": [{"title": title, "code": code, "detail": message}]
    }
