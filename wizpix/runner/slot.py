"""A runner's model slot: load once, warm up, report state, predict checked batches.

Loading happens off the request path (a warmup thread) so the service answers /health
while a 90 MB network loads; a request that needs the model before then waits on the
same lock instead of loading it twice.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

import numpy as np

from wizpix.core.contract import RunnerStatus, check_masks
from wizpix.core.enums import ModelState, RoleName, WarmupState
from wizpix.core.memory import release_free_memory
from wizpix.runner.kinds import MaskModel
from wizpix.runner.metrics import BATCH_SIZE, INFERENCE_SECONDS
from wizpix.runner.tensors import warmup_probe
from wizpix.weights.store import Weights, WeightsMissing

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """The slot's model cannot run (missing, failed); the message says why."""


def _without_paths(message: str) -> str:
    """Drop directories from error text: /health must not reveal the file system."""
    return re.sub(r"(?:/[\w.@+-]+)+/", "", message)


class ModelSlot:
    def __init__(
        self,
        role: RoleName,
        name: str,
        resolve: Callable[[], Weights | None],
        build: Callable[[Weights | None], MaskModel],
        *,
        warmup_on_startup: bool,
        warmup_blocking: bool,
        trim_after_batch: bool = False,
    ) -> None:
        self.role, self.name = role, name
        self._resolve, self._build = resolve, build
        self._warmup_on_startup, self._warmup_blocking = warmup_on_startup, warmup_blocking
        # Without ONNX Runtime's arena each inference frees ~1.5 GB of activations (ISNet):
        # hand it back. With the arena it is kept on purpose, and trimming only adds faults.
        self._trim_after_batch = trim_after_batch
        self._lock = threading.Lock()
        self.state = ModelState.IDLE
        self.warmup = WarmupState.PENDING if warmup_on_startup else WarmupState.DISABLED
        self.error: str | None = None
        self.weights: Weights | None = None
        self.model: MaskModel | None = None
        self.served = self.batches = 0  # requests' images and the batches they came in
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        """Begin warmup in the background, or just check the weights are there."""
        if self._warmup_on_startup:
            threading.Thread(target=self._warm, name=f"warmup-{self.role}", daemon=True).start()
        else:
            self._check_weights()

    def _check_weights(self) -> None:
        try:
            self.weights = self._resolve()
        except Exception as error:  # noqa: BLE001 - reported through /health
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.state = ModelState.MISSING if isinstance(error, WeightsMissing) else ModelState.FAILED
        self.error = _without_paths(str(error))
        log.error("%s model %s is %s: %s", self.role, self.name, self.state, self.error)

    def load(self, warm: bool = False) -> None:
        """Load the model (and, when warm, run one inference) unless already done.

        Safe from many threads: a request arriving mid-warmup waits on the same lock.
        The state turns ready only once the model is usable, warmup included.
        """
        with self._lock:
            if self.state is ModelState.READY or self.state.broken:
                return
            self.state = ModelState.LOADING
            started = time.perf_counter()
            try:
                if self.weights is None:
                    self.weights = self._resolve()  # the weights' checksum is verified here
                    self.timings["resolve_s"] = round(time.perf_counter() - started, 3)
                started = time.perf_counter()
                model = self._build(self.weights)
                self.timings["load_s"] = round(time.perf_counter() - started, 3)
                if warm and not model.warmed:
                    started = time.perf_counter()
                    # ONNX Runtime's first run of a session is its slowest (kernels chosen,
                    # buffers grown): made here, not by the first request. No memory pattern is
                    # planned (see kinds.py), so one run is all it takes.
                    self._checked(model, warmup_probe(model.input_size))
                    self.timings["warmup_inference_s"] = round(time.perf_counter() - started, 3)
            except Exception as error:  # noqa: BLE001 - the service runs degraded, never crashes
                self._fail(error)
                return
            self.model = model
            # start-up's garbage back to the system once (auto's two timing sessions, the
            # first run's buffers): with the arena on, no batch ever trims it
            release_free_memory()
            self.state = ModelState.READY
            log.info(
                "%s model %s ready, %s build (%s; %s) from %s",
                self.role,
                self.name,
                model.precision.build,
                model.precision.reason,
                self.timings,
                self.weights.source if self.weights else "no weights",
            )

    def _warm(self) -> None:
        self.warmup = WarmupState.RUNNING
        self.load(warm=True)
        self.warmup = WarmupState.DONE if self.state is ModelState.READY else WarmupState.FAILED

    @property
    def ready_for_traffic(self) -> bool:
        """False only while a blocking warmup is still under way."""
        return not (self._warmup_blocking and self.warmup.under_way)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self.state is not ModelState.READY:
            self.load()
        if self.model is None:
            raise ModelUnavailable(f"{self.role} model {self.name} is {self.state}: {self.error}")
        started = time.perf_counter()
        masks = self._checked(self.model, batch)
        INFERENCE_SECONDS.labels(model=self.name).observe(time.perf_counter() - started)
        BATCH_SIZE.labels(model=self.name).observe(len(batch))
        self.served += len(masks)
        self.batches += 1
        return masks

    def _checked(self, model: MaskModel, batch: np.ndarray) -> np.ndarray:
        try:
            masks = model.predict(batch)
        finally:
            if self._trim_after_batch:
                release_free_memory()
        check_masks(masks, len(batch), model.input_size, self.name)
        return masks

    def status(self) -> RunnerStatus:
        model, weights = self.model, self.weights
        return RunnerStatus(
            role=self.role,
            name=self.name,
            state=self.state,
            error=self.error,
            source=weights.source if weights else None,
            sha256=weights.sha256 if weights else None,
            stored_sha256=weights.stored_sha256 if weights else None,
            input_size=model.input_size if model else None,
            provider=model.provider if model else None,
            build=model.precision.build if model else None,
            build_reason=model.precision.reason if model else None,
            warmup=self.warmup,
            timings=dict(self.timings),
            served=self.served,
            batches=self.batches,
        )
