"""remove.bg's error envelope: ``{"errors": [{"title", "code", "detail"}]}``, with 400 for
any bad input and 403 for a missing or wrong key, as remove.bg answers."""

from __future__ import annotations

PREFIX = "/v1.0/"
_STATUS = {401: 403, 413: 400, 415: 400, 422: 400}


def is_removebg_path(path: str) -> bool:
    return path.startswith(PREFIX)


def removebg_error(status: int, code: str, message: str) -> tuple[int, dict]:
    """The status and body remove.bg would send for our error."""
    title = code.replace("_", " ").capitalize()
    return _STATUS.get(status, status), {"errors": [{"title": title, "code": code, "detail": message}]}
