"""Download an image a caller named by URL (remove.bg's ``image_url`` / ``bg_image_url``),
without letting that URL reach anything but the public internet.

A service that fetches URLs for its clients can be turned on its own network (server-side
request forgery): the cloud metadata endpoint 169.254.169.254, an admin page on 127.0.0.1,
a database on 10.x. So every hop is checked before it is connected to:

- ``http``/``https`` only, a host, no credentials in the URL;
- the host is resolved once, and ALL its addresses must be public (``ipaddress``'s
  ``is_global`` plus explicit refusals: loopback, private, link-local, multicast, reserved,
  unspecified, CGNAT 100.64/10, and the IPv4 inside IPv4-mapped, 6to4 and NAT64 IPv6
  addresses), unless the host, exactly as written (case-insensitive) or as an IP literal, is
  in ``allow_hosts``;
- the connection goes to an address that was checked, never to a second DNS answer (DNS
  rebinding: a name that answers a public address to the check and 127.0.0.1 to the
  connection). This is done with an httpcore network backend whose ``connect_tcp``
  substitutes the checked address for the host name. Everything above the TCP socket still
  sees the name: the ``Host`` header, and for https the TLS SNI and the certificate check.
  So http and https are both pinned; no residual rebinding window is left;
- redirects are followed here, hop by hop (301/302/303/307/308, as GET, at most
  ``max_redirects``), each new URL checked like the first; no proxy from the environment,
  no cookies, no auth, ``User-Agent: WizPix/<version>``, ``Accept-Encoding: identity`` (so
  ``max_bytes`` counts what the server sends);
- the body is streamed and abandoned as soon as it passes ``max_bytes``; the whole download,
  DNS included, must finish within ``timeout_s``; it must start like an image we read.

Every refusal is a ``BadInput`` with a stable code: ``url_invalid``, ``url_forbidden``,
``url_unreachable``, ``url_timeout``, ``url_http_error``, ``url_not_an_image``,
``url_too_many_redirects`` (all 400), and ``url_too_large`` (413, like ``upload_too_large``:
the image is over the size limit whichever way it came).

Left to the caller: the port is not restricted (any port of a public address is allowed),
and ``allow_hosts`` names are trusted whatever they resolve to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from wizpix import __version__
from wizpix.core.errors import BadInput
from wizpix.core.units import whole_number
from wizpix.image.decode import looks_like_an_image

log = logging.getLogger(__name__)
USER_AGENT = f"WizPix/{__version__}"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_URL_LENGTH = 8192
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not public, though some Python versions' is_global misses one or another of them.
_REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "2001::/32",  # Teredo: tunnels to an IPv4 address we cannot see
        "2001:db8::/32",  # documentation
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one a fetch may connect to, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"an address that embeds {embedded}, {reason}" if reason else None
    for name in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    if any(address.version == network.version and address in network for network in _REFUSED_NETWORKS):
        return "a special-purpose address"
    if not address.is_global:
        return "not a global address"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """True when a fetch may connect to ``address`` (an IP literal) without an allow-list."""
    return refusal_reason(ipaddress.ip_address(address)) is None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _normalise_host(host: str) -> str:
    """One spelling per host: lower case, no trailing dot or brackets, IDNA as punycode, an
    IP literal in its canonical form; for matching ``allow_hosts``."""
    host = host.strip().strip("[]").lower().rstrip(".")
    literal = _ip_literal(host)
    if literal is not None:
        return str(literal)
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _host(url: httpx.URL) -> str:
    """The URL's host as sent on the wire: ASCII (punycode), IPv6 without brackets."""
    return url.raw_host.decode("ascii")


