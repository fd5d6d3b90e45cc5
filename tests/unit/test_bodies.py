"""Bodies BentoML could not read, refused before it reads them, each with what is wrong."""

from __future__ import annotations

import httpx
import pytest

from wizpix.front.bodies import body_problem

BOUNDARY = "XyZ"
KIND = f"multipart/form-data; boundary={BOUNDARY}"
FILES = ("image",)


def multipart(*parts: tuple[str, str | None, bytes], end: bool = True) -> bytes:
    """Parts written by hand: a client library would refuse to write most of these."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


def test_what_a_client_library_sends_is_read() -> None:
    request = httpx.Request(
        "POST", "http://x/", files={"image": ("a.png", b"\x89PNG")}, data={"quality": "pro"}
    )
    assert body_problem(request.read(), request.headers["content-type"], FILES) is None
    assert body_problem(multipart(("image", "写真 1.png", b"x")), KIND, FILES) is None
    assert body_problem(b'{"task_id": "abc"}', "application/json", ()) is None
    assert body_problem(b"", "", ()) is None


@pytest.mark.parametrize(
    ("body", "kind", "status", "code"),
    [
        (multipart(("image", None, b"http://169.254.169.254/latest")), KIND, 400, "file_expected"),
        (
            b"image=http://example.com/a.png",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (b'{"image": "http://example.com/a.png"}', "application/json", 415, "unsupported_media_type"),
        (b"x", "text/plain", 415, "unsupported_media_type"),
        (b"this is not multipart", KIND, 400, "invalid_multipart"),
        (multipart(("image", "a.png", b"x")), "multipart/form-data", 400, "invalid_multipart"),
        (multipart(("image", "a.png", b"x")), "multipart/form-data; boundary=", 400, "invalid_multipart"),
        (multipart(("image", "a.png", b"x"), end=False), KIND, 400, "invalid_multipart"),
        (multipart(("image", "a\rb.png", b"x")), KIND, 400, "invalid_multipart"),
        (multipart(("image", "a\nb.png", b"x")), KIND, 400, "invalid_file_name"),
        (multipart(("image", "\x1b[31mred.png", b"x")), KIND, 400, "invalid_file_name"),
        (multipart(("image", "evil\u202egnp.png", b"x")), KIND, 400, "invalid_file_name"),
        (multipart(("image", "x" * 300 + ".png", b"x")), KIND, 400, "invalid_file_name"),
        (multipart(("image", "é" * 130, b"x")), KIND, 400, "invalid_file_name"),
        (
            multipart(("image", "a.png", b"x"), *((f"f{i}", None, b"1") for i in range(1001))),
            KIND,
            400,
            "invalid_multipart",
        ),
        (multipart(*(("image", f"{i}.png", b"x") for i in range(1001))), KIND, 400, "invalid_multipart"),
        (
            multipart(("image", "a.png", b"x"), ("q", None, b"y" * (2**20 + 1))),
            KIND,
            400,
            "invalid_multipart",
        ),
    ],
)
def test_a_body_bentoml_cannot_read_is_our_4xx(body: bytes, kind: str, status: int, code: str) -> None:
    problem = body_problem(body, kind, FILES)
    assert problem is not None and (problem.status, problem.code) == (status, code), (
        problem and problem.message
    )


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        (b"{not json", "application/json", "invalid_json"),
        (b"[" * 100_000, "application/json", "invalid_json"),
        (b"&".join(b"a=1" for _ in range(1001)), "application/x-www-form-urlencoded", "invalid_body"),
        (b"x", "application/vnd.bentoml+pickle", "unsupported_media_type"),
        (b"no boundary", "multipart/form-data", "invalid_multipart"),
    ],
)
def test_routes_without_files_are_checked_too(body: bytes, kind: str, code: str) -> None:
    problem = body_problem(body, kind, ())
    assert problem is not None and problem.code == code
