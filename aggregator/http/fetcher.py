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
when polling many feeds.  Every httpcore/socket error is translated once, into
:class:`FetchError`.

The parts live beside it: ``http.guard`` (the SSRF verdict), ``http.backend`` (resolving,
connecting, the keep-alive pool), ``http.bodies`` (size caps after decompression),
``http.headers``, ``http.politeness`` (per-host turns and cool-downs) and ``http.errors``
(the one translation of foreign errors); ``http.policy`` holds the limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpcore
import httpx

from aggregator.exceptions import BlockedURLError, FetchError, FetchProtocolError, RedirectError
from aggregator.http.backend import (
    ConnectionPool,
    GuardedBackend,
    Resolver,
    close_quietly,
    send_request,
    system_resolver,
)
from aggregator.http.bodies import Body, content_encoding, drain, too_large
from aggregator.http.errors import FOREIGN, http_error, translate
from aggregator.http.guard import allow_list, numeric_block
from aggregator.http.headers import (
    basic_auth,
    decode_headers,
    latin1,
    parse_max_age,
    parse_retry_after,
    utcnow,
)
from aggregator.http.policy import FetchPolicy
from aggregator.http.politeness import HostGates
from aggregator.urls import ambiguous_authority

__all__ = ["FetchResult", "Fetcher"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_KEEPALIVE_SECONDS = 30.0


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
        self._now = now or utcnow
        self._allow = allow_list(tuple(policy.allow_private))
        self._backend = GuardedBackend(policy.allow_private, resolver or system_resolver)
        self._pool = ConnectionPool(self._new_connection, max_idle=policy.max_connections)
        self._gates = HostGates(
            max_connections=policy.max_connections,
            max_per_host=policy.max_per_host,
            min_interval=policy.min_host_interval,
        )
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
        headers = self._base_headers + [(b"Accept", latin1(accept or "*/*"))]
        if etag:
            headers.append((b"If-None-Match", latin1(etag)))
        if last_modified:
            headers.append((b"If-Modified-Since", latin1(last_modified)))
        return await self._fetch(_Call("GET", url, headers, etag=etag, last_modified=last_modified))

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> FetchResult:
        """POST for webhooks: same guard, deadline and cap; a redirect is an error, not followed.

        Following a webhook's redirect would re-send a signed payload somewhere unvetted.
        """
        given = {k.lower() for k in headers}
        defaults = [(k, v) for k, v in self._base_headers if k.decode().lower() not in given]
        extra = [
            (latin1(k), latin1(v))
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
        self._gates.cool_down(host, seconds)

    def cooling_until(self, host: str) -> float | None:
        """When `host`'s cool-down ends, on the time.monotonic() clock; None if not cooling."""
        return self._gates.cooling_until(host)

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
        except FOREIGN as e:
            raise translate(
                e,
                url=call.url,
                total_timeout=self.policy.total_timeout,
                connect_timeout=self.policy.connect_timeout,
            ) from e

    async def _follow(self, call: _Call) -> FetchResult:
        url = self._checked_url(call.url, call)
        while True:
            raw = await self._exchange(call, url)
            target = self._next_hop(call, url, raw)
            if target is None:
                return self._finish(call, url, raw)
            url = target

    def _checked_url(self, text: str, call: _Call) -> httpx.URL:
        """Parse and pre-screen a URL (authority, scheme, numeric host); the connect-time
        guard decides on the address."""
        ambiguous = ambiguous_authority(text)
        if ambiguous is not None:
            raise BlockedURLError(
                f"refusing an ambiguous URL ({ambiguous}): {text}",
                url=call.url,
                hint="write the URL plainly: scheme://host[:port]/path, credentials "
                "percent-encoded, no backslash",
            )
        try:
            host = urlsplit(text).hostname or ""
            blocked = numeric_block(host, self._allow, call.url)
            if blocked is None:
                url = _parse_url(text)
        except (ValueError, httpx.InvalidURL) as e:
            raise FetchProtocolError(f"not a valid URL: {text} ({e})", url=call.url) from e
        if blocked is not None:
            raise blocked
        if url.scheme not in ("http", "https"):
            bare = not url.scheme or "://" not in text
            raise BlockedURLError(
                f"only http and https URLs can be fetched, not {url.scheme or 'relative'} URLs "
                f"like {text}",
                url=call.url,
                hint=f"add the scheme: https://{text.rsplit('://', maxsplit=1)[-1]}"
                if bare
                else "use an http:// or https:// URL",
            )
        if not url.host or not 0 < (url.port or 80) < 65536:
            raise FetchProtocolError(f"not a valid URL (host or port): {text}", url=call.url)
        return url

    def _next_hop(self, call: _Call, url: httpx.URL, raw: _Raw) -> httpx.URL | None:
        """The redirect target to fetch next, or None when `raw` is the final answer."""
        if raw.status >= 400:
            raise self._http_error(call, url, raw)
        if call.method != "GET" and 300 <= raw.status < 400:
            raise RedirectError(
                f"{url} answered with a redirect (HTTP {raw.status}"
                f"{' to ' + raw.headers['location'] if 'location' in raw.headers else ''}); "
                "webhook deliveries do not follow redirects",
                url=call.url,
                status=raw.status,
                hint="configure the webhook with its final URL",
            )
        if raw.status not in _REDIRECTS:
            return None
        location = raw.headers.get("location")
        if not location:
            raise FetchProtocolError(
                f"{url} answered HTTP {raw.status} without a Location",
                url=call.url,
                status=raw.status,
            )
        ambiguous = ambiguous_authority(location.strip())  # before joining re-encodes it
        if ambiguous is not None:
            raise BlockedURLError(
                f"{url} redirected to an ambiguous URL ({ambiguous}): {location}", url=call.url
            )
        try:
            joined = url.join(location.strip())
        except httpx.InvalidURL as e:
            raise FetchProtocolError(
                f"{url} redirected to an invalid URL: {location} ({e})",
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
            raise RedirectError(
                f"redirect loop: {' -> '.join(call.visited + [where])}",
                url=call.url,
            )
        if len(call.visited) > self.policy.max_redirects:
            raise RedirectError(
                f"more than {self.policy.max_redirects} redirects (gave up at {where})",
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
        async with self._gates.turn(url.host):
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
            await close_quietly(conn)
            raise
        await self._pool.give_back(request.url.origin, conn)
        return raw

    async def _open(
        self, request: httpcore.Request, *, idempotent: bool
    ) -> tuple[httpcore.AsyncHTTPConnection, httpcore.Response]:
        """Send on a pooled connection; a GET finding it closed by the server retries once, anew."""
        conn, reused = await self._pool.take(request.url.origin)
        try:
            return conn, await send_request(conn, request)
        except _STALE:
            if not (reused and idempotent):
                raise
        conn = self._pool.make(request.url.origin)
        return conn, await send_request(conn, request)

    def _request(self, call: _Call, url: httpx.URL) -> httpcore.Request:
        target = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        headers = [(b"Host", url.netloc), *call.headers, *basic_auth(url)]
        return httpcore.Request(
            call.method,
            target,
            headers=headers,
            content=call.content,
            extensions={"timeout": self._timeouts},
        )

    async def _read(self, call: _Call, response: httpcore.Response) -> _Raw:
        """Headers, and the body only for 2xx: error and redirect bodies are just drained."""
        headers = decode_headers(response.headers)
        reason = response.extensions.get("reason_phrase", b"").decode("latin-1", "replace")
        if not 200 <= response.status < 300:
            await drain(response)
            return _Raw(response.status, reason, headers, b"")
        encoding = content_encoding(headers, call.url)
        length = headers.get("content-length", "")
        if encoding is None and length.isdigit() and int(length) > self.policy.max_bytes:
            raise too_large(self.policy.max_bytes, call.url, decompressed=False)
        body = Body(encoding, self.policy.max_bytes, call.url)
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
        where = f"{url}" if str(url) == call.url else f"{url} (redirected from {call.url})"
        return http_error(
            url=call.url,
            where=where,
            status=raw.status,
            reason=raw.reason,
            retry_after=parse_retry_after(raw.headers.get("retry-after"), self._now()),
        )
