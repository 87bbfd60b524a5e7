"""The project's only way to talk HTTP: guarded, bounded and polite.

Feeds, article pages, edit re-checks and webhooks all go through :class:`Fetcher`
because every URL it sees comes from outside (a feed's links, a redirect, a
config file) and may point anywhere.  So the fetcher:

* refuses non-public addresses *at connect time*, on every hop, after resolving
  the name once and connecting to exactly the vetted IP (DNS rebinding cannot
  swap the address between check and use);
* enforces ONE deadline for the whole request (redirects and body included),
  because per-read timeouts are defeated by a server sending a byte a second;
* caps the body *after* decompression, in bounded steps, so a small gzip bomb
  cannot expand in memory;
* bounds concurrency overall and per host, spaces requests to one host, and lets
  the daemon put a host on cool-down after a 429/503.

It drives httpcore's HTTP/1.1 connections directly, with a tiny keep-alive pool
of its own over plain asyncio streams: we bound concurrency ourselves anyway,
and profiling showed httpcore's general pool (it rescans every connection on
every request) and anyio's per-read cancel scopes dominating the client's CPU
when polling many feeds.  Every httpcore/socket error is translated once, here,
into :class:`FetchError`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote_to_bytes, urlsplit

import httpcore
import httpx

from aggregator.exceptions import BlockedURLError, ConfigError, FetchError

__all__ = [
    "FetchPolicy",
    "FetchResult",
    "Fetcher",
    "IPAddress",
    "Resolver",
    "check_host_allowed",
    "is_public_address",
    "parse_max_age",
    "parse_retry_after",
    "system_resolver",
]

MiB = 1024 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Async ``(host, port) -> addresses``; injectable so tests can simulate DNS."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_KEEPALIVE_SECONDS = 30.0
_DRAIN_LIMIT = 64 * 1024  # read at most this much of an error/redirect body to keep the connection
_STEP = 256 * 1024  # largest decompression step: bounds memory per step


# --------------------------------------------------------------------------- policy & result


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one :class:`Fetcher`; built from feeds.yaml's ``network`` section."""

    allow_private: tuple[str, ...] = ()
    user_agent: str = "aggregator/0.1 (+https://github.com/aggregator)"
    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * MiB
    max_redirects: int = 5
    max_connections: int = 10
    max_per_host: int = 2
    min_host_interval: float = 0.0

    def __post_init__(self) -> None:
        """Reject nonsense early: a zero cap or a bad CIDR would fail every fetch later."""
        for name in (
            "total_timeout",
            "connect_timeout",
            "max_bytes",
            "max_connections",
            "max_per_host",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"network.{name} must be positive", key=f"network.{name}")
        if self.max_redirects < 0 or self.min_host_interval < 0:
            raise ConfigError(
                "network.max_redirects and network.min_host_interval cannot be negative"
            )
        if not self.user_agent.isascii() or not self.user_agent.isprintable():
            raise ConfigError(
                "network.user_agent must be printable ASCII (it is sent as an HTTP header)",
                key="network.user_agent",
            )
        _allow_list(tuple(self.allow_private))


@dataclass(frozen=True)
class FetchResult:
    """What a fetch produced; ``content_hash`` lets a 200 with an unchanged body skip parsing."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    etag: str | None
    last_modified: str | None
    not_modified: bool
    permanent_redirect: str | None
    content_type: str | None
    max_age: float | None
    elapsed: float
    content_hash: str


# --------------------------------------------------------------------------- address policy

_SPECIAL_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF special-purpose"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)


def _as_ip(value: str | IPAddress) -> IPAddress:
    """Parse an address; strings from getaddrinfo may carry an IPv6 zone ('%eth0')."""
    return value if not isinstance(value, str) else ipaddress.ip_address(value.strip("[]"))


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address smuggles in (6to4, Teredo); they reach that IPv4 host."""
    found = [ip.sixtofour] if ip.sixtofour else []
    return found + list(ip.teredo or ())


