"""DEVICE on this machine's CPU build of ONNX Runtime: cpu and auto run on the CPU, and
cuda fails loudly, naming what is missing, instead of running on the CPU unnoticed."""

from __future__ import annotations

import logging

import onnxruntime as ort
import pytest

from wizpix.core.contract import RunnerStatus, device_name
from wizpix.runner.device import CPU, CUDA, DeviceUnavailable, check_session, cuda_problem, providers

pytestmark = pytest.mark.skipif(CUDA in ort.get_available_providers(), reason="a GPU build is installed")


def test_cpu_and_auto_run_on_the_cpu_and_auto_says_why(caplog: pytest.LogCaptureFixture) -> None:
    assert providers("cpu") == [CPU]
    with caplog.at_level(logging.INFO, logger="wizpix.runner.device"):
        assert providers("auto") == [CPU]
    assert "CPU build of onnxruntime" in caplog.text


def test_cuda_is_strict_and_says_what_to_install() -> None:
    assert "onnxruntime-gpu" in (cuda_problem() or "")
    with pytest.raises(
        DeviceUnavailable, match=r"DEVICE=cuda, but the CPU build of onnxruntime is installed"
    ):
        providers("cuda")


class FakeSession:
    def __init__(self, provider: str) -> None:
        self.provider = provider

    def get_providers(self) -> list[str]:
        return [self.provider, CPU]


def test_a_session_that_fell_back_to_the_cpu_is_refused_under_cuda() -> None:
    assert check_session(FakeSession(CUDA), "cuda") == CUDA
    assert check_session(FakeSession(CPU), "auto") == CPU
    with pytest.raises(DeviceUnavailable, match="made a CPUExecutionProvider session"):
        check_session(FakeSession(CPU), "cuda")


def test_devices_are_named_for_clients() -> None:
    assert [device_name(p) for p in (CPU, CUDA, "none (mock)")] == ["cpu", "cuda", "none"]
    assert RunnerStatus(role="fast", name="u2netp", state="ready", provider=CUDA).device == "cuda"
