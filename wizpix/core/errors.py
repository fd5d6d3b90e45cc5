"""The errors every side raises: a stable code, an HTTP status and a message.

How an error is shaped into a response body (ours, or remove.bg's on ``/v1.0/``) is the
front's business (``wizpix.front.envelope``); here an error is only what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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


class BadInput(ApiError):
    """The client sent something we cannot process (4xx)."""

    status = 400


class Unavailable(ApiError):
    """No model can serve the request right now (503)."""

    status = 503


class TooLarge(ApiError):
    """An upload, image or batch past a configured limit (413)."""

    status = 413


def problems(items: Iterable[Mapping[str, Any]], skip: int = 0, sep: str = ".") -> str:
    """Pydantic's (or FastAPI's) validation errors as one line: ``field: message; …``.

    ``skip`` drops leading location parts that say where rather than what (FastAPI's
    ``query``/``body``); pydantic's ``Value error, `` prefix is dropped: our validators'
    messages are written to be read as they are."""
    lines = []
    for item in items:
        where = sep.join(str(part) for part in item["loc"][skip:]) or sep.join(map(str, item["loc"]))
        lines.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(lines)
