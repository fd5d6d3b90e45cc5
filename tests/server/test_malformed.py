"""Malformed input against the real server (real weights): never a 5xx, always our JSON error.

Each case is one way an upload form gets it wrong: not an image, a broken image, an image
that lies about its size, a request that is not the multipart we document, bad options.
Some are odd but valid (1×1, a 1×4000 strip, a broken ICC profile) and must be served.
The server must answer them all and still be healthy after.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Server

pytestmark = [pytest.mark.server, pytest.mark.weights]


@pytest.fixture(scope="module")
def server(real_server: Server) -> Server:
    return real_server


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(7)
    array = np.full((size[1], size[0], 3), 235, np.uint8)
    array[size[1] // 4 : 3 * size[1] // 4, size[0] // 4 : 3 * size[0] // 4] = (180, 40, 40)
    return Image.fromarray((array + rng.integers(0, 8, array.shape)).astype(np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header for a huge image, with one tiny compressed row: a decompression bomb
    in miniature, refused from its header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to claim another size."""
    data = bytearray(_encode(_photo(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_bad_crc() -> bytes:
    data = bytearray(_encode(_photo(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # a flipped byte inside the compressed pixels
    return bytes(data)


def _jpeg_with_broken_icc() -> bytes:
    return _encode(_photo(), "JPEG", icc_profile=b"acsp" + os.urandom(200))


def _jpeg_with_broken_exif() -> bytes:
    return _encode(_photo(), "JPEG", exif=b"Exif\x00\x00II*\x00" + b"\xff" * 40)


def _animated_gif() -> bytes:
    frames = [_photo().convert("P"), Image.new("P", (96, 64), 3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def _zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", _encode(_photo(), "JPEG"))
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    """One request and what must come back: a status and, for errors, our error code; for a
    cutout, its media type."""

    kwargs: dict
    status: int
    code: str | None = None
    params: dict = field(default_factory=dict)
    media: str = "image/png"


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
    return {"files": {"file": (name, data, content_type)}}


PHOTO_JPEG = _encode(_photo(), "JPEG")
FLAT_PNG = _encode(Image.new("RGB", (64, 48), (90, 90, 90)), "PNG")
MULTIPART = "multipart/form-data; boundary=xyz"
PART = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'

CASES: dict[str, Case] = {
    # not an image at all
    "text file": Case(upload("a.txt", b"hello, world", "text/plain"), 400, "not_an_image"),
    "empty file": Case(upload("a.png", b"", "image/png"), 400, "empty_file"),
    "random bytes": Case(upload("a.jpg", np.random.default_rng(1).bytes(4096)), 400, "not_an_image"),
    "html named .png": Case(upload("a.png", b"<!doctype html><p>hi</p>", "image/png"), 400, "not_an_image"),
    "svg": Case(upload("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"), 400),
    "pdf": Case(upload("a.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"), 400, "not_an_image"),
    "zip of a photo": Case(upload("a.zip", _zip()), 400, "not_an_image"),
    "path in the filename": Case(upload("../../etc/passwd", b"root:x:0:0"), 400, "not_an_image"),
    # broken images
    "truncated jpeg": Case(upload("a.jpg", PHOTO_JPEG[: len(PHOTO_JPEG) // 3]), 400, "corrupt_image"),
    "truncated png": Case(upload("a.png", _encode(_photo(), "PNG")[:300]), 400, "corrupt_image"),
    "png signature only": Case(upload("a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64), 400, "corrupt_image"),
    "png with a bad crc": Case(upload("a.png", _png_bad_crc()), 400, "corrupt_image"),
    "jpeg header then garbage": Case(upload("a.jpg", b"\xff\xd8\xff\xe0" + b"\x13" * 2000), 400),
    "gif header only": Case(upload("a.gif", b"GIF89a\x10\x00\x10\x00"), 400, "corrupt_image"),
    "png claiming 0x0": Case(upload("a.png", _png_claiming(0, 0)), 400, "corrupt_image"),
    # images that lie about their size
    "png bomb 30000x30000": Case(upload("a.png", _png_claiming(30_000, 30_000)), 413, "image_too_large"),
    "jpeg claiming 65000x65000": Case(
        upload("a.jpg", _jpeg_claiming(65_000, 65_000)), 413, "image_too_large"
    ),
    "upload over MAX_UPLOAD_MB": Case(upload("big.jpg", b"\xff\xd8" + b"\0" * (26 * 2**20)), 413),
    # not the multipart we document
    "wrong field name": Case({"files": {"image": ("a.jpg", PHOTO_JPEG)}}, 422, "invalid_request"),
    "file sent as a text field": Case({"data": {"file": "not a file"}}, 422, "invalid_request"),
    "raw image body": Case({"content": PHOTO_JPEG, "headers": {"content-type": "image/jpeg"}}, 422),
    "json body": Case({"json": {"file": "aGVsbG8="}}, 422, "invalid_request"),
    "no body at all": Case({}, 422, "invalid_request"),
    "multipart without boundary": Case(
        {"content": PART + PHOTO_JPEG, "headers": {"content-type": "multipart/form-data"}}, 400
    ),
    "multipart never closed": Case(
        {"content": PART + PHOTO_JPEG, "headers": {"content-type": MULTIPART}}, 422, "invalid_request"
    ),
    # bad options
    "unknown quality": Case(upload("a.jpg", PHOTO_JPEG), 422, "invalid_request", {"quality": "ultra"}),
    "bg_color=nocolour": Case(upload("a.jpg", PHOTO_JPEG), 422, "invalid_request", {"bg_color": "nocolour"}),
    "max_size=0": Case(upload("a.jpg", PHOTO_JPEG), 422, "invalid_request", {"max_size": "0"}),
    "format=tiff": Case(upload("a.jpg", PHOTO_JPEG), 422, "invalid_request", {"format": "tiff"}),
    "crop_margin=-1": Case(upload("a.jpg", PHOTO_JPEG), 422, "invalid_request", {"crop_margin": "-1"}),
    "crop with no subject": Case(upload("flat.png", FLAT_PNG), 422, "no_subject", {"crop": "true"}),
    # odd but valid: served
    "1x1 pixel": Case(upload("a.png", _encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG")), 200),
    "1x4000 strip": Case(upload("a.png", _encode(_photo((1, 4000)), "PNG")), 200),
    "jpeg with a broken icc profile": Case(upload("a.jpg", _jpeg_with_broken_icc()), 200),
    "jpeg with broken exif": Case(upload("a.jpg", _jpeg_with_broken_exif()), 200),
    "animated gif": Case(upload("a.gif", _animated_gif()), 200, media="image/gif"),  # comes back animated
}
CASES["two files in one field"] = Case(
    {"files": [("file", ("a.jpg", PHOTO_JPEG)), ("file", ("b.txt", b"second"))]}, 422, "one_file_expected"
)


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_answered_never_with_a_5xx(server: Server, name: str) -> None:
    case = CASES[name]
    with server.client() as client:
        response = client.post("/remove-bg", params=case.params, **case.kwargs)
    assert response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"
    assert response.status_code == case.status, f"{name}: {response.status_code} {response.text[:300]}"
    if case.status == 200:
        Image.open(io.BytesIO(response.content)).verify()
        assert response.headers["content-type"] == case.media
        return
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if case.code:
        assert body["error"]["code"] == case.code, body


def test_the_suite_is_at_least_25_kinds_of_bad_input() -> None:
    assert sum(case.status != 200 for case in CASES.values()) >= 25


def test_wrong_method_answers_in_the_same_schema(server: Server) -> None:
    with server.client() as client:
        wrong_method = client.get("/remove-bg")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "http_error"


def test_server_still_healthy_after_the_malformed_suite(server: Server) -> None:
    body = server.health()
    assert body["status"] == "ok" and body["requests"]["in_flight"] == 0, body
    with server.client() as client:
        response = client.post("/remove-bg", **upload("a.jpg", PHOTO_JPEG))
    assert response.status_code == 200


def test_an_upload_never_touches_the_disk(server: Server) -> None:
    """A 3 MB upload, held half-sent: Starlette would have spooled it to TMPDIR past 1 MB.
    Nothing in the server's TMPDIR may hold its bytes, during the upload or after."""
    marker = os.urandom(16).hex().encode()
    tmpdir: Path = server.tmpdir  # type: ignore[attr-defined]
    address = urlparse(server.url)
    body = PART.replace(b"--xyz", b"--xyz", 1) + (marker * (3 * 2**20 // len(marker)))
    tail = b"\r\n--xyz--\r\n"
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(
            f"POST /remove-bg HTTP/1.1\r\nHost: x\r\nContent-Type: {MULTIPART}\r\n"
            f"Content-Length: {len(body) + len(tail)}\r\n\r\n".encode()
            + body
        )
        time.sleep(1.5)  # the parser has seen 3 MB and waits for the rest
        during = _files_holding(tmpdir, marker)
        sock.sendall(tail)
        answer = sock.recv(4096)
    assert b" 400 " in answer.split(b"\r\n")[0], answer[:200]  # the marker is not an image
    assert during == [] and _files_holding(tmpdir, marker) == []


def _files_holding(folder: Path, marker: bytes) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        try:
            if path.is_file() and marker in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found
