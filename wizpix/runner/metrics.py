"""The runner's own Prometheus series, measured where inference happens.

BentoML runs every service in multiprocess mode, so these show on the front's ``/metrics``
beside the front's own series (``wizpix.front.observability``).
"""

from __future__ import annotations

from prometheus_client import Histogram

SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)

INFERENCE_SECONDS = Histogram(
    name="wizpix_inference_seconds",
    documentation="Model inference time per batch, in the runner, by model",
    labelnames=["model"],
    buckets=SECONDS_BUCKETS,
)
BATCH_SIZE = Histogram(
    name="wizpix_batch_size",
    documentation="Images per batch the runner's adaptive batching formed, by model",
    labelnames=["model"],
    buckets=(1, 2, 3, 4, 6, 8, 16, 32, 64),
)
