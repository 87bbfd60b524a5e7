"""Webhook alerts through the real Fetcher to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from aggregator.alerts.dispatch import deliver_due
from aggregator.alerts.registry import build_channel
from aggregator.alerts.types import AlertEvent
from aggregator.alerts.webhook import WebhookChannel
from aggregator.config.alerts import WebhookChannelConfig, parse_channel
from aggregator.exceptions import DeliveryError
from aggregator.http.fetcher import Fetcher
from aggregator.http.policy import FetchPolicy
from tests.alerts.test_alerts_email import HOSTILE_TITLES
from tests.support.httpserver import LoopbackServer, Response
from tests.support.outbox import (
    T0,
    MemoryOutbox,
    article,
    change_event,
    match_event,
    source_event,
)
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import free_port

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
LOOPBACK = FetchPolicy(allow_private=("127.0.0.1/32",), total_timeout=5)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(LOOPBACK) as f:
        yield f


@pytest.fixture
def receiver(http_server: LoopbackServer) -> WebhookReceiver:
    return WebhookReceiver(http_server)


def hook(url: str, **kw: Any) -> WebhookChannelConfig:
    config = parse_channel({"name": "desk", "kind": "webhook", "url": url, "secret": SECRET, **kw})
    assert isinstance(config, WebhookChannelConfig)
    return config


def verified(receiver: WebhookReceiver, index: int = -1) -> Any:
    """The payload of a received POST, checked by the reference Standard Webhooks library."""
    request = receiver.received[index]
    return Webhook(SECRET).verify(request.body, request.headers)


async def dispatch(outbox: MemoryOutbox, channel: WebhookChannel, now: Any) -> Any:
    return await deliver_due(
        outbox,
        {"desk": channel},
        {"desk": channel.config},
        now=now,
        worker="w",
        rng=random.Random(3),
    )


async def test_signed_match_payload(receiver: WebhookReceiver, fetcher: Fetcher) -> None:
    channel = WebhookChannel(hook(receiver.url, headers={"X-Team": "desk"}), fetcher)
    delivery = await channel.send([match_event("match-42")])
    assert delivery.detail == "HTTP 200"
    payload = verified(receiver)
    headers = receiver.received[0].headers
    assert headers["webhook-id"] == "match-42" and headers["x-team"] == "desk"
    assert headers["content-type"] == "application/json"
    assert payload["type"] == "article.matched"
    assert payload["timestamp"] == "2025-03-04T09:00:00Z"
    data = payload["data"]
    assert (data["alert_id"], data["topic"]) == ("match-42", "export-controls")
    assert data["article"] == {
        "id": 1,
        "url": "https://news.example.org/reuters/1",
        "title": "EU tightens export controls on chips",
        "feeds": ["reuters"],
        "language": "en",
        "published": "2025-03-04T08:30:00Z",
        "link": "https://news.example.org/reuters/1",
        "matched_terms": ["export controls"],
        "snippets": [
            "Brussels said on Tuesday that new export controls on advanced chips take effect."
        ],
        "sources": [
            {
                "feed": "reuters",
                "url": "https://news.example.org/reuters/1",
                "title": "EU tightens export controls on chips",
            }
        ],
    }


async def test_signature_uses_the_wall_clock_even_on_a_simulated_one(
    receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    channel = build_channel(
        hook(receiver.url), fetcher_factory=lambda: fetcher, clock=lambda: T0
    )  # the daemon's clock may be simulated
    await channel.send([match_event()])
    verified(receiver)  # raises "timestamp too old" if T0 (2025) had been signed


async def test_forged_signature_is_detected(receiver: WebhookReceiver, fetcher: Fetcher) -> None:
    await WebhookChannel(hook(receiver.url), fetcher).send([match_event()])
    request = receiver.received[0]
    tampered = request.body.replace(b"EU tightens", b"EU loosens")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, request.headers)


async def test_without_secret_nothing_is_signed(
    receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    config = parse_channel({"name": "desk", "kind": "webhook", "url": receiver.url})
    await build_channel(config, fetcher_factory=lambda: fetcher).send([match_event()])
    headers = receiver.received[0].headers
    assert "webhook-signature" not in headers and headers["webhook-id"] == "match-1"


@pytest.mark.parametrize("title", HOSTILE_TITLES)
async def test_hostile_title_is_valid_signed_json(
    receiver: WebhookReceiver, fetcher: Fetcher, title: str
) -> None:
    await WebhookChannel(hook(receiver.url), fetcher).send([match_event(art=article(title=title))])
    sent = verified(receiver)["data"]["article"]["title"]
    assert not any(c in sent for c in "\r\n\x00\x7f\x1b\u2028\u2029")
    assert sent.split() == sent.split(" ")  # one line, single spaces


async def test_change_payload(receiver: WebhookReceiver, fetcher: Fetcher) -> None:
    await WebhookChannel(hook(receiver.url), fetcher).send([change_event("change-2")])
    payload = verified(receiver)
    assert payload["type"] == "article.changed"
    assert payload["data"]["thread_id"] == "match-1"
    assert payload["data"]["change"] == {
        "version": 2,
        "previous_version": 1,
        "headline_changed": True,
        "old_title": "EU tightens export controls on chips",
        "new_title": "EU delays export controls on chips",
        "words_added": 42,
        "words_removed": 17,
        "reasons": ["headline", "min_words"],
        "correction": "An earlier version misstated the date.",
        "topic_change": "context",
        "diff_summary": "- The rules take effect in May.\n+ The rules take effect in July.",
        "passages": [
            {
                "removed": ["The rules take effect in May."],
                "added": ["The rules take effect in July."],
            }
        ],
        "more_changes": 0,
    }


async def test_source_and_test_types(receiver: WebhookReceiver, fetcher: Fetcher) -> None:
    channel = WebhookChannel(hook(receiver.url), fetcher)
    await channel.send([source_event()])
    await channel.send([AlertEvent("test-1", "test", "desk", None, T0)])
    source, test = [verified(receiver, i) for i in (0, 1)]
    assert source["type"] == "source.unhealthy"
    assert source["data"]["source"]["problem"] == "failing" and source["data"]["topic"] is None
    assert test["type"] == "test" and "article" not in test["data"]


async def test_digest_is_one_post_keeping_inner_ids(
    receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    events = [match_event("m-1"), match_event("m-2", topic="sanctions", art=article(2))]
    await WebhookChannel(hook(receiver.url), fetcher).send(events)
    payload = verified(receiver)
    assert payload["type"] == "digest" and payload["data"]["count"] == 2
    assert [e["data"]["alert_id"] for e in payload["data"]["events"]] == ["m-1", "m-2"]
    assert receiver.received[0].headers["webhook-id"] == payload["data"]["alert_id"]


async def test_500_500_200_is_three_attempts_with_one_webhook_id(
    receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    receiver.script(500, 500, 200)
    outbox, channel = MemoryOutbox(), WebhookChannel(hook(receiver.url), fetcher)
    row = outbox.add(match_event("match-9"), hold=timedelta(minutes=2))
    now = T0 + timedelta(minutes=2)
    for expected in ("pending", "pending", "sent"):
        await dispatch(outbox, channel, now)
        assert outbox.status(row) == expected
        assert outbox.rows[row].item.not_before > now or expected == "sent"
        now = outbox.rows[row].item.not_before
    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {"match-9"}
    assert outbox.rows[row].item.attempts == 2 and outbox.rows[row].detail == "HTTP 200"


async def test_429_retry_after_is_honoured(receiver: WebhookReceiver, fetcher: Fetcher) -> None:
    receiver.script(Response(429, b"", {"Retry-After": "900"}))
    outbox, channel = MemoryOutbox(), WebhookChannel(hook(receiver.url), fetcher)
    row = outbox.add(match_event())
    await dispatch(outbox, channel, T0)
    assert outbox.status(row) == "pending"
    assert outbox.rows[row].item.not_before >= T0 + timedelta(seconds=900)


async def test_redirect_is_a_failure_and_not_followed(
    http_server: LoopbackServer, receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    moved = http_server.url("/hook")
    old = http_server.route("/old-hook", status=308, headers={"Location": moved})
    with pytest.raises(DeliveryError) as info:
        await WebhookChannel(hook(old), fetcher).send([match_event()])
    assert info.value.permanent and "308" in str(info.value) and info.value.hint
    assert receiver.received == []


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_client_errors_are_permanent(
    receiver: WebhookReceiver, fetcher: Fetcher, status: int
) -> None:
    receiver.script(status)
    outbox, channel = MemoryOutbox(), WebhookChannel(hook(receiver.url), fetcher)
    row = outbox.add(match_event())
    report = await dispatch(outbox, channel, T0)
    assert report.dead == 1 and outbox.status(row) == "dead"
    assert str(status) in (outbox.rows[row].last_error or "")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_server_errors_are_transient(
    receiver: WebhookReceiver, fetcher: Fetcher, status: int
) -> None:
    receiver.script(status)
    with pytest.raises(DeliveryError) as info:
        await WebhookChannel(hook(receiver.url), fetcher).send([match_event()])
    assert not info.value.permanent


async def test_receiver_down_past_the_retry_window_is_dead(fetcher: Fetcher) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    outbox = MemoryOutbox()
    channel = WebhookChannel(hook(url, retry_window="15m"), fetcher)
    row = outbox.add(match_event())
    now, passes = T0, 0
    while outbox.status(row) == "pending" and passes < 30:
        report = await dispatch(outbox, channel, now)
        now, passes = outbox.rows[row].item.not_before, passes + 1
    assert outbox.status(row) == "dead" and report.dead == 1
    assert "gave up" in (outbox.rows[row].last_error or "")
    assert 3 <= passes <= 10


async def test_private_address_is_blocked_permanently(receiver: WebhookReceiver) -> None:
    async with Fetcher(FetchPolicy()) as guarded:
        with pytest.raises(DeliveryError) as info:
            await WebhookChannel(hook(receiver.url), guarded).send([match_event()])
    assert info.value.permanent and "allow_private" in (info.value.hint or "")
    assert receiver.received == []


async def test_wire_copies_are_one_post_listing_both_sources(
    receiver: WebhookReceiver, fetcher: Fetcher
) -> None:
    outbox, channel = MemoryOutbox(), WebhookChannel(hook(receiver.url), fetcher)
    first = match_event("m-1", art=article(1, feed="reuters", fingerprint=0xABCDEF))
    second = match_event(
        "m-2",
        created_at=T0 + timedelta(seconds=50),
        art=article(2, feed="afp", fingerprint=0xABCDEF ^ 0b101),
    )
    rows = [outbox.add(e, hold=channel.config.group_window) for e in (first, second)]
    report = await dispatch(outbox, channel, T0 + timedelta(minutes=3))
    assert report.sent == 2 and all(outbox.status(r) == "sent" for r in rows)
    [payload] = [verified(receiver)]
    assert len(receiver.received) == 1
    assert receiver.received[0].headers["webhook-id"] == "m-1"
    assert [s["feed"] for s in payload["data"]["article"]["sources"]] == ["reuters", "afp"]
    assert payload["data"]["article"]["feeds"] == ["reuters", "afp"]


def test_body_is_compact_utf8_json() -> None:
    from aggregator.alerts.webhook import encode_body

    body = encode_body([match_event(art=article(title="Zölle auf Chips"))])
    assert "Zölle".encode() in body and b": " not in body
    assert json.loads(body)["data"]["article"]["title"] == "Zölle auf Chips"
