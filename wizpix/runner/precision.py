"""Which build of a model runs here: fp32, or the eight-bit build made at import.

Eight-bit arithmetic pays on CPUs with the instructions for it (AVX-512 VNNI measured 2.4×
faster on ISNet) and may not elsewhere, and the CPUs these services land on differ. So
``PRO_PRECISION=auto`` measures, on the machine and with the threads the runner has: each
build runs twice on the warmup input, interleaved, and the second runs are compared (the
first pays for kernel choice and buffers). int8 is kept only when it is at least
``MARGIN`` faster: within noise, the published fp32 graph is the safer answer. What decided,
with the figures, goes to the log and /health.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

Build = Literal["fp32", "int8"]
MARGIN = 0.9  # int8 must take at most this share of fp32's time


@dataclass(frozen=True)
class Precision:
    build: Build
    reason: str  # why, with the figures that decided: for the log and /health
    fp32_s: float | None = None
    int8_s: float | None = None


def fixed(setting: str, has_int8: bool, why_none: str) -> Precision | None:
    """The choice when nothing needs timing, or None when ``auto`` must measure."""
    if setting == "fp32":
        return Precision("fp32", "PRO_PRECISION=fp32")
    if not has_int8:
        if setting == "int8":
            raise ValueError(f"PRO_PRECISION=int8, but {why_none}")
        return Precision("fp32", f"auto: {why_none}")
    if setting == "int8":
        return Precision("int8", "PRO_PRECISION=int8")
    return None


def timed_choice(
    fp32: Callable[[], object],
    int8: Callable[[], object],
    threads: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Precision:
    """Run each build twice, interleaved; keep int8 where its second run is clearly faster."""
    seconds: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(2):
        for name, run in (("fp32", fp32), ("int8", int8)):
            started = clock()
            run()
            seconds[name].append(clock() - started)
    fp32_s, int8_s = seconds["fp32"][-1], seconds["int8"][-1]
    figures = f"int8 {int8_s:.2f} s, fp32 {fp32_s:.2f} s an image on {threads} thread(s)"
    if int8_s <= MARGIN * fp32_s:
        choice = Precision("int8", f"auto: {figures}, {fp32_s / int8_s:.2f}× faster", fp32_s, int8_s)
    else:
        choice = Precision("fp32", f"auto: {figures}: int8 is not faster here", fp32_s, int8_s)
    log.info("precision: %s (%s)", choice.build, choice.reason)
    return choice
