"""aggregator.http.fetcher against a real HTTP server on 127.0.0.1 (no mocks).

Only loopback addresses are ever connected to: stub resolvers answer loopback
addresses only, so even a broken guard could not send traffic off this machine.
Guard tests prove a refusal by showing the server never saw the request.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.exceptions import BlockedURLError, ConfigError, FetchError
from aggregator.http.fetcher import Fetcher
from aggregator.http.guard import check_host_allowed, is_public_address
from aggregator.http.headers import parse_max_age, parse_retry_after
from aggregator.http.policy import FetchPolicy
from tests.support.httpserver import LoopbackServer, Request, Response, gzip_bomb, validated

LOCAL = ("127.0.0.1/32",)
NOW = datetime(2025, 2, 3, 12, 0, 0, tzinfo=UTC)


def local(**kw: Any) -> FetchPolicy:
    """A policy that may reach the loopback test server."""
    return FetchPolicy(allow_private=LOCAL, **kw)


def http_date(when: datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


async def fetch_error(fetcher: Fetcher, url: str, **kw: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.get(url, **kw)
    return info.value


class RawListener:
    """A bare TCP listener that counts connections and answers each with fixed bytes."""

    def __init__(self, host: str, reply: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn, suppress(OSError):
                conn.recv(65536)
                conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def http_server() -> Iterator[LoopbackServer]:
    """One loopback server for the module (shadows conftest's per-test one).

    LoopbackServer.close() waits out serve_forever's 0.5 s poll, which over ~50
    tests would cost 25 s; `fresh_server` below gives each test a clean slate instead.
    """
    server = LoopbackServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fresh_server(http_server: LoopbackServer) -> None:
    """Each test starts with no routes and no recorded requests."""
    with http_server._lock:
        http_server.requests.clear()
    http_server.routes.clear()


@pytest.fixture
def listener_127_0_0_2() -> Iterator[RawListener]:
    raw = RawListener("127.0.0.2")
    yield raw
    raw.close()


# --------------------------------------------------------------------------- success paths


async def test_200_parses_headers_and_body(http_server: LoopbackServer) -> None:
    body = b"<rss>news</rss>"
    url = http_server.route(
        "/feed",
        body,
        content_type="application/rss+xml; charset=utf-8",
        headers={
            "ETag": '"abc"',
            "Last-Modified": "Mon, 03 Feb 2025 12:36:00 GMT",
            "Cache-Control": "public, max-age=300",
            "X-Custom": "yes",
        },
    )
    async with Fetcher(local()) as f:
        r = await f.get(url, accept="application/rss+xml")
    assert (r.status, r.content, r.url, r.final_url) == (200, body, url, url)
    assert r.etag == '"abc"' and r.last_modified == "Mon, 03 Feb 2025 12:36:00 GMT"
    assert r.content_type == "application/rss+xml; charset=utf-8"
    assert r.max_age == 300.0 and r.headers["x-custom"] == "yes"
    assert all(k == k.lower() for k in r.headers)
    assert r.content_hash == hashlib.sha256(body).hexdigest()
    assert not r.not_modified and r.permanent_redirect is None and 0 < r.elapsed < 5
    sent = http_server.requests_for("/feed")[0].headers
    assert sent["user-agent"].startswith("aggregator/") and sent["accept"] == "application/rss+xml"
    assert sent["host"] == f"127.0.0.1:{http_server.port}"


async def test_max_age_from_expires_minus_date(http_server: LoopbackServer) -> None:
    """The test server sends its own Date first; a second Date must not break the parse."""
    expires = http_date(datetime.now(UTC) + timedelta(hours=1))
    url = http_server.route("/exp", "x", headers={"Date": http_date(NOW), "Expires": expires})
    async with Fetcher(local()) as f:
        r = await f.get(url)
    assert r.max_age is not None and 3597 <= r.max_age <= 3601
    assert r.headers["expires"] == expires


def test_parse_max_age_and_retry_after_edge_cases() -> None:
    assert parse_max_age({"cache-control": 'max-age="60", must-revalidate'}, NOW) == 60.0
    assert parse_max_age({"cache-control": "s-maxage=99"}, NOW) is None
    assert parse_max_age({"expires": "0"}, NOW) == 0.0  # invalid Expires means already stale
    assert parse_max_age({"expires": http_date(NOW + timedelta(seconds=30))}, NOW) == 30.0
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(http_date(NOW - timedelta(hours=1)), NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


async def test_identical_bodies_share_a_content_hash(http_server: LoopbackServer) -> None:
    a = http_server.route("/a", "same")
    b = http_server.route("/b", "same", headers={"X-Other": "1"})
    async with Fetcher(local()) as f:
        assert (await f.get(a)).content_hash == (await f.get(b)).content_hash


async def test_conditional_get_sends_validators_and_gets_304(http_server: LoopbackServer) -> None:
    lm = "Mon, 03 Feb 2025 12:36:00 GMT"
    url = http_server.handle("/feed", validated(b"<rss/>", etag='"v1"', last_modified=lm))
    async with Fetcher(local()) as f:
        first = await f.get(url)
        second = await f.get(url, etag=first.etag, last_modified=first.last_modified)
    assert first.status == 200 and first.etag == '"v1"'
    assert second.not_modified and second.status == 304 and second.content == b""
    assert second.etag == '"v1"' and second.last_modified == lm
    sent = http_server.requests_for("/feed")[1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == lm


async def test_304_without_validators_keeps_the_ones_sent(http_server: LoopbackServer) -> None:
    url = http_server.route("/bare304", b"", status=304)
    async with Fetcher(local()) as f:
        r = await f.get(url, etag='"old"', last_modified="Sun, 02 Feb 2025 00:00:00 GMT")
    assert (
        r.not_modified and r.etag == '"old"' and r.last_modified == "Sun, 02 Feb 2025 00:00:00 GMT"
    )


@pytest.mark.parametrize(
    "encoding,compress",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ],
)
async def test_compressed_bodies_are_decoded(
    http_server: LoopbackServer, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = b"<rss>" + b"story " * 5000 + b"</rss>"
    url = http_server.route("/z", compress(body), headers={"Content-Encoding": encoding})
    async with Fetcher(local()) as f:
        r = await f.get(url)
    assert r.content == body and r.content_hash == hashlib.sha256(body).hexdigest()
    assert "gzip" in http_server.requests_for("/z")[0].headers["accept-encoding"]


async def test_keep_alive_reuses_one_connection(http_server: LoopbackServer) -> None:
    """Name resolution happens per new connection, so one lookup for three GETs proves reuse."""
    http_server.route("/k", "x")
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    async with Fetcher(local(), resolver=resolver) as f:
        for _ in range(3):
            assert (await f.get(f"http://feeds.example:{http_server.port}/k")).status == 200
    assert lookups == ["feeds.example"]
    assert http_server.requests_for("/k")[0].headers["host"] == f"feeds.example:{http_server.port}"


async def test_credentials_in_url_become_basic_auth(http_server: LoopbackServer) -> None:
    http_server.route("/private", "ok")
    async with Fetcher(local()) as f:
        await f.get(f"http://editor:p%40ss@127.0.0.1:{http_server.port}/private")
    auth = http_server.requests_for("/private")[0].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(b"editor:p@ss").decode()


# --------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize("status", [404, 500, 410, 403])
async def test_error_statuses_raise_http_error(http_server: LoopbackServer, status: int) -> None:
    url = http_server.route("/e", "nope", status=status)
    async with Fetcher(local()) as f:
        err = await fetch_error(f, url)
    assert (err.kind, err.status, err.url, err.retry_after) == ("http", status, url, None)
    assert f"HTTP {status}" in err.message and err.hint


async def test_410_hint_says_gone_for_good(http_server: LoopbackServer) -> None:
    async with Fetcher(local()) as f:
        err = await fetch_error(f, http_server.route("/gone", "", status=410))
    assert "Gone" in err.message and err.hint is not None and "gone for good" in err.hint


async def test_429_retry_after_seconds(http_server: LoopbackServer) -> None:
    url = http_server.route("/slow", "", status=429, headers={"Retry-After": "120"})
    async with Fetcher(local(), now=lambda: NOW) as f:
        err = await fetch_error(f, url)
    assert (err.kind, err.status, err.retry_after) == ("http", 429, 120.0)


async def test_503_retry_after_http_date_uses_injected_clock(http_server: LoopbackServer) -> None:
    when = http_date(NOW + timedelta(seconds=90))
    url = http_server.route("/maint", "", status=503, headers={"Retry-After": when})
    async with Fetcher(local(), now=lambda: NOW) as f:
        err = await fetch_error(f, url)
    assert (err.status, err.retry_after) == (503, 90.0)


# --------------------------------------------------------------------------- redirects


def redirect(server: LoopbackServer, path: str, to: str, status: int = 301) -> str:
    return server.route(path, "", status=status, headers={"Location": to})


async def test_301_chain_is_reported_as_permanent(http_server: LoopbackServer) -> None:
    start = redirect(http_server, "/a", "/b")
    redirect(http_server, "/b", http_server.url("/c"), status=308)
    final = http_server.route("/c", "<rss/>")
    async with Fetcher(local()) as f:
        r = await f.get(start)
    assert (r.url, r.final_url, r.permanent_redirect, r.content) == (start, final, final, b"<rss/>")


async def test_302_is_not_permanent(http_server: LoopbackServer) -> None:
    start = redirect(http_server, "/tmp", "/dest", status=302)
    final = http_server.route("/dest", "x")
    async with Fetcher(local()) as f:
        r = await f.get(start)
    assert r.final_url == final and r.permanent_redirect is None


async def test_permanent_target_stops_at_first_temporary_hop(http_server: LoopbackServer) -> None:
    """301 then 302: the feed moved to /b for good; /c is only where /b points today."""
    start = redirect(http_server, "/a", "/b", status=301)
    redirect(http_server, "/b", "/c", status=302)
    http_server.route("/c", "x")
    async with Fetcher(local()) as f:
        r = await f.get(start)
    assert r.permanent_redirect == http_server.url("/b") and r.final_url == http_server.url("/c")


async def test_redirect_loop(http_server: LoopbackServer) -> None:
    start = redirect(http_server, "/x", "/y", status=302)
    redirect(http_server, "/y", "/x", status=302)
    async with Fetcher(local()) as f:
        err = await fetch_error(f, start)
    assert err.kind == "redirects" and "loop" in err.message
    assert len(http_server.requests_for("/x")) == 1


async def test_too_many_redirects(http_server: LoopbackServer) -> None:
    for i in range(6):
        redirect(http_server, f"/r{i}", f"/r{i + 1}", status=302)
    http_server.route("/r6", "end")
    async with Fetcher(local(max_redirects=5)) as f:
        err = await fetch_error(f, http_server.url("/r0"))
        assert http_server.requests_for("/r6") == []  # gave up before the sixth hop
        ok = await f.get(http_server.url("/r1"))  # exactly five hops is fine
    assert err.kind == "redirects" and "more than 5 redirects" in err.message
    assert ok.content == b"end"


async def test_redirect_without_location_is_a_protocol_error(http_server: LoopbackServer) -> None:
    url = http_server.route("/nowhere", "", status=302)
    async with Fetcher(local()) as f:
        assert (await fetch_error(f, url)).kind == "protocol"


# --------------------------------------------------------------------------- deadline and size


@pytest.mark.slow
async def test_trickling_body_hits_the_total_deadline(http_server: LoopbackServer) -> None:
    url = http_server.route("/drip", b"x" * 20, trickle=1.0)
    async with Fetcher(local(total_timeout=1.5)) as f:
        start = time.monotonic()
        err = await fetch_error(f, url)
        took = time.monotonic() - start
    assert err.kind == "timeout" and "1.5s (total deadline)" in err.message
    assert 1.4 <= took < 3.0


async def test_slow_headers_hit_the_total_deadline(http_server: LoopbackServer) -> None:
    url = http_server.route("/late", "x", delay=3.0)
    async with Fetcher(local(total_timeout=0.5)) as f:
        start = time.monotonic()
        err = await fetch_error(f, url)
    assert err.kind == "timeout" and time.monotonic() - start < 2.0


async def test_gzip_bomb_is_stopped_with_bounded_memory(http_server: LoopbackServer) -> None:
    bomb = gzip_bomb(100)  # ~100 KB that inflates to 100 MB
    url = http_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    async with Fetcher(local(max_bytes=1024 * 1024)) as f:
        tracemalloc.start()
        try:
            err = await fetch_error(f, url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert err.kind == "too_large" and err.message == "body exceeds 1 MiB after decompression"
    assert len(bomb) < 200_000 and peak < 8 * 1024 * 1024  # vs 100 MB expanded


async def test_plain_body_over_the_cap_is_too_large(http_server: LoopbackServer) -> None:
    url = http_server.route("/big", b"a" * 5000)
    async with Fetcher(local(max_bytes=4096)) as f:
        err = await fetch_error(f, url)
    assert err.kind == "too_large" and "4 KiB" in err.message


@pytest.mark.parametrize("encoding", ["gzip, gzip", "gzip, br", "br", "compress"])
async def test_stacked_or_unknown_encodings_are_protocol_errors(
    http_server: LoopbackServer, encoding: str
) -> None:
    url = http_server.route("/enc", gzip.compress(b"hello"), headers={"Content-Encoding": encoding})
    async with Fetcher(local()) as f:
        err = await fetch_error(f, url)
    assert err.kind == "protocol" and "encoding" in err.message


async def test_truncated_gzip_is_a_protocol_error(http_server: LoopbackServer) -> None:
    url = http_server.route(
        "/cut", gzip.compress(b"story " * 1000)[:-20], headers={"Content-Encoding": "gzip"}
    )
    async with Fetcher(local()) as f:
        err = await fetch_error(f, url)
    assert err.kind == "protocol" and "truncated" in err.message


# --------------------------------------------------------------------------- SSRF guard


async def test_loopback_is_blocked_without_allow_private(http_server: LoopbackServer) -> None:
    url = http_server.route("/feed", "secret")
    async with Fetcher(FetchPolicy()) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(url)
    assert info.value.kind == "blocked" and info.value.url == url
    assert "loopback" in info.value.message and info.value.hint
    assert http_server.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "127.1",
        "0x7f000001",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "localhost",
        "LocalHost",
    ],
)
async def test_numeric_and_named_loopback_forms_are_blocked(
    http_server: LoopbackServer, host: str
) -> None:
    http_server.route("/", "secret")
    async with Fetcher(FetchPolicy()) as f:
        with pytest.raises(BlockedURLError):
            await f.get(f"http://{host}:{http_server.port}/")
    assert http_server.requests == []


async def test_redirect_to_unlisted_address_is_blocked_before_connecting(
    http_server: LoopbackServer, listener_127_0_0_2: RawListener
) -> None:
    target = f"http://127.0.0.2:{listener_127_0_0_2.port}/"
    start = redirect(http_server, "/hop", target, status=302)
    async with Fetcher(FetchPolicy(allow_private=("127.0.0.1",))) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(start)
        await asyncio.sleep(0.05)
    assert "127.0.0.2" in info.value.message and info.value.url == start
    assert "redirect from" in info.value.message
    assert listener_127_0_0_2.accepted == 0


async def test_redirect_from_allowed_name_to_its_ip_is_blocked(http_server: LoopbackServer) -> None:
    """Allowing the name 'localhost' does not allow 127.0.0.1 reached any other way."""
    base = f"http://localhost:{http_server.port}"
    http_server.route("/ok", "fine")
    http_server.route("/start", "", status=302, headers={"Location": http_server.url("/second")})
    http_server.route("/second", "secret")
    async with Fetcher(FetchPolicy(allow_private=("localhost",))) as f:
        assert (await f.get(base + "/ok")).content == b"fine"
        with pytest.raises(BlockedURLError):
            await f.get(base + "/start")
    assert len(http_server.requests_for("/start")) == 1
    assert http_server.requests_for("/second") == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:9/",
        "javascript:alert(1)",
        "/relative/path",
    ],
)
async def test_only_http_and_https_schemes(url: str) -> None:
    async with Fetcher(local()) as f:
        with pytest.raises(BlockedURLError):
            await f.get(url)


async def test_redirect_to_file_scheme_is_blocked(http_server: LoopbackServer) -> None:
    start = redirect(http_server, "/evil", "file:///etc/passwd", status=302)
    async with Fetcher(local()) as f:
        with pytest.raises(BlockedURLError):
            await f.get(start)


async def test_unlisted_dns_answer_is_refused_at_connect_time() -> None:
    """A name whose DNS answer is not allowed is refused before connecting.

    The stub answers only loopback addresses, so even a broken guard could not
    send traffic off this machine; check_host_allowed covers private ranges.
    """

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.3"]

    async with Fetcher(local(), resolver=resolver) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get("http://news.example:9/feed")
    assert "news.example: it resolves to 127.0.0.3, a loopback address" in info.value.message
    assert info.value.url == "http://news.example:9/feed"


async def test_one_bad_address_in_the_answer_blocks_the_host(http_server: LoopbackServer) -> None:
    http_server.route("/latest", "secret")

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "127.0.0.4"]  # first allowed, second not

    async with Fetcher(local(), resolver=resolver) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(f"http://metadata.example:{http_server.port}/latest")
    assert "127.0.0.4" in info.value.message
    assert http_server.requests == []


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("2002:0808:0808::1", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("100.127.255.255", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::808:808", False),
        ("64:ff9b:1::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),
        ("2002:7f00:1::1", False),
        ("2002:0a00:0001::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("2001:db8::1", False),
        ("not-an-ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_check_host_allowed() -> None:
    assert [str(ip) for ip in check_host_allowed("news.example", ["8.8.8.8"])] == ["8.8.8.8"]
    with pytest.raises(BlockedURLError) as info:
        check_host_allowed("news.example", ["8.8.8.8", "169.254.169.254"])
    assert "resolves to 169.254.169.254, a link-local address" in info.value.message
    with pytest.raises(BlockedURLError, match="10.1.2.3, a private address"):
        check_host_allowed("rebind.example", ["10.1.2.3"])
    assert check_host_allowed("intranet", ["10.0.0.1"], ["10.0.0.0/8"])
    assert check_host_allowed("Intranet.", ["10.0.0.1", "192.168.1.1"], ["intranet"])
    with pytest.raises(BlockedURLError):
        check_host_allowed("other", ["192.168.1.1"], ["10.0.0.0/8", "intranet"])


def test_bad_allow_private_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        FetchPolicy(allow_private=("10.0.0.0/33",))
    with pytest.raises(ConfigError):
        FetchPolicy(max_bytes=0)


async def test_proxy_environment_is_ignored(
    http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:1")
    url = http_server.route("/direct", "straight")
    async with Fetcher(local()) as f:
        assert (await f.get(url)).content == b"straight"


# --------------------------------------------------------------------------- TLS


class TLSServer:
    """A one-reply-per-connection HTTPS server on 127.0.0.1 that records the SNI names it saw."""

    def __init__(self, cert: str, key: str) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.server_names: list[str | None] = []
        self.ctx.sni_callback = self._record_sni
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _record_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.server_names.append(name)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    self.requests.append(tls.recv(65536))
                    tls.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )
            except (ssl.SSLError, OSError):
                conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TLSServer]:
    """Self-signed cert for feeds.example, trusted through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=feeds.example",
            "-addext",
            "subjectAltName=DNS:feeds.example",
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = TLSServer(str(cert), str(key))
    yield server
    server.close()


async def to_loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


async def test_https_uses_host_name_for_sni_while_connecting_to_vetted_ip(
    tls_server: TLSServer,
) -> None:
    async with Fetcher(local(), resolver=to_loopback) as f:
        r = await f.get(f"https://feeds.example:{tls_server.port}/feed")
    assert r.content == b"ok" and tls_server.server_names == ["feeds.example"]
    assert f"Host: feeds.example:{tls_server.port}".encode() in tls_server.requests[0]


async def test_https_certificate_must_match_the_host_name(tls_server: TLSServer) -> None:
    async with Fetcher(local(), resolver=to_loopback) as f:
        err = await fetch_error(f, f"https://other.example:{tls_server.port}/feed")
    assert err.kind == "network" and "certificate" in err.message.lower()


# --------------------------------------------------------------------------- network failures


async def test_connection_refused_is_a_network_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with Fetcher(local()) as f:
        err = await fetch_error(f, f"http://127.0.0.1:{port}/")
    assert err.kind == "network" and "Connection refused" in err.message
    assert "[Errno" not in err.message


async def test_garbage_response_is_a_protocol_error() -> None:
    raw = RawListener("127.0.0.1", reply=b"SPDY/9 banana\r\n\r\n")
    try:
        async with Fetcher(local()) as f:
            err = await fetch_error(f, f"http://127.0.0.1:{raw.port}/")
    finally:
        raw.close()
    assert err.kind == "protocol"


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999999/", "http://[::1/", "http://"])
async def test_malformed_urls_are_protocol_errors(url: str) -> None:
    async with Fetcher(local()) as f:
        assert (await fetch_error(f, url)).kind == "protocol"


async def test_server_hanging_up_idle_keep_alive_connections_is_survived() -> None:
    """Like an Apache keep-alive timeout: each connection serves one reply, then closes."""
    raw = RawListener("127.0.0.1", reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        async with Fetcher(local()) as f:
            bodies = [(await f.get(f"http://127.0.0.1:{raw.port}/")).content for _ in range(3)]
    finally:
        raw.close()
    assert bodies == [b"ok"] * 3 and raw.accepted == 3


async def test_unresolvable_name_is_a_network_error() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with Fetcher(FetchPolicy(), resolver=resolver) as f:
        err = await fetch_error(f, "http://no-such-host.example/")
    assert err.kind == "network" and "no-such-host.example" in err.message


# ----------------------------------------------------------------- concurrency and politeness


def concurrency_probe(server: LoopbackServer, path: str, hold: float) -> tuple[str, list[int]]:
    """A handler that records the peak number of requests it is serving at once."""
    lock, state = threading.Lock(), [0, 0]  # current, peak

    def handle(req: Request) -> Response:
        with lock:
            state[0] += 1
            state[1] = max(state[1], state[0])
        time.sleep(hold)
        with lock:
            state[0] -= 1
        return Response(200, b"ok")

    return server.handle(path, handle), state


async def test_per_host_concurrency_never_exceeds_max_per_host(http_server: LoopbackServer) -> None:
    url, state = concurrency_probe(http_server, "/busy", 0.1)
    async with Fetcher(local(max_per_host=2, max_connections=10)) as f:
        await asyncio.gather(*(f.get(url) for _ in range(8)))
    assert state[1] == 2


async def test_overall_concurrency_is_bounded(http_server: LoopbackServer) -> None:
    url, state = concurrency_probe(http_server, "/busy", 0.05)
    async with Fetcher(local(max_per_host=5, max_connections=1)) as f:
        await asyncio.gather(*(f.get(url) for _ in range(4)))
    assert state[1] == 1


async def test_min_host_interval_spaces_request_starts(http_server: LoopbackServer) -> None:
    arrivals: list[float] = []

    def handle(req: Request) -> Response:
        arrivals.append(time.monotonic())
        return Response(200, b"ok")

    url = http_server.handle("/paced", handle)
    async with Fetcher(local(max_per_host=4, min_host_interval=0.2)) as f:
        await asyncio.gather(*(f.get(url) for _ in range(3)))
    gaps = [b - a for a, b in zip(sorted(arrivals), sorted(arrivals)[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.18


async def test_cool_down_delays_requests_to_that_host(http_server: LoopbackServer) -> None:
    url = http_server.route("/cool", "ok")
    async with Fetcher(local()) as f:
        f.cool_down("127.0.0.1", 0.6)
        until = f.cooling_until("127.0.0.1")
        assert until is not None and until > time.monotonic()
        start = time.monotonic()
        await f.get(url)
        assert time.monotonic() - start >= 0.55
        assert f.cooling_until("127.0.0.1") is None
        assert f.cooling_until("elsewhere.example") is None


# --------------------------------------------------------------------------- post (webhooks)


async def test_post_sends_body_and_headers(http_server: LoopbackServer) -> None:
    url = http_server.route("/hook", "accepted", status=202)
    async with Fetcher(local()) as f:
        r = await f.post(
            url,
            content=b'{"alert": 1}',
            headers={"Content-Type": "application/json", "Webhook-Id": "msg_1"},
        )
    assert r.status == 202 and r.content == b"accepted"
    req = http_server.requests_for("/hook")[0]
    assert req.method == "POST" and req.body == b'{"alert": 1}'
    assert (
        req.headers["content-type"] == "application/json" and req.headers["webhook-id"] == "msg_1"
    )


async def test_post_does_not_follow_redirects(http_server: LoopbackServer) -> None:
    url = redirect(http_server, "/hook", "/elsewhere", status=307)
    http_server.route("/elsewhere", "should not be reached")
    async with Fetcher(local()) as f:
        with pytest.raises(FetchError) as info:
            await f.post(url, content=b"{}", headers={})
    assert info.value.kind == "redirects" and info.value.status == 307
    assert http_server.requests_for("/elsewhere") == []


async def test_post_is_guarded_too(http_server: LoopbackServer) -> None:
    url = http_server.route("/hook", "ok")
    async with Fetcher(FetchPolicy()) as f:
        with pytest.raises(BlockedURLError):
            await f.post(url, content=b"{}", headers={})
    assert http_server.requests == []


async def test_post_error_status_raises_http(http_server: LoopbackServer) -> None:
    url = http_server.route("/hook", "", status=429, headers={"Retry-After": "7"})
    async with Fetcher(local()) as f:
        with pytest.raises(FetchError) as info:
            await f.post(url, content=b"{}", headers={})
    assert (info.value.kind, info.value.status, info.value.retry_after) == ("http", 429, 7.0)
