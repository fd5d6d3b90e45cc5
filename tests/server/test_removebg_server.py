"""remove.bg's v1.0 API on a real `bentoml serve` with the mock model: every parameter,
every error in remove.bg's envelope, the three body encodings, base64, image_url against
a local allow-listed server, JSON answers, headers, /v1.0/account, the rate limit, and two
existing open-source remove.bg client libraries, unmodified except their base URL.

Three servers: one open (no API_KEY: any key is accepted), one with API_KEY set, and one
with API_KEY and a rate limit (its buckets are per checked key; without API_KEY they would
be per client address, and every test here shares 127.0.0.1). All keep BentoML's home to
themselves (the mock needs no model store), so they share no task database.
"""

from __future__ import annotations

import base64
import io
import threading
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Server, alpha_of, mock_server_ok

pytestmark = pytest.mark.server

RATE = 40  # images of 1 MP per minute, per key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "ALLOW_IMAGE_URL": "true",
        "IMAGE_URL_ALLOW_HOSTS": "localhost",
        "MAX_UPLOAD_MB": "2",
    }
    base = tmp_path_factory.mktemp("removebg")
    with mock_server_ok(base, BENTOML_HOME=str(base / "bentoml"), **env) as running:
        yield running


@pytest.fixture(scope="module")
def images(disc_png: bytes) -> Iterator[str]:
    """A local HTTP server for image_url: the disc, a text page, a redirect to loopback."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/disc.png":
                self._answer(200, "image/png", disc_png)
            elif self.path == "/bg.png":
                buffer = io.BytesIO()
                Image.new("RGB", (40, 30), (0, 200, 0)).save(buffer, format="PNG")
                self._answer(200, "image/png", buffer.getvalue())
            elif self.path == "/page":
                self._answer(200, "text/html", b"<html>not an image</html>")
            elif self.path == "/to-loopback":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/disc.png")
                self.end_headers()
            else:
                self._answer(404, "text/plain", b"no")

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_port}"
    httpd.shutdown()


def key() -> dict[str, str]:
    return {"X-Api-Key": uuid.uuid4().hex}  # any key: the open server checks none


def post(server: Server, headers: dict[str, str] | None = None, **kwargs):
    with server.client() as client:
        return client.post("/v1.0/removebg", headers={**key(), **(headers or {})}, **kwargs)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["code"] == code, errors
    assert errors[0]["title"] and errors[0]["detail"]
    return errors[0]


def test_multipart_upload_with_remove_bg_headers(server: Server, disc_png: bytes) -> None:
    response = post(server, files={"image_file": ("d.png", disc_png, "image/png")}, data={"size": "full"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"  # auto: transparent → png
    alpha = alpha_of(response.content)
    assert alpha.shape == (240, 320) and alpha[120, 160] == 255 and alpha[5, 5] == 0
    h = response.headers
    assert (h["x-width"], h["x-height"], h["x-type"], h["x-credits-charged"]) == ("320", "240", "other", "0")
    top, left, width, height = (int(h[f"x-foreground-{side}"]) for side in ("top", "left", "width", "height"))
    assert abs(top - 50) <= 2 and abs(left - 90) <= 2 and abs(width - 140) <= 3 and abs(height - 140) <= 3
    assert h["x-wizpix-quality"] == "pro" and h["x-wizpix-model"] == "mock"  # REMOVEBG_DEFAULT_QUALITY
    assert "x-ratelimit-limit" not in h  # off by default


def test_urlencoded_b64_and_json_bodies(server: Server, disc_png: bytes) -> None:
    encoded = base64.b64encode(disc_png).decode()
    form = post(server, data={"image_file_b64": encoded, "size": "full", "format": "png"})
    json = post(server, json={"image_file_b64": encoded, "size": "full", "format": "png", "crop": False})
    assert form.status_code == json.status_code == 200, (form.text, json.text)
    assert (alpha_of(form.content) == alpha_of(json.content)).all()
    data_url = post(server, json={"image_file_b64": "data:image/png;base64," + encoded, "size": "full"})
    assert data_url.status_code == 200


def test_accept_json_answers_with_result_b64_and_foreground(server: Server, disc_png: bytes) -> None:
    response = post(
        server,
        headers={"Accept": "application/json"},
        files={"image_file": ("d.png", disc_png, "image/png")},
        data={"size": "full", "crop": "true"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    assert set(data) == {
        "result_b64",
        "foreground_top",
        "foreground_left",
        "foreground_width",
        "foreground_height",
        "uncertainty",  # ours beside remove.bg's fields (X-WizPix-Uncertainty)
    }
    assert 0 <= data["uncertainty"] <= 1
    alpha = alpha_of(base64.b64decode(data["result_b64"]))
    assert alpha.shape == (data["foreground_height"], data["foreground_width"])  # cropped to it
    assert data["foreground_top"] == data["foreground_left"] == 0


def test_size_preview_caps_at_a_quarter_megapixel(server: Server) -> None:
    big = np.full((1000, 1200, 3), 255, np.uint8)
    big[300:700, 400:800] = (30, 30, 200)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="JPEG", quality=80)
    preview = post(server, files={"image_file": ("b.jpg", buffer.getvalue(), "image/jpeg")})  # default size
    width, height = int(preview.headers["x-width"]), int(preview.headers["x-height"])
    assert width * height <= 250_000 and abs(width / height - 1.2) < 0.01
    full = post(server, files={"image_file": ("b.jpg", buffer.getvalue(), "image/jpeg")}, data={"size": "hd"})
    assert (full.headers["x-width"], full.headers["x-height"]) == ("1200", "1000")


@pytest.mark.parametrize(
    ("fields", "media_type", "mode"),
    [
        ({"format": "jpg"}, "image/jpeg", "RGB"),
        ({"format": "webp"}, "image/webp", "RGBA"),
        ({"format": "auto", "bg_color": "green"}, "image/jpeg", "RGB"),
        ({"format": "png", "channels": "alpha"}, "image/png", "L"),
        ({"format": "png", "bg_color": "0f08"}, "image/png", "RGBA"),
    ],
)
def test_formats_channels_and_bg_color(
    server: Server, disc_png: bytes, fields: dict[str, str], media_type: str, mode: str
) -> None:
    response = post(
        server, files={"image_file": ("d.png", disc_png, "image/png")}, data={"size": "full", **fields}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(response.content)).mode == mode


def test_zip_holds_color_and_alpha(server: Server, disc_png: bytes) -> None:
    response = post(
        server, files={"image_file": ("d.png", disc_png, "image/png")}, data={"format": "zip", "size": "full"}
    )
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        alpha = decoded(archive.read("alpha.png"))
    assert alpha.shape == (240, 320) and alpha[120, 160] == 255 and alpha[5, 5] == 0


def test_roi_crop_margin_scale_position(server: Server, disc_png: bytes) -> None:
    upload = {"image_file": ("d.png", disc_png, "image/png")}
    left_half = post(server, files=upload, data={"size": "full", "roi": "0% 0% 50% 100%"})
    alpha = alpha_of(left_half.content)
    assert alpha[120, 120] == 255 and alpha[120, 200] == 0  # the right of x=160 is outside
    cropped = post(server, files=upload, data={"size": "full", "crop": "true", "crop_margin": "10px 20px"})
    width, height = int(cropped.headers["x-width"]), int(cropped.headers["x-height"])
    assert abs(width - 180) <= 3 and abs(height - 160) <= 3
    assert abs(int(cropped.headers["x-foreground-left"]) - 20) <= 2
    scaled = post(server, files=upload, data={"size": "full", "scale": "50%", "position": "0% 0%"})
    h = scaled.headers
    assert (h["x-width"], h["x-height"]) == ("320", "240")  # same canvas, smaller subject at its corner
    assert int(h["x-foreground-top"]) <= 1 and int(h["x-foreground-left"]) <= 1
    assert abs(int(h["x-foreground-height"]) - 120) <= 3


def test_bg_image_file_and_url(server: Server, disc_png: bytes, images: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 255)).save(buffer, format="PNG")
    upload = {
        "image_file": ("d.png", disc_png, "image/png"),
        "bg_image_file": ("bg.png", buffer.getvalue(), "image/png"),
    }
    response = post(server, files=upload, data={"size": "full", "format": "png"})
    pixels = decoded(response.content)
    assert (
        pixels.shape == (240, 320, 3)
        and tuple(pixels[5, 5]) == (0, 0, 255)
        and tuple(pixels[120, 160]) == (200, 30, 30)
    )
    by_url = post(
        server,
        files={"image_file": ("d.png", disc_png, "image/png")},
        data={"size": "full", "format": "png", "bg_image_url": f"{images}/bg.png"},
    )
    assert by_url.status_code == 200, by_url.text
    assert tuple(decoded(by_url.content)[5, 5]) == (0, 200, 0)


def test_image_url_from_an_allow_listed_host(server: Server, images: str) -> None:
    response = post(server, data={"image_url": f"{images}/disc.png", "size": "full"})
    assert response.status_code == 200, response.text
    assert alpha_of(response.content)[120, 160] == 255


@pytest.mark.parametrize(
    ("path_or_url", "code"),
    [
        ("http://127.0.0.1:9/x.png", "url_forbidden"),  # loopback, not listed
        ("http://10.1.2.3/x.png", "url_forbidden"),
        ("http://169.254.169.254/latest/meta-data", "url_forbidden"),
        ("file:///etc/passwd", "url_invalid"),
        ("/to-loopback", "url_forbidden"),  # a redirect into a refused range
        ("/page", "url_not_an_image"),
    ],
)
def test_image_url_refusals(server: Server, images: str, path_or_url: str, code: str) -> None:
    url = images + path_or_url if path_or_url.startswith("/") else path_or_url
    assert_envelope(post(server, data={"image_url": url}), 400, code)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"data": {"size": "full"}}, "missing_source"),
        ({"data": {"image_file_b64": "%%%"}}, "invalid_base64"),
        ({"data": {"image_file_b64": "aGVsbG8=", "image_url": "http://x/y"}}, "multiple_sources"),
        ({"data": {"image_file_b64": "aGVsbG8=", "size": "huge"}}, "invalid_parameter"),
        ({"data": {"image_file_b64": "aGVsbG8="}}, "not_an_image"),
        ({"content": b"raw", "headers": {"Content-Type": "image/png"}}, "unsupported_content_type"),
        ({"content": b"{", "headers": {"Content-Type": "application/json"}}, "invalid_json"),
        ({"files": {"image_file": ("a.bin", b"x" * (3 * 2**20))}}, "upload_too_large"),  # MAX_UPLOAD_MB=2
    ],
)
def test_bad_input_is_400_in_the_envelope(server: Server, kwargs: dict, code: str) -> None:
    headers = kwargs.pop("headers", None)
    assert_envelope(post(server, headers=headers, **kwargs), 400, code)


def test_deadline_errors_use_the_envelope(server: Server, disc_png: bytes) -> None:
    response = post(
        server, headers={"X-WizPix-Deadline-Ms": "1"}, files={"image_file": ("d.png", disc_png, "image/png")}
    )
    assert response.status_code in (408, 504) and response.json()["errors"][0]["code"] in (
        "upload_timeout",
        "deadline_exceeded",
    )


def test_native_route_keeps_its_own_schema_and_gains_jpg_and_zip(server: Server, disc_png: bytes) -> None:
    with server.client() as client:
        bad = client.post("/remove-bg?format=tiff", files={"file": ("d.png", disc_png, "image/png")})
        jpg = client.post("/remove-bg?format=jpg", files={"file": ("d.png", disc_png, "image/png")})
        zipped = client.post(
            "/remove-bg?format=zip&bg_color=00f", files={"file": ("d.png", disc_png, "image/png")}
        )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert jpg.headers["content-type"] == "image/jpeg"
    pixels = decoded(jpg.content)
    assert (pixels[5, 5] >= 250).all()  # over white by default
    assert zipped.headers["content-type"] == "application/zip"


def test_account_has_remove_bg_s_shape(server: Server) -> None:
    with server.client() as client:
        response = client.get("/v1.0/account", headers=key())
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert attributes["credits"] == {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0}
    assert attributes["api"] == {"free_calls": 1_000_000, "sizes": "all"}  # no rate limit: unlimited


def test_python_client_removebg_unmodified(
    server: Server, disc_png: bytes, tmp_path: Path, images: str
) -> None:
    """brilam's `removebg` (PyPI `removebg`): its one constant is the endpoint URL."""
    from removebg import removebg as module

    module.API_ENDPOINT = f"{server.url}/v1.0/removebg"
    source = tmp_path / "disc.png"
    source.write_bytes(disc_png)
    client = module.RemoveBg(uuid.uuid4().hex, str(tmp_path / "errors.log"))
    client.remove_background_from_img_file(str(source), size="regular")
    alpha = alpha_of((tmp_path / "disc.png_no_bg.png").read_bytes())
    assert alpha[120, 160] == 255 and alpha[5, 5] == 0
    client.remove_background_from_base64_img(
        base64.b64encode(disc_png).decode(), new_file_name=str(tmp_path / "b.png")
    )
    assert alpha_of((tmp_path / "b.png").read_bytes())[120, 160] == 255
    client.remove_background_from_img_url(
        f"{images}/disc.png", new_file_name=str(tmp_path / "u.png"), bg_color="fff"
    )
    assert decoded((tmp_path / "u.png").read_bytes()).shape == (240, 320, 3)  # over white: jpg
    module.API_ENDPOINT = "https://api.remove.bg/v1.0/removebg"


