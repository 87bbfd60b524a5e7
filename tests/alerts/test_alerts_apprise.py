"""Apprise alerts, delivered by Apprise's own json:// plugin to the loopback HTTP receiver."""

from __future__ import annotations

import pytest

from aggregator.alerts.apprise_channel import AppriseChannel, markdown
from aggregator.alerts.registry import build_channel
from aggregator.config.alerts import AppriseChannelConfig, parse_channel
from aggregator.exceptions import ConfigError, DeliveryError
from tests.support.httpserver import LoopbackServer
from tests.support.outbox import article, change_event, match_event
from tests.support.receiver import WebhookReceiver

LOOPBACK = ("127.0.0.1/32",)  # network.allow_private: the receiver is on this machine


def chat(*urls: str) -> AppriseChannelConfig:
    config = parse_channel({"name": "chat", "kind": "apprise", "urls": list(urls)})
    assert isinstance(config, AppriseChannelConfig)
    return config


def json_url(receiver: WebhookReceiver) -> str:
    return receiver.url.replace("http://", "json://")


async def test_alert_reaches_the_service(http_server: LoopbackServer) -> None:
    receiver = WebhookReceiver(http_server)
    channel = build_channel(chat(json_url(receiver)), allow_private=LOOPBACK)
    delivery = await channel.send([match_event()])
    assert delivery.detail == "apprise: 1 service(s) notified"
    [payload] = receiver.payloads()
    assert payload["title"] == "[export-controls] EU tightens export controls on chips"
    assert "**export controls**" in payload["message"]
    assert "(<https://news.example.org/reuters/1>)" in payload["message"]


async def test_service_failure_is_transient(http_server: LoopbackServer) -> None:
    receiver = WebhookReceiver(http_server)
    receiver.script(500)
    with pytest.raises(DeliveryError) as info:
        await AppriseChannel(chat(json_url(receiver)), LOOPBACK).send([match_event()])
    assert not info.value.permanent
    assert len(receiver.received) == 1


async def test_unknown_url_fails_its_alerts_without_leaking_the_url() -> None:
    channel = AppriseChannel(chat("json://ok.example.org", "nosuchscheme://token-abc123"))
    assert isinstance(channel.problem, ConfigError)
    with pytest.raises(DeliveryError) as info:
        await channel.send([match_event()])
    assert not info.value.permanent  # kept for the retry window: the config can be fixed
    assert "urls[1]" in str(info.value) and "token-abc123" not in str(info.value)


def test_markdown_cannot_be_injected_by_a_title() -> None:
    event = match_event(art=article(title="[click](https://evil.example) *bold*\nline"))
    body = markdown([event])
    assert "](https://evil.example)" not in body
    assert r"\[click\]\(https://evil.example\) \*bold\* line" in body


def test_digest_markdown_groups_by_topic() -> None:
    events = [
        match_event("m1", topic="b", art=article(1, title="B one")),
        match_event("m2", topic="a", art=article(2, title="A one")),
    ]
    body = markdown(events)
    assert body.index("**a** (1)") < body.index("A one") < body.index("**b** (1)")


def test_edit_message_carries_the_changed_sentences() -> None:
    body = markdown([change_event("change-3")])
    assert "> − The rules take effect in May." in body
    assert "> \\+ The rules take effect in July." in body
    assert "(headline changed, 59 words changed)" in body
    assert "[See the whole change](<https://news.example.org/reuters/1>)" in body
