"""The GPU image (`make image DEVICE=cuda`) on a machine without a GPU: it starts, and with
DEVICE=cuda says it is degraded and what is missing, rather than serving from the CPU unsaid.

Not in `make test` (a 3.5 GB image and 2.4 GB of CUDA wheels to fetch): `make test-cuda-image`
builds it and runs this module, with WIZPIX_CUDA_IMAGE naming it."""

from __future__ import annotations

import json
import os
import time

import pytest

from deploy.podman import image_exists
from tests.image.conftest import container, inside, logs

pytestmark = [pytest.mark.image, pytest.mark.weights]


@pytest.fixture(scope="module")
def cuda_image() -> str:
    name = os.environ.get("WIZPIX_CUDA_IMAGE")
    if not name:
        pytest.skip("no GPU image named: `make test-cuda-image` builds one and sets WIZPIX_CUDA_IMAGE")
    if not image_exists(name):
        pytest.fail(f"{name} is not built: make image DEVICE=cuda IMAGE={name}")
    return name


def test_without_a_gpu_cuda_is_degraded_naming_the_missing_driver(cuda_image: str) -> None:
    with container("wizpix-test-cuda", cuda_image, "--network", "none", "--env", "DEVICE=cuda") as name:
        deadline = time.monotonic() + 180
        health: dict = {}
        while time.monotonic() < deadline:
            answer = inside(name, "curl", "-s", "localhost:3000/health").stdout
            health = json.loads(answer) if answer.startswith("{") else {}
            if health and all(m["state"] == "failed" for m in health["models"].values()):
                break
            time.sleep(1)
        assert health.get("status") == "degraded", (health, logs(name))
        for model in health["models"].values():
            # the CUDA and cuDNN wheels are in the image: what is missing is the driver
            assert model["error"].startswith("DEVICE=cuda, but"), model
            assert "libcuda.so.1" in model["error"], model
        answer = inside(name, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "localhost:3000/readyz")
        assert answer.stdout == "503"  # never ready: no model can serve
