"""Where a model runs: ``DEVICE=auto|cpu|cuda``, and never a GPU that fails silently.

ONNX Runtime hides a missing GPU well: the CPU build, asked for CUDA, makes a CPU session
with a Python warning; the GPU build without its CUDA libraries lists CUDA as available,
makes a CPU session all the same and says why only on stderr, from C++. So:

- ``cpu``: the CPU, whatever is installed.
- ``cuda``: strict. The CUDA provider must be in the build, its library must load (the
  error names the missing one: ``libcuda.so.1``, the driver, on a machine without a GPU),
  and the session made must run on it; else the model is ``failed`` with that message and
  the service ``degraded``.
- ``auto``: CUDA when all of that holds, else the CPU, with the reason in the log.
"""

from __future__ import annotations

import ctypes
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


class DeviceUnavailable(RuntimeError):
    """DEVICE=cuda asked for what this machine cannot give; the message says what is missing."""


def cuda_problem() -> str | None:
    """Why ONNX Runtime cannot run on CUDA here, or None when it can load its provider."""
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        return (
            "the CPU build of onnxruntime is installed; put onnxruntime-gpu in its place "
            "(make install-gpu, docs/operations.md)"
        )
    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        # CUDA and cuDNN from their PyPI wheels (requirements-gpu.txt): ONNX Runtime finds them
        # only when loaded first. Without it, the GPU image reported its own libcublasLt
        # missing, where what a machine without a GPU lacks is the driver (libcuda.so.1).
        preload(cuda=True, cudnn=True, msvc=False)
    try:
        ctypes.CDLL(str(library))
    except OSError as error:  # names the first library missing, e.g. libcublasLt.so.13
        reason = re.sub(r"(?:/[\w.@+-]+)+/", "", str(error))
        return f"the CUDA provider of onnxruntime cannot load: {reason}"
    return None


def providers(device: str) -> list[str]:
    """The providers to ask for under ``DEVICE``, CPU last as ONNX Runtime's own fallback."""
    if device == "cpu":
        return [CPU]
    problem = cuda_problem()
    if problem is None:
        return [CUDA, CPU]
    if device == "cuda":
        raise DeviceUnavailable(f"DEVICE=cuda, but {problem}")
    log.info("DEVICE=auto: running on the CPU (%s)", problem)
    return [CPU]


def check_session(session: Any, device: str) -> str:
    """The provider a made session runs on; under ``cuda``, refused unless it is CUDA (a
    driver too old or no GPU at all still makes a CPU session without an error)."""
    running = session.get_providers()[0]
    if device == "cuda" and running != CUDA:
        raise DeviceUnavailable(f"DEVICE=cuda, but ONNX Runtime made a {running} session (no usable GPU?)")
    return running
