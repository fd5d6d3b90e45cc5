"""Sizes as the settings give them (MB) and as the code counts them (bytes)."""

MIB = 2**20


def mib(megabytes: float) -> int:
    """``MAX_UPLOAD_MB=25`` and friends, in bytes."""
    return int(megabytes * MIB)


def as_mb(size: int) -> str:
    """A byte count for a message: ``25 MB``."""
    return f"{size / MIB:g} MB"
