"""The connection backend: resolve once, vet, connect to the vetted IP, keep connections alive.

httpcore's own anyio backend and general pool dominated the client's CPU when polling
many feeds (a cancel scope per read, a rescan of every connection per request), so
httpcore's HTTP/1.1 connections run over plain asyncio streams and a tiny pool of
our own.  Errors here are httpcore's; ``http.errors`` translates them, once.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any

import httpcore

from aggregator.http.guard import IPAddress, as_ip, check_host_allowed

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Async ``(host, port) -> addresses``; injectable so tests can simulate DNS."""


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


class GuardedBackend(httpcore.AsyncNetworkBackend):
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
            return [as_ip(host)]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                found = [as_ip(a) for a in await self._resolve(host, port)]
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


async def close_quietly(conn: httpcore.AsyncHTTPConnection) -> None:
    """Closing a broken or abandoned connection can only fail in ways nobody can act on."""
    with suppress(Exception):
        await conn.aclose()


class ConnectionPool:
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
            await close_quietly(conn)
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
            await close_quietly(conn)
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
        await close_quietly(victim)

    async def aclose(self) -> None:
        self.closed = True
        stacks, self._idle, self._count = list(self._idle.values()), {}, 0
        for conn in (c for stack in stacks for c in stack):
            await close_quietly(conn)


async def send_request(
    conn: httpcore.AsyncHTTPConnection, request: httpcore.Request
) -> httpcore.Response:
    """Send `request`; a connection that failed mid-request is closed, never pooled."""
    try:
        return await conn.handle_async_request(request)
    except BaseException:
        await close_quietly(conn)
        raise
