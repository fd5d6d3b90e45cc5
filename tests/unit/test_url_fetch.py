"""The image-URL downloader: what it fetches, what it refuses, and with which code.

A real HTTP server runs on 127.0.0.1 in a thread; it is reachable only because a test puts
it in ``allow_hosts``. Addresses that must be refused are never connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpcore
import pytest
from PIL import Image

from wizpix import __version__
from wizpix.core.errors import BadInput
from wizpix.front.removebg.image_url import PinnedBackend, fetch_image_bytes, is_public_address


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
LOCAL = frozenset({"127.0.0.1"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]]  # the headers of every request, set on the server's class

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        path = urlsplit(self.path).path
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        if path == "/photo.png":
            self._send(200, PNG, Content_Type="image/png")
        elif path == "/redirect":
            self._send(int(query.get("status", "302")), Location=query["to"])
        elif path == "/loop":
            hops = int(query.get("n", "0"))
            self._send(302, Location=f"/loop?n={hops + 1}" if hops < 50 else "/photo.png")
        elif path == "/big":
            self._send(200, PNG + bytes(5000), Content_Type="image/png")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in [PNG, *[bytes(1000)] * 20]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/page.html":
            self._send(200, b"<!doctype html><p>not an image</p>", Content_Type="text/html")
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG[:10])
            self.wfile.flush()
            time.sleep(2.0)
            self.wfile.write(PNG[10:])
        else:
            self._send(404, b"no such thing")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """(base URL, headers seen) of a threaded HTTP server on a free port of 127.0.0.1."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def _fetch(url: str, **options: object) -> bytes:
    options = {"max_bytes": 4096, "timeout_s": 3.0, **options}
    return asyncio.run(fetch_image_bytes(url, **options))  # type: ignore[arg-type]


def _refused(url: str, **options: object) -> BadInput:
    with pytest.raises(BadInput) as caught:
        _fetch(url, **options)
    return caught.value


def test_an_allowed_server_serves_its_png(server: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = server
    assert _fetch(f"{base}/photo.png", allow_hosts=LOCAL) == PNG
    headers = {name.lower(): value for name, value in seen[-1].items()}
    assert headers["user-agent"] == f"WizPix/{__version__}"
    assert headers["host"] == base.removeprefix("http://")
    assert "cookie" not in headers and "authorization" not in headers


def test_allow_hosts_match_names_case_insensitively(server: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = server
    port = base.rsplit(":", 1)[1]
    assert _fetch(f"http://LocalHost:{port}/photo.png", allow_hosts=frozenset({"localhost"})) == PNG
    assert seen[-1]["Host"].lower() == f"localhost:{port}"  # the name is kept, the address pinned


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost/x.png",
        "http://[::1]/x.png",
        "http://169.254.169.254/latest",
    ],
)
def test_loopback_and_link_local_are_refused_without_an_allow_list(url: str) -> None:
    error = _refused(url)
    assert (error.code, error.status) == ("url_forbidden", 400)


def test_an_allow_list_for_one_host_does_not_open_another(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    port = base.rsplit(":", 1)[1]
    assert _refused(f"http://localhost:{port}/photo.png", allow_hosts=LOCAL).code == "url_forbidden"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com/",
        "http://",
        "http://user:secret@example.com/a.png",
        "not a url",
        "http://a b.com/a.png",
        "http://example.com:99999/a.png",
        "javascript:alert(1)",
        "",
    ],
)
def test_urls_that_are_not_plain_http_are_invalid(url: str) -> None:
    assert _refused(url).code == "url_invalid"


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("http://127.0.0.2/a.png", "127.0.0.2"),
        ("http://10.0.0.1/a.png", "10.0.0.1"),
        ("http://[::1]:1/", "::1"),
    ],
)
def test_a_redirect_to_a_forbidden_address_is_checked_again(
    server: tuple[str, list[dict[str, str]]], target: str, address: str
) -> None:
    base, _ = server
    error = _refused(f"{base}/redirect?to={target}", allow_hosts=LOCAL)
    assert error.code == "url_forbidden"
    assert f"{address} is a" in error.message


def test_a_redirect_to_another_scheme_is_invalid(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    assert _refused(f"{base}/redirect?to=file:///etc/passwd", allow_hosts=LOCAL).code == "url_invalid"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed(server: tuple[str, list[dict[str, str]]], status: int) -> None:
    base, _ = server
    assert _fetch(f"{base}/redirect?status={status}&to=/photo.png", allow_hosts=LOCAL) == PNG


def test_too_many_redirects(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    assert _fetch(f"{base}/loop?n=48", allow_hosts=LOCAL, max_redirects=3) == PNG  # 3 redirects: fine
    error = _refused(f"{base}/loop?n=0", allow_hosts=LOCAL, max_redirects=3)
    assert error.code == "url_too_many_redirects"


@pytest.mark.parametrize("path", ["/big", "/chunked"])
def test_a_body_over_max_bytes_is_refused(server: tuple[str, list[dict[str, str]]], path: str) -> None:
    base, _ = server
    error = _refused(f"{base}{path}", allow_hosts=LOCAL, max_bytes=4096)
    assert (error.code, error.status) == ("url_too_large", 413)
    assert len(_fetch(f"{base}{path}", allow_hosts=LOCAL, max_bytes=100_000)) > 4096


def test_a_body_that_is_not_an_image_is_refused(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    assert _refused(f"{base}/page.html", allow_hosts=LOCAL).code == "url_not_an_image"


def test_a_remote_error_status_is_reported(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    error = _refused(f"{base}/missing.png", allow_hosts=LOCAL)
    assert error.code == "url_http_error"
    assert "404" in error.message


def test_a_slow_server_runs_out_the_timeout(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    error = _refused(f"{base}/slow", allow_hosts=LOCAL, timeout_s=0.5)
    assert error.code == "url_timeout"


def test_an_unreachable_host_says_why() -> None:
    closed = _refused("http://127.0.0.1:1/a.png", allow_hosts=LOCAL)  # nothing listens on port 1
    assert closed.code == "url_unreachable"
    unknown = _refused("http://no-such-host.invalid/a.png")
    assert unknown.code == "url_unreachable"
    assert "no-such-host.invalid" in unknown.message


def test_the_pinned_backend_connects_to_the_checked_address_not_to_dns(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    """A name that DNS cannot resolve at all still reaches the address it was pinned to, with
    the name in the Host header: the connection never asks DNS a second time."""
    import ipaddress

    base, seen = server
    port = int(base.rsplit(":", 1)[1])

    async def get() -> bytes:
        backend = PinnedBackend("rebind.invalid", [ipaddress.ip_address("127.0.0.1")])
        async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
            response = await pool.request("GET", f"http://rebind.invalid:{port}/photo.png")
            return response.content

    assert asyncio.run(get()) == PNG
    assert seen[-1]["Host"] == f"rebind.invalid:{port}"


def test_slow_lookups_hold_no_thread_that_other_work_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six lookups of a resolver that takes 3 s, each given up after 0.2 s: a file read
    through asyncio.to_thread right after is not kept waiting (it was, 7 s, when lookups
    ran in asyncio's default executor)."""
    import socket

    from wizpix.front.removebg import image_url

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3) or [])

    async def scenario() -> float:
        async def give_up() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await image_url._getaddrinfo("slow.example", 80)

        await asyncio.gather(*(give_up() for _ in range(6)))
        started = time.monotonic()
        await asyncio.to_thread(lambda: None)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.5
