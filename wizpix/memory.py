"""Give freed heap memory back to the operating system.

glibc keeps the multi-megabyte buffers of a 12 MP request in its per-thread heaps after
they are freed (and raises its mmap threshold as it sees them), so a front that served a
few large photos stayed ~400 MB bigger for good. ``malloc_trim`` costs well under a
millisecond; elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util

try:
    _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc
    _trim = None


def release_free_memory() -> None:
    if _trim is not None:
        _trim(0)