def _why_not_public(ip: IPAddress) -> str | None:
    """The kind of non-public address `ip` is, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        inner = _why_not_public(ip.ipv4_mapped)
        return f"IPv4-mapped {inner}" if inner else None
    for net, label in _SPECIAL_NETWORKS:
        if ip.version == net.version and ip in net:
            return label
    if isinstance(ip, ipaddress.IPv6Address):
        inner_reasons = [r for v4 in _embedded_v4(ip) if (r := _why_not_public(v4))]
        if inner_reasons:
            return f"tunnelled {inner_reasons[0]}"
    return None if ip.is_global else "reserved"


def is_public_address(ip: str | IPAddress) -> bool:
    """True if `ip` is a public unicast address a feed may live on.

    IPv4-mapped IPv6 is judged by its IPv4 part; NAT64, 6to4 and Teredo forms that
    lead to private IPv4 hosts are not public.  A string that is not an IP is False.
    """
    try:
        return _why_not_public(_as_ip(ip)) is None
    except ValueError:
        return False


def _norm_host(host: str) -> str:
    """Compare hosts the way DNS does: case-insensitive, trailing dot and brackets ignored."""
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class _AllowList:
    """policy.allow_private, parsed once: host names and IP networks."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def allows_host(self, host: str) -> bool:
        return _norm_host(host) in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        """Mapped IPv6 (::ffff:a.b.c.d) is matched by its IPv4 too, like is_public_address."""
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(c in n for c in candidates for n in self.networks if c.version == n.version)


def _parse_allow_entry(entry: str) -> IPNetwork | str:
    """An IP or CIDR becomes a network; anything else is a host name."""
    text = _norm_host(entry)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        if "/" in text or not text:
            raise ConfigError(
                f"network.allow_private entry {entry!r} is neither a host name, an IP nor a CIDR",
                key="network.allow_private",
            ) from None
        return text


@lru_cache(maxsize=64)
def _allow_list(entries: tuple[str, ...]) -> _AllowList:
    """Cached: the same policy tuple is consulted on every new connection."""
    parsed = [_parse_allow_entry(e) for e in entries]
    return _AllowList(
        hosts=frozenset(p for p in parsed if isinstance(p, str)),
        networks=tuple(p for p in parsed if not isinstance(p, str)),
    )


def _blocked_message(host: str, ip: IPAddress, reason: str) -> str:
    if _norm_host(host) == str(ip):
        return f"refusing to connect to {ip}: it is a {reason} address, not a public one"
    return f"refusing to connect to {host}: it resolves to {ip}, a {reason} address"


def check_host_allowed(
    host: str, addresses: Iterable[str | IPAddress], allow_private: Iterable[str] = ()
) -> list[IPAddress]:
    """Vet every address `host` resolved to; return them, or raise BlockedURLError.

    All must pass, not just one: an answer mixing a public and a private address
    is how rebinding attacks choose their target.  `allow_private` entries let a
    host name (all its addresses) or an IP/CIDR through although not public.
    """
    allow = _allow_list(tuple(allow_private))
    ips = [_as_ip(a) for a in addresses]
    if allow.allows_host(host):
        return ips
    for ip in ips:
        reason = _why_not_public(ip)
        if reason and not allow.allows_ip(ip):
            raise BlockedURLError(_blocked_message(host, ip, reason), url=host)
    return ips


_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")


