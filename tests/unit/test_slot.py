"""A runner's model slot: states, warmup, lazy load, checked batches."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wizpix.core.catalog import load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import build_roles
from wizpix.core.settings import Settings
from wizpix.runner.kinds import MockMaskModel
from wizpix.runner.slot import ModelSlot, ModelUnavailable
from wizpix.weights.store import Weights, WeightsMissing

MOCK = load_catalog().require("mock")
MOCK_ROLE = build_roles(Settings(fast_model_name="mock", pro_model_name="mock"), load_catalog())[RoleName.PRO]
WEIGHTS = Weights(Path("/secret/dir/model.onnx"), "ab" * 32, "test source")


def slot(resolve=lambda: WEIGHTS, build=lambda w: MockMaskModel(MOCK_ROLE), **kw) -> ModelSlot:
    options = {"warmup_on_startup": False, "warmup_blocking": False, **kw}
    return ModelSlot(RoleName.PRO, "test", resolve, build, **options)


def batch(n: int = 2) -> np.ndarray:
    return np.zeros((n, MOCK.preprocess.size, MOCK.preprocess.size, 3), np.uint8)


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_without_warmup_the_model_is_idle_then_loads_on_first_use() -> None:
    s = slot()
    s.start()
    assert s.state == "idle" and s.warmup == "disabled"
    assert s.predict(batch(3)).shape == (3, 320, 320)
    assert s.state == "ready" and s.status().input_size == 320


def test_missing_weights_are_reported_not_raised_at_start() -> None:
    def missing() -> Weights:
        raise WeightsMissing("weights for test are not in /secret/dir/ or the store")

    s = slot(resolve=missing)
    s.start()
    status = s.status()
    assert status.state == "missing" and "/secret/dir/" not in status.error
    with pytest.raises(ModelUnavailable, match="missing"):
        s.predict(batch())


def test_a_model_that_fails_to_build_is_failed_with_the_reason() -> None:
    def broken(_: Weights) -> MockMaskModel:
        raise RuntimeError("protobuf parsing failed")

    s = slot(build=broken)
    s.load()
    assert s.state == "failed" and "protobuf parsing failed" in str(s.error)


def test_warmup_runs_in_the_background_and_blocks_readiness_only_when_asked() -> None:
    gate = threading.Event()

    def slow_build(_: Weights) -> MockMaskModel:
        gate.wait(10)
        return MockMaskModel(MOCK_ROLE)

    blocking = slot(build=slow_build, warmup_on_startup=True, warmup_blocking=True)
    relaxed = slot(build=slow_build, warmup_on_startup=True, warmup_blocking=False)
    blocking.start()
    relaxed.start()
    wait_until(lambda: blocking.state == "loading" and relaxed.state == "loading")
    assert not blocking.ready_for_traffic and relaxed.ready_for_traffic
    gate.set()
    wait_until(lambda: blocking.warmup == "done" and relaxed.warmup == "done")
    assert blocking.ready_for_traffic and blocking.state == "ready"
    assert "warmup_inference_s" in blocking.status().timings


def test_a_model_returning_the_wrong_batch_length_is_caught() -> None:
    class Lossy(MockMaskModel):
        def predict(self, images: np.ndarray) -> np.ndarray:
            return super().predict(images)[:1]

    s = slot(build=lambda w: Lossy(MOCK_ROLE))
    with pytest.raises(RuntimeError, match="1 masks for 2 images"):
        s.predict(batch(2))


def test_batches_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="expected a uint8 batch"):
        slot().predict(np.zeros((1, 100, 100, 3), np.uint8))