def _parse(url: str) -> httpx.URL:
    """The URL, if it is one we may fetch at all (scheme, host, no credentials)."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput("url_invalid", "the image URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise BadInput("url_invalid", f"the image URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise BadInput("url_invalid", f"the image URL is malformed: {error}") from None
    if parsed.scheme not in ("http", "https"):
        shown = parsed.scheme or "none"
        raise BadInput("url_invalid", f"the image URL must be http or https, not {shown}")
    if not parsed.raw_host:
        raise BadInput("url_invalid", "the image URL has no host")
    if parsed.userinfo:
        raise BadInput("url_invalid", "the image URL must not carry a user name or password")
    host = _host(parsed)
    if _ip_literal(host) is None and not _HOST_NAME.fullmatch(host):
        raise BadInput("url_invalid", f"the image URL's host is not a valid host name: {host}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise BadInput("url_invalid", f"the image URL's port is out of range: {parsed.port}")
    return parsed


# The system resolver blocks a thread per lookup, for as long as a slow DNS server takes.
# In asyncio's default executor those would be the threads asyncio.to_thread shares with
# every request (6 on 2 cores; a timed-out await does not free its thread), and Python
# joins that executor at exit. So each lookup runs on a daemon thread of its own, at most
# four at once: past that a lookup waits within the download's own timeout.
MAX_LOOKUPS = 4
_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)


async def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    loop = asyncio.get_running_loop()
    while not _lookups.acquire(blocking=False):  # polled: an asyncio wait stays cancellable
        await asyncio.sleep(0.05)
    answer: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if answer.done():
            return  # the caller gave up (its timeout): nothing waits for this lookup
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)

    def lookup() -> None:
        try:
            result, error = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), None
        except BaseException as caught:  # noqa: BLE001 - handed to the waiting coroutine
            result, error = None, caught
        finally:
            _lookups.release()
        with contextlib.suppress(RuntimeError):  # the loop has closed: the service is stopping
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=lookup, name="wizpix-dns", daemon=True).start()
    return await answer


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses (the literal itself for an IP), in the resolver's order."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = await _getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError) as error:
        raise BadInput(
            "url_unreachable", f"the image URL's host {host} could not be resolved: {error}"
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = _ip_literal(str(sockaddr[0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BadInput("url_unreachable", f"the image URL's host {host} has no address")
    return addresses


async def _checked_addresses(url: httpx.URL, allow_hosts: frozenset[str]) -> list[IPAddress]:
    """Resolve the hop's host and refuse it unless every address is public or it is allowed."""
    host = _host(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    if _normalise_host(host) in allow_hosts:
        return addresses
    for address in addresses:
        reason = refusal_reason(address)
        if reason is not None:
            # the address itself stays in the log: echoed, it would map internal names for a caller
            log.info("image URL host %s refused: %s is %s", host, address, reason)
            shown = host if str(address) == _normalise_host(host) else f"{host} resolves to an address which"
            raise BadInput("url_forbidden", f"the image URL is not a public address: {shown} is {reason}")
    return addresses


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to addresses checked beforehand instead of resolving the host again.

    httpcore asks for ``host``; the TCP connection goes to the pinned addresses (tried in
    order), while TLS (SNI, certificate) and the Host header keep using the name.
    """

    def __init__(self, host: str, addresses: Sequence[IPAddress]) -> None:
        self._host = host
        self._addresses = list(addresses)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.lower() != self._host.lower():  # never reached: one pool per checked hop
            raise httpcore.ConnectError(f"refusing to connect to {host}: only {self._host} was checked")
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as failure:
                error = failure
        raise error

    async def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for image URLs")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _get(url: httpx.URL, addresses: list[IPAddress], max_bytes: int) -> tuple[int, str | None, bytes]:
    """One hop: (status, Location, body). The body is read only for a 2xx answer."""
    backend = PinnedBackend(_host(url), addresses)
    headers = [
        (b"Host", url.netloc),
        (b"User-Agent", USER_AGENT.encode()),
        (b"Accept", b"image/*"),
        (b"Accept-Encoding", b"identity"),
        (b"Connection", b"close"),
    ]
    target = url.raw_path or b"/"
    async with (
        httpcore.AsyncConnectionPool(network_backend=backend, http1=True, http2=False, retries=0) as pool,
        pool.stream(
            "GET",
            httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=target),
            headers=headers,
        ) as response,
    ):
        location = _header(response.headers, b"location")
        if not 200 <= response.status < 300:
            return response.status, location, b""
        length = _header(response.headers, b"content-length")
        if (announced := whole_number(length)) is not None and announced > max_bytes:
            raise _too_large(max_bytes, f"it announces {announced} bytes")
        body = bytearray()
        async for chunk in response.aiter_stream():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes, "its body goes on past that")
        return response.status, location, bytes(body)


def _too_large(max_bytes: int, why: str) -> BadInput:
    return BadInput("url_too_large", f"the image at the URL is over {max_bytes} bytes: {why}", status=413)


async def _fetch(url: str, max_bytes: int, allow_hosts: frozenset[str], max_redirects: int) -> bytes:
    current = _parse(url)
    for hop in range(max_redirects + 1):
        addresses = await _checked_addresses(current, allow_hosts)
        try:
            status, location, body = await _get(current, addresses, max_bytes)
        except httpcore.TimeoutException:
            raise TimeoutError from None
        except (
            httpcore.NetworkError,
            httpcore.ProtocolError,
            httpcore.UnsupportedProtocol,
            OSError,
        ) as error:
            why = str(error) or type(error).__name__
            raise BadInput("url_unreachable", f"the image URL could not be fetched: {why}") from None
        if 200 <= status < 300:
            if not looks_like_an_image(body):
                what = "an empty body" if not body else "something that is not an image format we read"
                raise BadInput("url_not_an_image", f"the image URL returned {what}")
            return body
        if status not in REDIRECTS or not location:
            raise BadInput("url_http_error", f"the image URL answered HTTP {status}")
        if hop == max_redirects:
            break
        try:
            current = _parse(str(current.join(location)))
        except httpx.InvalidURL as error:
            raise BadInput("url_invalid", f"the image URL redirects to a malformed URL: {error}") from None
    raise BadInput("url_too_many_redirects", f"the image URL redirects more than {max_redirects} times")


async def fetch_image_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    allow_hosts: frozenset[str] = frozenset(),
    max_redirects: int = 5,
) -> bytes:
    """The bytes of the image at ``url``, or a ``BadInput`` saying why not (see the module).

    ``allow_hosts``: host names or IP literals fetched even though they are not public
    (an internal image store, a test server); matched exactly, case-insensitively.
    """
    allowed = frozenset(_normalise_host(host) for host in allow_hosts)
    try:
        async with asyncio.timeout(timeout_s):
            return await _fetch(url, max_bytes, allowed, max_redirects)
    except TimeoutError:
        raise BadInput("url_timeout", f"the image URL did not deliver within {timeout_s:g} s") from None