def test_python_client_remove_bg_api_unmodified(server: Server, disc_png: bytes) -> None:
    """OPHoperHPO's `remove-bg-api`: its documented switch is the module's API_URL."""
    import remove_bg_api

    remove_bg_api.API_URL = f"{server.url}/v1.0"
    client = remove_bg_api.RemoveBg(uuid.uuid4().hex)  # reads /v1.0/account at once
    assert client.account.balance() == 0 and client.account.free_api_calls() == 1_000_000
    result = client.remove_bg_bytes(disc_png, size="full")  # format=auto, type=auto
    assert alpha_of(result)[120, 160] == 255
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(b"not an image")
    remove_bg_api.API_URL = "https://api.remove.bg/v1.0"


def test_api_key_is_checked_when_set(tmp_path: Path, disc_png: bytes) -> None:
    home = str(tmp_path / "bentoml")  # the mock needs no store: a home of its own
    with mock_server_ok(tmp_path, API_KEY="s3cret", BENTOML_HOME=home) as keyed, keyed.client() as client:
        upload = {"image_file": ("d.png", disc_png, "image/png")}
        for headers in ({}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            assert_envelope(client.post("/v1.0/removebg", headers=headers, files=upload), 403, "auth_failed")
            assert_envelope(client.get("/v1.0/account", headers=headers), 403, "auth_failed")
        assert client.post("/v1.0/removebg", headers={"X-Api-Key": "s3cret"}, files=upload).status_code == 200
        assert (
            client.post(
                "/v1.0/removebg", headers={"Authorization": "Bearer s3cret"}, files=upload
            ).status_code
            == 200
        )
        native = client.post("/remove-bg", files={"file": ("d.png", disc_png, "image/png")})
        assert native.status_code == 401 and native.json()["error"]["code"] == "unauthorized"
        disabled = client.post(
            "/v1.0/removebg", headers={"X-Api-Key": "s3cret"}, data={"image_url": "http://x/y.png"}
        )
        error = assert_envelope(disabled, 400, "image_url_disabled")
        assert "ALLOW_IMAGE_URL=true" in error["detail"]


def test_rate_limit_per_key_is_429_with_headers_in_the_envelope(tmp_path: Path) -> None:
    home, mine = str(tmp_path / "bentoml"), {"X-Api-Key": "s3cret"}
    big = io.BytesIO()
    Image.fromarray(np.full((2000, 2500, 3), 200, np.uint8)).save(big, format="JPEG", quality=50)  # 5 MP
    env = {"API_KEY": "s3cret", "RATE_LIMIT_MP_PER_MINUTE": str(RATE), "BENTOML_HOME": home}
    with mock_server_ok(tmp_path, **env) as limited, limited.client() as client:
        before = client.get("/v1.0/account", headers=mine).json()["data"]["attributes"]["api"]["free_calls"]
        served, first = 0, None
        for _ in range(RATE // 5 + 2):
            # size=preview: the result is 0.25 MP, but remove.bg weighs the 5 MP input
            response = client.post(
                "/v1.0/removebg",
                headers=mine,
                files={"image_file": ("b.jpg", big.getvalue())},
                data={"size": "preview"},
            )
            if response.status_code == 429:
                break
            assert response.status_code == 200, response.text
            first = first or response.headers
            served += 1
        account = client.get("/v1.0/account", headers=mine).json()
    assert before == RATE and served == RATE // 5  # each 5 MP input counts 5
    assert first["x-ratelimit-limit"] == str(RATE) and int(first["x-ratelimit-remaining"]) == RATE - 5
    assert int(first["x-ratelimit-reset"]) > 1_700_000_000
    error = assert_envelope(response, 429, "rate_limit_exceeded")
    assert "per minute" in error["detail"]
    h = response.headers
    assert (
        int(h["retry-after"]) >= 1
        and h["x-ratelimit-limit"] == str(RATE)
        and h["x-ratelimit-remaining"] == "0"
    )
    assert account["data"]["attributes"]["api"]["free_calls"] == 0