def _numeric_host(host: str) -> IPAddress | None:
    """The IP a numeric host means, including forms like 2130706433, 0x7f000001, 0177.0.0.1, 127.1.

    The C resolver accepts all of these for 127.0.0.1, so they must be judged as IPs.
    """
    try:
        return _as_ip(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


# --------------------------------------------------------------------------- connecting


async def system_resolver(host: str, port: int) -> list[str]:
    """The OS resolver (getaddrinfo in a thread), de-duplicated, in the OS's preference order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's view of one asyncio connection (plain or TLS).

    httpcore's own anyio backend spends a cancel scope and checkpoints on every
    read and write; on loopback that was ~40% of the client's CPU per request.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as e:
            raise httpcore.ReadTimeout(f"no data for {_secs(timeout)}") from e
        except OSError as e:
            raise httpcore.ReadError(_oserror(e)) from e

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as e:
            raise httpcore.WriteTimeout(f"could not send for {_secs(timeout)}") from e
        except OSError as e:
            raise httpcore.WriteError(_oserror(e)) from e

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade in place; `server_hostname` (the URL host, not our IP) drives SNI and checks."""
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as e:
            self._writer.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {_secs(timeout)}") from e
        except OSError as e:
            self._writer.close()
            raise httpcore.ConnectError(_tls_problem(e)) from e
        return self

    def get_extra_info(self, info: str) -> Any:
        """'is_readable' on an idle connection means the server hung up (httpcore's expiry test)."""
        if info == "is_readable":
            return self._reader.at_eof() or self._writer.transport.is_closing()
        if info in ("client_addr", "server_addr"):
            return self._writer.get_extra_info("sockname" if info == "client_addr" else "peername")
        return self._writer.get_extra_info(info)


def _secs(timeout: float | None) -> str:
    return "ever" if timeout is None else f"{timeout:g}s"


def _tls_problem(e: OSError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"the TLS certificate was not accepted: {e.verify_message}"
    return f"TLS handshake failed: {_oserror(e)}"


async def _open_tcp(ip: IPAddress, port: int, timeout: float | None) -> _Stream:
    """Connect to exactly `ip` (a literal, so asyncio does no DNS of its own)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(str(ip), port)
    except TimeoutError as e:
        raise httpcore.ConnectTimeout(f"{ip} port {port}: no answer within {_secs(timeout)}") from e
    except OSError as e:
        raise httpcore.ConnectError(f"{ip} port {port}: {_oserror(e)}") from e
    return _Stream(reader, writer)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, vet every address, connect to a vetted IP: the SSRF guard.

    httpcore passes the URL's host name to start_tls, so TLS SNI and certificate
    checks use the name while the socket goes to the IP we checked.  httpcore's
    local_address and socket_options are never set by this module, so not supported.
    """

    def __init__(self, allow_private: tuple[str, ...], resolve: Resolver) -> None:
        self._allow = allow_private
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._lookup(host, port, timeout)
        vetted = check_host_allowed(host, addresses, self._allow)
        return await self._connect_any(vetted, port, timeout)

    async def _lookup(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        """Literal IPs skip DNS; names get one lookup under the connect timeout."""
        try:
            return [_as_ip(host)]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                found = [_as_ip(a) for a in await self._resolve(host, port)]
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(f"looking up {host} took over {_secs(timeout)}") from e
        except OSError as e:
            raise httpcore.ConnectError(
                f"could not find the address of {host} ({_oserror(e)})"
            ) from e
        except ValueError as e:
            raise httpcore.ConnectError(f"the resolver gave a bad address for {host} ({e})") from e
        if not found:
            raise httpcore.ConnectError(f"could not find the address of {host}")
        return found

    async def _connect_any(
        self, vetted: Sequence[IPAddress], port: int, timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        """Try each vetted address in order; the last failure is the one reported."""
        last: Exception = httpcore.ConnectError("no address to connect to")
        for ip in vetted:
            try:
                return await _open_tcp(ip, port, timeout)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a URL must not reach a local socket."""
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _oserror(e: OSError) -> str:
    """An OS error in words ('Connection refused'), without '[Errno 111]' or asyncio's wrapping."""
    if e.errno and e.errno > 0 and not isinstance(e, socket.gaierror):
        return os.strerror(e.errno)
    return e.strerror or re.sub(r"^\[Errno -?\d+\]\s*", "", str(e)) or type(e).__name__


OriginKey = tuple[bytes, bytes, int]


def _origin_key(origin: httpcore.Origin) -> OriginKey:
    return (origin.scheme, origin.host, origin.port)


async def _close_quietly(conn: httpcore.AsyncHTTPConnection) -> None:
    """Closing a broken or abandoned connection can only fail in ways nobody can act on."""
    with suppress(Exception):
        await conn.aclose()


class _Pool:
    """Idle keep-alive connections per origin; O(1) per request, LRU-evicted beyond `max_idle`."""

    def __init__(
        self, make: Callable[[httpcore.Origin], httpcore.AsyncHTTPConnection], max_idle: int
    ) -> None:
        self.make = make
        self._max_idle = max_idle
        self._idle: dict[OriginKey, list[httpcore.AsyncHTTPConnection]] = {}
        self._count = 0
        self.closed = False

    async def take(self, origin: httpcore.Origin) -> tuple[httpcore.AsyncHTTPConnection, bool]:
        """A live idle connection (reused=True) or a new, not yet connected one."""
        key = _origin_key(origin)
        while (conn := self._pop(key)) is not None:
            if conn.is_idle() and not conn.has_expired():
                return conn, True
            await _close_quietly(conn)
        return self.make(origin), False

    def _pop(self, key: OriginKey) -> httpcore.AsyncHTTPConnection | None:
        stack = self._idle.get(key)
        if not stack:
            return None
        self._count -= 1
        conn = stack.pop()
        if not stack:
            del self._idle[key]
        return conn

    async def give_back(self, origin: httpcore.Origin, conn: httpcore.AsyncHTTPConnection) -> None:
        """Keep a connection that finished cleanly; re-inserting moves its origin to the LRU end."""
        if self.closed or not conn.is_idle():
            await _close_quietly(conn)
            return
        key = _origin_key(origin)
        stack = self._idle.pop(key, [])
        stack.append(conn)
        self._idle[key] = stack
        self._count += 1
        while self._count > self._max_idle:
            await self._evict_oldest()

    async def _evict_oldest(self) -> None:
        key = next(iter(self._idle))
        stack = self._idle[key]
        victim = stack.pop(0)
        if not stack:
            del self._idle[key]
        self._count -= 1
        await _close_quietly(victim)

    async def aclose(self) -> None:
        self.closed = True
        stacks, self._idle, self._count = list(self._idle.values()), {}, 0
        for conn in (c for stack in stacks for c in stack):
            await _close_quietly(conn)


# --------------------------------------------------------------------------- bodies


def _content_encoding(headers: dict[str, str], url: str) -> str | None:
    """The one content coding of a body, or None; stacked or unknown codings are refused.

    Stacking ('gzip, gzip') multiplies a bomb's expansion and has no honest use.
    """
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise FetchError(
            f"the server sent the body with {len(codings)} content encodings "
            f"({', '.join(codings)}); at most one is accepted",
            kind="protocol",
            url=url,
        )
    if codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(
            f"the server used an unsupported content encoding {codings[0]!r}",
            kind="protocol",
            url=url,
        )
    return codings[0] if codings else None


def _size(n: int) -> str:
    """Sizes as a person writes them: 10 MiB, 512 KiB, 300 bytes."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


class _Body:
    """Collects a body, decompressing in bounded steps and stopping past `limit` bytes.

    httpx's decoders inflate a whole network chunk at once (64 KB of gzip can be
    64 MB of zeros); zlib's max_length keeps each step, and so memory, bounded.
    """

    def __init__(self, encoding: str | None, limit: int, url: str) -> None:
        self._limit = limit
        self._url = url
        self._parts: list[bytes] = []
        self._size = 0
        self._z = _inflater(encoding)
        self._raw_deflate = encoding == "deflate"  # try zlib-wrapped first, then raw
        self._fed = False

    def feed(self, data: bytes) -> None:
        if self._z is None:
            self._add(data)
            return
        self._fed = self._fed or bool(data)
        while data:
            self._add(self._inflate(data))
            data = self._z.unconsumed_tail

    def _inflate(self, data: bytes) -> bytes:
        """One bounded step; a 'deflate' body that is really raw deflate gets a second chance."""
        assert self._z is not None
        room = min(self._limit - self._size + 1, _STEP)
        try:
            out = self._z.decompress(data, room)
        except zlib.error as e:
            if not self._raw_deflate:
                raise self._corrupt(e) from e
        else:
            self._raw_deflate = False
            return out
        self._raw_deflate = False
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            return self._z.decompress(data, room)
        except zlib.error as e:
            raise self._corrupt(e) from e

    def _add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise _too_large(self._limit, self._url, decompressed=self._z is not None)
        if chunk:
            self._parts.append(chunk)

    def _corrupt(self, e: zlib.error) -> FetchError:
        return FetchError(f"the compressed body is corrupt ({e})", kind="protocol", url=self._url)

    def finish(self) -> bytes:
        """The whole body; a compressed stream that stops early is an error, not a short feed."""
        if self._z is not None and self._fed:
            try:
                self._add(self._z.flush())
            except zlib.error as e:
                raise self._corrupt(e) from e
            if not self._z.eof:
                raise FetchError("the compressed body is truncated", kind="protocol", url=self._url)
        return b"".join(self._parts)


def _inflater(encoding: str | None) -> zlib._Decompress | None:
    if encoding is None:
        return None
    return zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))


def _too_large(limit: int, url: str, *, decompressed: bool) -> FetchError:
    after = " after decompression" if decompressed else ""
    return FetchError(
        f"body exceeds {_size(limit)}{after}",
        kind="too_large",
        url=url,
        hint="raise network.max_bytes in feeds.yaml if this source is really that large",
    )


# --------------------------------------------------------------------------- header parsing


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    """HTTP dates are GMT; a naive datetime (from a clock or a sloppy server) is taken as UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(parsedate_to_datetime(value.strip()))
    except (TypeError, ValueError, IndexError):
        return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date, never negative."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    when = _http_date(text)
    return None if when is None else max(0.0, (when - _aware(now)).total_seconds())


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def parse_max_age(headers: dict[str, str], now: datetime) -> float | None:
    """Freshness in seconds: Cache-Control max-age, else Expires minus Date.

    An Expires that is not a date ('0', '-1') means already stale (RFC 9111), so 0.
    """
    m = _MAX_AGE.search(headers.get("cache-control", ""))
    if m:
        return float(m.group(1))
    if "expires" not in headers:
        return None
    expires = _http_date(headers["expires"])
    if expires is None:
        return 0.0
    base = _http_date(headers.get("date")) or _aware(now)
    return max(0.0, (expires - base).total_seconds())


_SINGLETONS = frozenset(
    {"date", "expires", "last-modified", "etag", "content-type", "location", "retry-after"}
)


def _decode_headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated list headers joined with ', ' as HTTP allows.

    A repeated single-value header (two Dates, say) keeps its first value: joined,
    'Mon, 03 Feb 2025 ...' values would no longer parse as dates.
    """
    out: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key not in out:
            out[key] = text
        elif key not in _SINGLETONS:
            out[key] = f"{out[key]}, {text}"
    return out


# --------------------------------------------------------------------------- per-host gates


@dataclass
class _HostGate:
    """Per-host politeness: concurrency limit, spacing and cool-down (monotonic times)."""

    slots: asyncio.Semaphore
    next_start: float = 0.0
    cool_until: float = 0.0
    users: int = 0

    def is_quiet(self, now: float) -> bool:
        return self.users == 0 and self.cool_until <= now and self.next_start <= now


async def _sleep_until(moment: Callable[[], float]) -> None:
    """Sleep until `moment()` passes; re-read, since a cool-down may be extended meanwhile."""
    while (delay := moment() - time.monotonic()) > 0:
        await asyncio.sleep(delay)


# --------------------------------------------------------------------------- the fetcher


@lru_cache(maxsize=4096)
def _parse_url(text: str) -> httpx.URL:
    """httpx parses in tens of microseconds a call, and the daemon polls the same URLs all day."""
    return httpx.URL(text)


@dataclass
class _Call:
    """One get()/post() as asked by the caller, plus its redirect chain so far."""

    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    content: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    visited: list[str] = field(default_factory=list)
    permanent: str | None = None
    only_permanent: bool = True
    started: float | None = None
    deadline: float | None = None


@dataclass(frozen=True)
class _Raw:
    """One hop's response: status, headers and (for 2xx) the capped, decoded body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


_FOREIGN = (
    TimeoutError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
)
_STALE = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)


class Fetcher:
    """The guarded HTTP client. Use as ``async with Fetcher(policy) as f: await f.get(url)``.

    `now` is the wall clock used to read HTTP dates (Retry-After, Expires);
    `resolver` replaces the OS resolver (tests, or a caching resolver later).
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        now: Callable[[], datetime] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy
        self._now = now or _utcnow
        self._allow = _allow_list(tuple(policy.allow_private))
        self._backend = _GuardedBackend(policy.allow_private, resolver or system_resolver)
        self._pool = _Pool(self._new_connection, max_idle=policy.max_connections)
        self._slots = asyncio.Semaphore(policy.max_connections)
        self._gates: dict[str, _HostGate] = {}
        self._tls: ssl.SSLContext | None = None
        self._timeouts = {
            "connect": policy.connect_timeout,
            "read": policy.total_timeout,
            "write": policy.total_timeout,
            "pool": policy.total_timeout,
        }
        self._base_headers = [
            (b"User-Agent", policy.user_agent.encode("latin-1")),
            (b"Accept-Encoding", b"gzip, deflate"),
        ]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close idle connections; connections still in use are closed when they finish."""
        await self._pool.aclose()

    # ----------------------------------------------------------------- public requests

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
    ) -> FetchResult:
        """GET `url`, following redirects; validators make it conditional (304 -> not_modified)."""
        headers = self._base_headers + [(b"Accept", _latin1(accept or "*/*"))]
        if etag:
            headers.append((b"If-None-Match", _latin1(etag)))
        if last_modified:
            headers.append((b"If-Modified-Since", _latin1(last_modified)))
        return await self._fetch(_Call("GET", url, headers, etag=etag, last_modified=last_modified))

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> FetchResult:
        """POST for webhooks: same guard, deadline and cap; a redirect is an error, not followed.

        Following a webhook's redirect would re-send a signed payload somewhere unvetted.
        """
        given = {k.lower() for k in headers}
        defaults = [(k, v) for k, v in self._base_headers if k.decode().lower() not in given]
        extra = [
            (_latin1(k), _latin1(v))
            for k, v in headers.items()
            if k.lower() not in ("host", "content-length")
        ]
        sized = [(b"Content-Length", str(len(content)).encode())]
        return await self._fetch(_Call("POST", url, defaults + extra + sized, content))

    # ----------------------------------------------------------------- politeness

    def cool_down(self, host: str, seconds: float) -> None:
        """Hold every request to `host` for `seconds` (extends, never shortens, a cool-down).

        The daemon calls this after a 429/503 so all feeds of that host back off together.
        """
        gate = self._gate(host)
        gate.cool_until = max(gate.cool_until, time.monotonic() + seconds)

    def cooling_until(self, host: str) -> float | None:
        """When `host`'s cool-down ends, on the time.monotonic() clock; None if not cooling."""
        gate = self._gates.get(_norm_host(host))
        return gate.cool_until if gate and gate.cool_until > time.monotonic() else None

    def _gate(self, host: str) -> _HostGate:
        key = _norm_host(host)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _HostGate(asyncio.Semaphore(self.policy.max_per_host))
        return gate

    @asynccontextmanager
    async def _turn(self, host: str) -> AsyncIterator[None]:
        """Wait for a host slot, the cool-down, a global slot and the host spacing, in that order.

        The global slot is taken last so a queue for one slow host never starves the others.
        """
        gate = self._gate(host)
        gate.users += 1
        try:
            async with gate.slots:
                await _sleep_until(lambda: gate.cool_until)
                async with self._slots:
                    await _sleep_until(lambda: gate.next_start)
                    gate.next_start = time.monotonic() + self.policy.min_host_interval
                    yield
        finally:
            gate.users -= 1
            if gate.is_quiet(time.monotonic()):
                self._gates.pop(_norm_host(host), None)

    # ----------------------------------------------------------------- the redirect chain

    async def _fetch(self, call: _Call) -> FetchResult:
        """Run the call and translate every foreign error exactly once."""
        if self._pool.closed:
            raise RuntimeError("this Fetcher is closed")
        try:
            return await self._follow(call)
        except BlockedURLError as e:
            if e.url == call.url and not call.visited:
                raise
            via = f" (reached by a redirect from {call.url})" if call.visited else ""
            raise BlockedURLError(e.message + via, url=call.url) from None
        except _FOREIGN as e:
            raise self._translate(e, call) from e

    async def _follow(self, call: _Call) -> FetchResult:
        url = self._checked_url(call.url, call)
        while True:
            raw = await self._exchange(call, url)
            target = self._next_hop(call, url, raw)
            if target is None:
                return self._finish(call, url, raw)
            url = target

    def _checked_url(self, text: str, call: _Call) -> httpx.URL:
        """Parse and pre-screen a URL (scheme, numeric host); the connect-time guard decides."""
        try:
            host = urlsplit(text).hostname or ""
            url = None if self._blocks_numeric(host) else _parse_url(text)
        except (ValueError, httpx.InvalidURL) as e:
            raise FetchError(f"not a valid URL: {text} ({e})", kind="protocol", url=call.url) from e
        if url is None:
            raise self._numeric_blocked(host, call)
        if url.scheme not in ("http", "https"):
            raise BlockedURLError(
                f"only http and https URLs can be fetched, not {url.scheme or 'relative'} URLs "
                f"like {text}",
                url=call.url,
            )
        if not url.host or not 0 < (url.port or 80) < 65536:
            raise FetchError(
                f"not a valid URL (host or port): {text}", kind="protocol", url=call.url
            )
        return url

    def _blocks_numeric(self, host: str) -> bool:
        ip = _numeric_host(host)
        if ip is None or self._allow.allows_host(host) or self._allow.allows_ip(ip):
            return False
        return _why_not_public(ip) is not None

    def _numeric_blocked(self, host: str, call: _Call) -> BlockedURLError:
        ip = _numeric_host(host)
        assert ip is not None
        return BlockedURLError(
            _blocked_message(host, ip, _why_not_public(ip) or "reserved"), url=call.url
        )

    def _next_hop(self, call: _Call, url: httpx.URL, raw: _Raw) -> httpx.URL | None:
        """The redirect target to fetch next, or None when `raw` is the final answer."""
        if raw.status >= 400:
            raise self._http_error(call, url, raw)
        if call.method != "GET" and 300 <= raw.status < 400:
            raise FetchError(
                f"{url} answered with a redirect (HTTP {raw.status}"
                f"{' to ' + raw.headers['location'] if 'location' in raw.headers else ''}); "
                "webhook deliveries do not follow redirects",
                kind="redirects",
                url=call.url,
                status=raw.status,
                hint="configure the webhook with its final URL",
            )
        if raw.status not in _REDIRECTS:
            return None
        location = raw.headers.get("location")
        if not location:
            raise FetchError(
                f"{url} answered HTTP {raw.status} without a Location",
                kind="protocol",
                url=call.url,
                status=raw.status,
            )
        try:
            joined = url.join(location.strip())
        except httpx.InvalidURL as e:
            raise FetchError(
                f"{url} redirected to an invalid URL: {location} ({e})",
                kind="protocol",
                url=call.url,
            ) from e
        self._record_hop(call, url, joined, raw.status)
        return self._checked_url(str(joined), call)

    def _record_hop(self, call: _Call, here: httpx.URL, target: httpx.URL, status: int) -> None:
        """Detect loops and over-long chains; remember where the leading permanent redirects lead.

        Only the run of 301/308 from the start counts: after a 302 the rest is temporary.
        """
        call.visited.append(str(here.copy_with(fragment=None)))
        where = str(target.copy_with(fragment=None))
        if where in call.visited:
            raise FetchError(
                f"redirect loop: {' -> '.join(call.visited + [where])}",
                kind="redirects",
                url=call.url,
            )
        if len(call.visited) > self.policy.max_redirects:
            raise FetchError(
                f"more than {self.policy.max_redirects} redirects (gave up at {where})",
                kind="redirects",
                url=call.url,
            )
        call.only_permanent = call.only_permanent and status in _PERMANENT
        if call.only_permanent:
            call.permanent = str(target)

    # ----------------------------------------------------------------- one hop

    async def _exchange(self, call: _Call, url: httpx.URL) -> _Raw:
        """One request/response under the host's turn and the call's single deadline.

        The deadline starts when the first hop gets its turn: queueing behind other
        feeds or a cool-down is not the server's slowness.
        """
        async with self._turn(url.host):
            loop = asyncio.get_running_loop()
            if call.deadline is None:
                call.started = time.monotonic()
                call.deadline = loop.time() + self.policy.total_timeout
            async with asyncio.timeout_at(call.deadline):
                return await self._send(call, url)

    async def _send(self, call: _Call, url: httpx.URL) -> _Raw:
        request = self._request(call, url)
        conn, response = await self._open(request, idempotent=call.method == "GET")
        try:
            raw = await self._read(call, response)
            await response.aclose()
        except BaseException:
            await _close_quietly(conn)
            raise
        await self._pool.give_back(request.url.origin, conn)
        return raw

    async def _open(
        self, request: httpcore.Request, *, idempotent: bool
    ) -> tuple[httpcore.AsyncHTTPConnection, httpcore.Response]:
        """Send on a pooled connection; a GET finding it closed by the server retries once, anew."""
        conn, reused = await self._pool.take(request.url.origin)
        try:
            return conn, await _ask(conn, request)
        except _STALE:
            if not (reused and idempotent):
                raise
        conn = self._pool.make(request.url.origin)
        return conn, await _ask(conn, request)

    def _request(self, call: _Call, url: httpx.URL) -> httpcore.Request:
        target = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        headers = [(b"Host", url.netloc), *call.headers, *_basic_auth(url)]
        return httpcore.Request(
            call.method,
            target,
            headers=headers,
            content=call.content,
            extensions={"timeout": self._timeouts},
        )

    async def _read(self, call: _Call, response: httpcore.Response) -> _Raw:
        """Headers, and the body only for 2xx: error and redirect bodies are just drained."""
        headers = _decode_headers(response.headers)
        reason = response.extensions.get("reason_phrase", b"").decode("latin-1", "replace")
        if not 200 <= response.status < 300:
            await _drain(response)
            return _Raw(response.status, reason, headers, b"")
        encoding = _content_encoding(headers, call.url)
        length = headers.get("content-length", "")
        if encoding is None and length.isdigit() and int(length) > self.policy.max_bytes:
            raise _too_large(self.policy.max_bytes, call.url, decompressed=False)
        body = _Body(encoding, self.policy.max_bytes, call.url)
        async for chunk in response.aiter_stream():
            body.feed(chunk)
        return _Raw(response.status, reason, headers, body.finish())

    def _new_connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        tls = self._tls_context() if origin.scheme == b"https" else None
        return httpcore.AsyncHTTPConnection(
            origin,
            ssl_context=tls,
            keepalive_expiry=_KEEPALIVE_SECONDS,
            network_backend=self._backend,
        )

    def _tls_context(self) -> ssl.SSLContext:
        """One context for all connections: building one loads the CA bundle (tens of ms).

        certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set (a newsroom's own CA);
        proxy variables are never read.
        """
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=True)
        return self._tls

    # ----------------------------------------------------------------- results and errors

    def _finish(self, call: _Call, url: httpx.URL, raw: _Raw) -> FetchResult:
        h, not_modified = raw.headers, raw.status == 304
        return FetchResult(
            url=call.url,
            final_url=str(url),
            status=raw.status,
            headers=h,
            content=raw.body,
            etag=h.get("etag") or (call.etag if not_modified else None),
            last_modified=h.get("last-modified") or (call.last_modified if not_modified else None),
            not_modified=not_modified,
            permanent_redirect=call.permanent,
            content_type=h.get("content-type"),
            max_age=parse_max_age(h, self._now()),
            elapsed=time.monotonic() - (call.started or time.monotonic()),
            content_hash=hashlib.sha256(raw.body).hexdigest(),
        )

    def _http_error(self, call: _Call, url: httpx.URL, raw: _Raw) -> FetchError:
        reason = raw.reason or _phrase(raw.status)
        retry = parse_retry_after(raw.headers.get("retry-after"), self._now())
        where = f"{url}" if str(url) == call.url else f"{url} (redirected from {call.url})"
        status = f"HTTP {raw.status} {reason}" if reason else f"HTTP {raw.status}"
        return FetchError(
            f"{status} from {where}",
            kind="http",
            url=call.url,
            status=raw.status,
            retry_after=retry,
            hint=_http_hint(raw.status, retry),
        )

    def _translate(self, e: BaseException, call: _Call) -> FetchError:
        """The one place httpcore/socket errors become FetchError, with words a newsroom can use."""
        p = self.policy
        if isinstance(e, TimeoutError):
            return FetchError(
                f"timed out after {p.total_timeout:g}s (total deadline)",
                kind="timeout",
                url=call.url,
                hint="the server is too slow; it will be tried again later",
            )
        if isinstance(e, httpcore.ConnectTimeout):
            detail = f" ({_message(e)})" if str(e) else ""
            return FetchError(
                f"could not connect within {p.connect_timeout:g}s{detail}",
                kind="timeout",
                url=call.url,
            )
        if isinstance(e, httpcore.TimeoutException):
            return FetchError(
                f"the server stopped responding for {p.total_timeout:g}s",
                kind="timeout",
                url=call.url,
            )
        if isinstance(e, httpcore.LocalProtocolError):
            return FetchError(f"could not send the request ({e})", kind="protocol", url=call.url)
        if isinstance(e, httpcore.ProtocolError):
            return FetchError(
                f"the server sent an invalid HTTP response ({e})", kind="protocol", url=call.url
            )
        if isinstance(e, httpcore.ConnectError):
            return FetchError(f"could not connect: {_message(e)}", kind="network", url=call.url)
        return FetchError(f"network error: {_message(e)}", kind="network", url=call.url)


