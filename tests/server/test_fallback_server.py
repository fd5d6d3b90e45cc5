"""Fallback on a real server: the pro model's weights are missing (BiRefNet is not fetched).

The canonical BiRefNet source is unreachable from the machines this is tested on and no
registry carries it, so `PRO_MODEL_NAME=birefnet-portrait` is a real missing model here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server, alpha_of, bentoml_serve
from tests.server.test_http_mock import run_probe

pytestmark = [pytest.mark.server, pytest.mark.weights]


def _settled(body: dict) -> bool:
    return body["models"]["pro"]["state"] == "missing" and body["models"]["fast"]["state"] == "ready"


@pytest.fixture(scope="module")
def degraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with bentoml_serve(tmp_path_factory.mktemp("degraded"), PRO_MODEL_NAME="birefnet-portrait") as server:
        server.wait_for(_settled, timeout=120, what="pro missing, fast ready")
        yield server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"PRO_MODEL_NAME": "birefnet-portrait", "AUTO_FALLBACK_FAST": "false"}
    with bentoml_serve(tmp_path_factory.mktemp("strict"), **env) as server:
        server.wait_for(_settled, timeout=120, what="pro missing, fast ready")
        yield server


def test_missing_pro_model_makes_health_degraded_and_says_how_to_fix_it(degraded: Server) -> None:
    body = degraded.health()
    assert body["status"] == "degraded"
    pro = body["models"]["pro"]
    assert pro["name"] == "birefnet-portrait" and "fetch_models.py --model birefnet-portrait" in pro["error"]
    assert run_probe(f"{degraded.url}/health").returncode == 1


def test_pro_request_is_served_by_fast_and_says_why(degraded: Server, astronaut: bytes) -> None:
    with degraded.client() as client:
        response = client.post("/remove-bg?quality=pro", files={"file": ("a.jpg", astronaut)})
    assert response.status_code == 200, response.text
    assert response.headers["x-wizpix-quality"] == "fast" and response.headers["x-wizpix-model"] == "u2netp"
    assert response.headers["x-wizpix-fallback"] == "pro model weights are missing"
    assert alpha_of(response.content).shape == (512, 512)


def test_without_auto_fallback_pro_is_a_503_with_a_json_reason(strict: Server, astronaut: bytes) -> None:
    with strict.client() as client:
        pro = client.post("/remove-bg?quality=pro", files={"file": ("a.jpg", astronaut)})
        fast = client.post("/remove-bg?quality=fast", files={"file": ("a.jpg", astronaut)})
    assert pro.status_code == 503 and pro.headers["retry-after"]
    error = pro.json()["error"]
    assert error["code"] == "pro_unavailable" and "missing" in error["message"]
    assert "AUTO_FALLBACK_FAST=false" in error["message"]
    assert fast.status_code == 200 and fast.headers["x-wizpix-quality"] == "fast"
    assert strict.health()["fallback"]["auto_fallback_fast"] is False
