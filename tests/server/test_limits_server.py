"""Upload size, image size and the API key on a real `bentoml serve`."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.conftest import Server, mock_server_ok


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"API_KEY": "s3cret", "MAX_UPLOAD_MB": "1", "MAX_IMAGE_PIXELS": "1000000"}
    with mock_server_ok(tmp_path_factory.mktemp("guarded"), **env) as server:
        yield server


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.server
def test_limits_and_key_on_a_real_server(guarded: Server, disc_png: bytes) -> None:
    key = {"X-API-Key": "s3cret"}
    with guarded.client() as client:
        assert client.post("/remove-bg", files={"file": ("d.png", disc_png)}).status_code == 401
        assert client.post("/remove-bg", files={"file": ("d.png", disc_png)}, headers=key).status_code == 200
        big = client.post("/remove-bg", files={"file": ("big", b"\0" * (2 * 2**20))}, headers=key)
        huge = client.post("/remove-bg", files={"file": ("h.png", _png((2000, 1000)))}, headers=key)
        health = client.get("/health")
    assert big.status_code == 413 and big.json()["error"]["code"] == "upload_too_large"
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "image_too_large"
    assert health.status_code == 200 and "s3cret" not in health.text
