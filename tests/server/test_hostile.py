"""Issue 18's hostile inputs on a real `bentoml serve` (mock models), on every route they
reach: each is a 4xx in its route's envelope, answered at once, and the server stays ok."""

from __future__ import annotations

import io
import time
import zipfile

import httpx
import pytest
from PIL import Image

from tests.conftest import Server

pytestmark = pytest.mark.server

TYPED, BATCH, SUBMIT = "/remove_background", "/remove_backgrounds", "/remove_backgrounds/submit"


def png(size: tuple[int, int], colour: tuple[int, ...] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(colour, (size[0] // 4, 0, max(size[0] // 4 + 1, size[0] // 2), size[1]))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    if "errors" in body:  # remove.bg's envelope on /v1.0/
        return {"code": body["errors"][0]["code"], "message": body["errors"][0]["detail"]}
    return body["error"]


def file_field(path: str) -> str:
    return {"/remove-bg": "file", "/v1.0/removebg": "image_file", TYPED: "image"}.get(path, "images")


def raw_multipart(filename: str) -> dict:
    """Parts written by hand: httpx would escape a carriage return in a file name."""
    body = b""
    for field in ("image", "images"):
        body += (
            f'--B\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n\r\n'.encode()
            + png((8, 8))
            + b"\r\n"
        )
    return {"content": body + b"--B--\r\n", "headers": {"content-type": "multipart/form-data; boundary=B"}}


def submitted_then_got(client: httpx.Client, **request: object) -> httpx.Response:
    """A task's submit: refused at once, or (were it accepted) what its get answers."""
    submit = client.post(SUBMIT, **request)
    if submit.status_code != 200:
        return submit
    task = submit.json()["task_id"]
    deadline = time.monotonic() + 30
    while (
        client.get("/remove_backgrounds/status", params={"task_id": task}).json()["status"] == "in_progress"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return client.get("/remove_backgrounds/get", params={"task_id": task})


@pytest.mark.parametrize("path", [TYPED, BATCH, SUBMIT])
@pytest.mark.parametrize(
    "body",
    [
        {
            "data": {"image": "http://127.0.0.1:1/x.png", "images": "http://127.0.0.1:1/x.png"}
        },  # form-urlencoded
        {"json": {"image": "http://127.0.0.1:1/x.png", "images": ["http://127.0.0.1:1/x.png"]}},
        {
            "content": b"this is not multipart",
            "headers": {"content-type": "multipart/form-data; boundary=XyZ"},
        },
        {"content": b"--x\r\n\r\n", "headers": {"content-type": "multipart/form-data"}},
        raw_multipart("a\rb.png"),
        raw_multipart("x" * 300 + ".png"),
        {"data": {f"f{i}": "1" for i in range(1001)}, "files": [("image", ("a.png", b"x"))]},
        {"content": b"x", "headers": {"content-type": "application/vnd.bentoml+pickle"}},
    ],
    ids=[
        "urlencoded-url",
        "json-url",
        "broken",
        "no-boundary",
        "cr-name",
        "long-name",
        "1001-fields",
        "pickle",
    ],
)
def test_bodies_bentoml_cannot_read_are_our_4xx(server: Server, path: str, body: dict) -> None:
    with server.client(timeout=30) as client:
        started = time.monotonic()
        response = submitted_then_got(client, **body) if path == SUBMIT else client.post(path, **body)
    assert 400 <= response.status_code < 500 and time.monotonic() - started < 20, response.text
    assert error_of(response)["code"] in (
        "unsupported_media_type",
        "invalid_multipart",
        "invalid_file_name",
        "file_expected",
        "invalid_request",
    ), response.text


@pytest.mark.parametrize("path", ["/remove-bg", "/v1.0/removebg", TYPED])
@pytest.mark.parametrize(("size", "fmt"), [((17000, 40), "webp"), ((70000, 1), "jpg"), ((70000, 1), "zip")])
def test_a_format_that_cannot_hold_a_thin_strip_is_a_4xx_that_names_its_limit(
    server: Server, path: str, size: tuple[int, int], fmt: str
) -> None:
    options = {"format": fmt, "bg_color": "ffffff", "size": "full"}
    with server.client() as client:
        if path == "/remove-bg":
            response = client.post(path, params=options, files={"file": ("s.png", png(size))})
        else:
            response = client.post(path, data=options, files={file_field(path): ("s.png", png(size))})
        auto = client.post(
            "/remove-bg", params={**options, "format": "auto"}, files={"file": ("s.png", png(size))}
        )
    assert response.status_code in (400, 422) and error_of(response)["code"] == "too_large_for_format"
    assert str({"webp": 16383, "jpg": 65500, "zip": 65500}[fmt]) in error_of(response)["message"]
    assert auto.status_code == 200 and auto.headers["content-type"] in ("image/png", "image/jpeg")


@pytest.mark.parametrize("path", ["/remove-bg", "/v1.0/removebg", TYPED])
@pytest.mark.parametrize("value", [b"\xb2", b"\xb9\xb2", b"-5", b"0", b"1e3"])
def test_a_deadline_header_that_is_not_a_number_is_a_prompt_4xx(
    server: Server, path: str, value: bytes
) -> None:
    with server.client(timeout=30) as client:
        started = time.monotonic()
        response = client.post(
            path, headers={b"X-WizPix-Deadline-Ms": value}, files={file_field(path): ("d.png", png((64, 48)))}
        )
    assert time.monotonic() - started < 10  # it used to hang for BentoML's traffic timeout (130 s)
    assert response.status_code in (400, 422), response.text
    assert (
        error_of(response)["code"] == "invalid_request"
        and "X-WizPix-Deadline-Ms" in error_of(response)["message"]
    )


def test_batch_zip_members_are_printable_whatever_the_names_sent(server: Server) -> None:
    names = ["\x1b[31mred\x1b[0m.png", "evil\u202egnp.exe.png", "zero\u200bwidth.png", "plain.png"]
    parts = [("images", (name, png((64, 48)))) for name in names]
    with server.client() as client:
        refused = client.post(BATCH, files=parts[:3])
        served = client.post(BATCH, files=[("images", ("ok\u00e9 1.png", png((64, 48)))), parts[3]])
    assert refused.status_code == 400 and error_of(refused)["code"] == "invalid_file_name"
    assert served.status_code == 200
    members = zipfile.ZipFile(io.BytesIO(served.content)).namelist()
    assert sorted(members) == ["ok\u00e9 1.png", "plain.png", "report.json"]
    assert all(name.isprintable() for name in members)


def test_shadow_opacity_in_other_digits_is_a_400_and_errors_of_bentoml_are_ours(server: Server) -> None:
    with server.client() as client:
        opacity = client.post(
            "/v1.0/removebg", data={"shadow_opacity": "\u00b2"}, files={"image_file": ("d.png", png((8, 8)))}
        )
        arabic = client.post(
            "/v1.0/removebg",
            data={"shadow_opacity": "\u0661\u0662"},
            files={"image_file": ("d.png", png((8, 8)))},
        )
        unknown_task = client.get("/remove_backgrounds/get", params={"task_id": "nope"})
        missing_image = client.post(TYPED, files={"quality": (None, b"pro")})
    assert opacity.status_code == 400 and arabic.status_code == 400
    assert unknown_task.status_code == 404 and error_of(unknown_task)["code"] == "not_found"
    assert missing_image.status_code == 400 and error_of(missing_image)["code"] == "invalid_request"
    assert "image" in error_of(missing_image)["message"]
    assert server.health()["status"] == "ok"
