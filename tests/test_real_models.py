"""Real u2netp and ISNet weights behind a real `bentoml serve`, on a real photograph.

The astronaut photograph (scikit-image) has a person in the left two-thirds and a plain
backdrop at the top right; the regions below were read off the image once.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, alpha_of, bentoml_serve
from wizpix.catalog import load_catalog

pytestmark = [pytest.mark.server, pytest.mark.weights]

FACE = (slice(100, 170), slice(190, 260))  # rows, cols: the face
SUIT = (slice(300, 420), slice(120, 300))  # the orange suit
BACKDROP = (slice(0, 80), slice(400, 512))  # plain background, top right


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default models, warmup blocking: /readyz must say no until both are warm."""
    with bentoml_serve(tmp_path_factory.mktemp("real"), WARMUP_BLOCKING="true") as running:
        running.readiness_while_warming = []  # type: ignore[attr-defined]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            # readiness first: warming up only ever ends, so a 200 here must be followed by ok
            ready = httpx.get(f"{running.url}/readyz", timeout=30).status_code
            body = running.health()
            running.readiness_while_warming.append((body["status"], ready))  # type: ignore[attr-defined]
            if body["status"] == "ok":
                break
            time.sleep(0.3)
        yield running


def test_health_reaches_ok_with_both_real_models_ready(server: Server) -> None:
    body = server.health()
    assert body["status"] == "ok", body
    assert body["device"] == "CPUExecutionProvider"
    catalog = load_catalog()
    for role, name in (("fast", "u2netp"), ("pro", "isnet-general-use")):
        model = body["models"][role]
        assert model["name"] == name and model["state"] == "ready" and model["warmup"] == "done"
        assert model["sha256"] in {s.sha256 for s in catalog.require(name).sources if s.sha256}
        assert model["source"].startswith("bentoml store ") and "/" not in model["source"].split(" (")[0]


def test_blocking_warmup_keeps_readyz_unready_until_warm(server: Server) -> None:
    seen = server.readiness_while_warming  # type: ignore[attr-defined]
    assert seen[-1] == ("ok", 200), seen
    assert any(status == "warming_up" and code == 503 for status, code in seen), seen
    assert all(status == "ok" for status, code in seen if code == 200), seen


@pytest.mark.parametrize(("quality", "model"), [("pro", "isnet-general-use"), ("fast", "u2netp")])
def test_real_photograph_subject_opaque_background_transparent(
    server: Server, astronaut: bytes, quality: str, model: str
) -> None:
    with server.client() as client:
        response = client.post(f"/remove-bg?quality={quality}", files={"file": ("astronaut.jpg", astronaut)})
    assert response.status_code == 200, response.text
    assert response.headers["x-wizpix-quality"] == quality and response.headers["x-wizpix-model"] == model
    alpha = alpha_of(response.content).astype(float)
    assert alpha.shape == (512, 512)
    assert alpha[FACE].mean() > 240 and alpha[SUIT].mean() > 240
    assert alpha[BACKDROP].mean() < 10
    colours = np.asarray(Image.open(io.BytesIO(response.content)))[..., :3]
    original = np.asarray(Image.open(io.BytesIO(astronaut)).convert("RGB"))
    visible = alpha > 0
    assert (colours[visible] == original[visible]).all()  # the photograph's own colours
    assert (colours[~visible] == 0).all()  # and nothing of the discarded background


def test_fast_alpha_matches_rembg_remove_on_the_same_model(
    server: Server, astronaut: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rembg import new_session, remove

    monkeypatch.setenv("U2NET_HOME", str(ROOT / "models"))  # the verified u2netp.onnx fetched there
    reference = alpha_of(remove(astronaut, session=new_session("u2netp"))).astype(int)
    with server.client() as client:
        ours = alpha_of(client.post("/remove-bg?quality=fast", files={"file": ("a.jpg", astronaut)}).content)
    assert np.abs(reference - ours.astype(int)).mean() <= 1.0
