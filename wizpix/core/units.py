"""Sizes as the settings give them (MB) and as the code counts them (bytes); whole numbers
as a client writes them in a header or a form field."""

import re

MIB = 2**20
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() also takes "²" and "١", int() does not


def mib(megabytes: float) -> int:
    """``MAX_UPLOAD_MB=25`` and friends, in bytes."""
    return int(megabytes * MIB)


def as_mb(size: int) -> str:
    """A byte count for a message: ``25 MB``."""
    return f"{size / MIB:g} MB"


def whole_number(text: str | None) -> int | None:
    """``text`` as a non-negative integer when it is one written in ASCII digits (at most 18,
    surrounding spaces allowed), else None: never an exception."""
    if text is None or not _DIGITS.fullmatch(text := text.strip()):
        return None
    return int(text)