async def _ask(conn: httpcore.AsyncHTTPConnection, request: httpcore.Request) -> httpcore.Response:
    """Send `request`; a connection that failed mid-request is closed, never pooled."""
    try:
        return await conn.handle_async_request(request)
    except BaseException:
        await _close_quietly(conn)
        raise


async def _drain(response: httpcore.Response) -> None:
    """Read a small unwanted body so the connection can be reused; give up on big ones."""
    read = 0
    async for chunk in response.aiter_stream():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return


def _latin1(text: str) -> bytes:
    """Header bytes; a stored validator with stray characters degrades to ? and never crashes."""
    return text.encode("latin-1", "replace")


def _basic_auth(url: httpx.URL) -> list[tuple[bytes, bytes]]:
    """user:password@ in a feed URL becomes Basic auth, as browsers and feed readers do."""
    if not url.userinfo:
        return []
    token = base64.b64encode(unquote_to_bytes(url.userinfo.decode("ascii")))
    return [(b"Authorization", b"Basic " + token)]


def _message(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return re.sub(r"\[Errno -?\d+\]\s*", "", text)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _http_hint(status: int, retry_after: float | None) -> str | None:
    """What a newsroom user can do about an HTTP error."""
    if status in (429, 503):
        wait = f" in {retry_after:g}s" if retry_after is not None else " later"
        return f"the site asks us to slow down; it will be tried again{wait}"
    if status == 410:
        return "the site says this address is gone for good; remove or replace it in feeds.yaml"
    if status == 404:
        return "check the address; the site may have moved or removed it"
    if status in (401, 403):
        return "the site refuses access; it may need a login or block automated readers"
    if status >= 500:
        return "the site has a problem on its side; it will be tried again later"
    return None
