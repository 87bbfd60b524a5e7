"""Apprise goes through the SSRF guard and ignores proxy variables (issue 13, item 8).

The forbidden target is a real HTTP server on 127.0.0.2 that counts requests: it
must receive nothing. The proxy is a real server too (on 127.0.0.1), which would
see the request if HTTP_PROXY were honoured.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aggregator.alerts.apprise_channel import AppriseChannel
from aggregator.alerts.registry import AppriseChannelConfig, build_channel, parse_channel
from aggregator.exceptions import DeliveryError
from tests.support.httpserver import LoopbackServer, Response
from tests.support.outbox import match_event
from tests.support.receiver import WebhookReceiver


def chat(*urls: str, **extra: object) -> AppriseChannelConfig:
    config = parse_channel({"name": "chat", "kind": "apprise", "urls": list(urls), **extra})
    assert isinstance(config, AppriseChannelConfig)
    return config


@pytest.fixture
def forbidden() -> Iterator[LoopbackServer]:
    """A real server on 127.0.0.2, which network.allow_private does not list."""
    server = LoopbackServer(host="127.0.0.2")
    server.route("/hook", b"ok")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxy() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.handle("/", lambda req: Response(200, b"proxied"))
    try:
        yield server
    finally:
        server.close()


def json_url(server: LoopbackServer, path: str = "/hook") -> str:
    return server.url(path).replace("http://", "json://")


async def test_a_private_target_receives_nothing_and_the_refusal_is_permanent(
    forbidden: LoopbackServer,
) -> None:
    channel = build_channel(chat(json_url(forbidden)), allow_private=("127.0.0.1/32",))
    with pytest.raises(DeliveryError) as info:
        await channel.send([match_event()])
    assert info.value.permanent
    assert "127.0.0.2" in info.value.message and "loopback" in info.value.message
    assert "allow_private" in (info.value.hint or "")
    assert forbidden.requests == []


async def test_a_host_name_is_judged_by_what_it_resolves_to(forbidden: LoopbackServer) -> None:
    url = f"json://localhost:{forbidden.port}/hook"  # resolves to 127.0.0.1 / ::1
    with pytest.raises(DeliveryError) as info:
        await AppriseChannel(chat(url)).send([match_event()])
    assert info.value.permanent and "localhost" in info.value.message


async def test_a_redirect_to_a_private_target_is_not_followed(
    http_server: LoopbackServer, forbidden: LoopbackServer
) -> None:
    http_server.route("/hook", b"", status=307, headers={"Location": forbidden.url("/hook")})
    channel = AppriseChannel(chat(json_url(http_server)), allow_private=("127.0.0.1/32",))
    with pytest.raises(DeliveryError) as info:
        await channel.send([match_event()])
    assert info.value.permanent and "127.0.0.2" in info.value.message
    assert len(http_server.requests_for("/hook")) == 1
    assert forbidden.requests == []


async def test_http_proxy_from_the_environment_is_ignored(
    forbidden: LoopbackServer,
    proxy: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.base)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # refused: neither the target nor the proxy hears of it
    with pytest.raises(DeliveryError):
        await AppriseChannel(chat(json_url(forbidden))).send([match_event()])
    assert forbidden.requests == [] and proxy.requests == []
    # allowed: straight to the target, not through the proxy
    allowed = AppriseChannel(chat(json_url(forbidden)), allow_private=("127.0.0.2/32",))
    await allowed.send([match_event()])
    assert len(forbidden.requests_for("/hook")) == 1
    assert proxy.requests == []


async def test_an_allowlisted_target_is_delivered(http_server: LoopbackServer) -> None:
    receiver = WebhookReceiver(http_server)
    channel = AppriseChannel(
        chat(receiver.url.replace("http://", "json://")), allow_private=("127.0.0.1/32",)
    )
    assert (await channel.send([match_event()])).detail == "apprise: 1 service(s) notified"
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "url", ["mailto://user:secret@mail.example.org", "syslog://", "irc://h/#c"]
)
async def test_schemes_the_guard_cannot_see_are_refused_unless_accepted(url: str) -> None:
    channel = AppriseChannel(chat(url))
    assert channel.problem is not None
    scheme = url.split("://", maxsplit=1)[0]
    assert f"{scheme}://" in channel.problem.message and "SSRF guard" in channel.problem.message
    assert "secret" not in channel.problem.message
    assert f"unguarded_schemes: [{scheme}]" in (channel.problem.hint or "")
    with pytest.raises(DeliveryError):
        await channel.send([match_event()])
    assert AppriseChannel(chat(url, unguarded_schemes=[scheme])).problem is None


def test_unguarded_schemes_is_a_channel_key_in_feeds_yaml() -> None:
    assert chat("json://example.org", unguarded_schemes=["MAILTO://"]).unguarded_schemes == [
        "mailto"
    ]
