"""Grouping window vs latency (issue 14.4): the first copy of a story goes out at once,
its wire copies within ``group_window`` are folded into it (one alert, sent once), and
``run --once`` leaves nothing held for the next cron run.

End to end on the real database with the real webhook receiver and aiosmtpd, an
injected clock; the dispatcher's rules on the in-memory outbox.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.cli.seedsite import article_page, load_seed, rss_feed
from aggregator.core import make_aggregator
from aggregator.daemon.background import BackgroundDaemon
from aggregator.daemon.runner import Daemon, Options
from tests.alerts.test_alerts_dispatch import Recorder, config, copy, run
from tests.support.aggregators import AggFactory
from tests.support.clock import Clock, wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.support.outbox import T0, MemoryOutbox
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOPIC = {
    "name": "export-controls",
    "query": '(contrôle* NEAR/3 export* OR "export control*") AND (puce* OR Nvidia OR chip*)',
}
OUTLETS = ("afp", "reuters", "ap")


@pytest.fixture
def smtp() -> Any:
    with SmtpServer() as server:
        yield server


def _outlets(server: LoopbackServer) -> None:
    """One wire story carried by three outlets, each under its own URL (three articles)."""
    seed = load_seed()
    for outlet in OUTLETS:
        page = server.url(f"/{outlet}/story.html")
        server.route(f"/{outlet}/story.html", article_page(seed, page))
        server.route(
            f"/{outlet}.xml",
            rss_feed(seed, feed_url=server.url(f"/{outlet}.xml"), article_url=page),
            content_type="application/rss+xml",
        )


def _config(
    tmp_path: Path,
    server: LoopbackServer,
    smtp: SmtpServer,
    hook: str,
    database: str | None = None,
    **channel: Any,
) -> Path:
    _outlets(server)
    alerts = [
        {
            "name": "desk-email",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "aggregator@example.org",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            **channel,
        },
        {"name": "desk-hook", "kind": "webhook", "url": hook, "secret": SECRET, **channel},
    ]
    return write_config(
        tmp_path,
        [{"name": n, "url": server.url(f"/{n}.xml"), "extract": True} for n in OUTLETS],
        topics=[TOPIC],
        alerts=alerts,
        **({"database": database} if database else {}),
    )


def _deliver(agg: Any, **kw: Any) -> Any:
    async def go() -> Any:
        async with agg.running() as st:
            return await agg.deliver_due(st, worker="test", **kw)

    return asyncio.run(go())


def _statuses(agg: Any) -> dict[tuple[str, str], str]:
    """(channel, outlet) → outbox status."""
    feed_of = {a.id: a.url.split("/")[-2] for a in agg.articles()}
    return {(a.channel, feed_of[a.article_id]): a.status for a in agg.alerts()}


def test_the_first_copy_goes_at_once_and_later_copies_are_folded_into_it(
    http_server: LoopbackServer,
    smtp: SmtpServer,
    tmp_path: Path,
    make_agg: AggFactory,
    db_url: str,
) -> None:
    receiver = WebhookReceiver(http_server)
    cfg = _config(tmp_path, http_server, smtp, receiver.url, db_url)  # group_window: 2m
    clock = Clock()
    with make_agg(cfg, clock=clock) as agg:
        agg.poll(["afp"])
        first = _deliver(agg)  # the clock has not moved: nothing waits for the window
        assert (first.sent, first.folded) == (2, 0), first.errors
        assert len(receiver.received) == 1 and len(smtp.messages) == 1

        clock.now += timedelta(seconds=50)  # a wire copy, well inside the 2m window
        agg.poll(["reuters"])
        later = _deliver(agg)
        assert (later.sent, later.folded) == (0, 2), later.errors
        assert len(receiver.received) == 1 and len(smtp.messages) == 1  # sent once

        clock.now += timedelta(minutes=3)  # past the window: a story on its own again
        agg.poll(["ap"])
        assert _deliver(agg).sent == 2
        statuses = _statuses(agg)
        notes = {a.folded_into for a in agg.alerts() if a.status == "folded"}
    assert len(receiver.received) == 2 and len(smtp.messages) == 2
    assert statuses == {
        ("desk-email", "afp"): "sent",
        ("desk-hook", "afp"): "sent",
        ("desk-email", "reuters"): "folded",
        ("desk-hook", "reuters"): "folded",
        ("desk-email", "ap"): "sent",
        ("desk-hook", "ap"): "sent",
    }
    assert len(notes) == 2 and all(n and n.startswith("folded into alert #") for n in notes)
    [body, _] = receiver.payloads()
    assert body["data"]["article"]["url"].endswith("/afp/story.html")


def test_copies_queued_together_go_out_as_one_alert_listing_every_source(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    receiver = WebhookReceiver(http_server)
    cfg = _config(tmp_path, http_server, smtp, receiver.url)
    with make_agg(cfg, clock=Clock()) as agg:
        agg.poll(["afp", "reuters"])  # one poll: both copies queued before any delivery
        report = _deliver(agg)
    assert report.sent == 4 and report.folded == 0  # two rows per channel, one message each
    [body] = receiver.payloads()
    assert {s["feed"] for s in body["data"]["article"]["sources"]} == {"afp", "reuters"}
    [mail] = smtp.messages
    text = mail.message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "afp" in text and "reuters" in text


def test_run_once_sends_what_hold_mode_held_and_leaves_nothing_pending(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, db_url: str
) -> None:
    receiver = WebhookReceiver(http_server)
    cfg = _config(tmp_path, http_server, smtp, receiver.url, db_url, group_mode="hold")
    with make_aggregator(cfg, extract_workers=0) as agg:
        lines: list[str] = []
        code = asyncio.run(
            Daemon(agg, Options(once=True, signals=False, announce=lines.append)).serve()
        )
        counts = agg.alert_counts()
    assert code == 0
    assert counts.get("pending", 0) == 0 and counts.get("failed", 0) == 0, counts
    # three outlets polled in one run: one alert per channel, listing all three
    [body] = receiver.payloads()
    assert {s["feed"] for s in body["data"]["article"]["sources"]} == set(OUTLETS)
    assert len(smtp.messages) == 1
    [summary] = [line for line in lines if line.startswith("run --once:")]
    assert "alerts: 6 sent" in summary and "0 still queued" in summary, summary


def test_the_daemon_delivers_as_soon_as_a_poll_queued_an_alert(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Without the poke from the poll, the alert would wait for the next tick (30 s)."""
    receiver = WebhookReceiver(http_server)
    _outlets(http_server)
    cfg = write_config(
        tmp_path,
        [{"name": "afp", "url": http_server.url("/afp.xml"), "extract": True}],
        topics=[TOPIC],
        alerts=[{"name": "desk-hook", "kind": "webhook", "url": receiver.url}],
        daemon={"tick": "30s", "http_port": 0},
    )
    with (
        make_aggregator(cfg, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None, web=False)),
    ):
        wait_for(lambda: len(receiver.received) == 1, 15, "the alert, before the next tick")


# --- the dispatcher's rules (in-memory outbox) ------------------------------------------------


def _ids(channel: Recorder) -> list[list[str]]:
    return [[e.alert_id for e in batch] for batch in channel.sent]


async def test_a_copy_folds_only_within_the_window_on_the_same_topic() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config())
    outbox.add(copy("m-1", 1, "reuters", 7))
    await run(outbox, channel, T0)
    inside = outbox.add(copy("m-2", 2, "afp", 7, at=T0 + timedelta(seconds=119)))
    other = outbox.add(copy("m-3", 3, "ap", 7, at=T0 + timedelta(seconds=30), topic="else"))
    outside = outbox.add(copy("m-4", 4, "dpa", 7, at=T0 + timedelta(seconds=121)))
    report = await run(outbox, channel, T0 + timedelta(seconds=125))
    assert report.folded == 1 and outbox.status(inside) == "folded"
    assert outbox.status(other) == "sent" and outbox.status(outside) == "sent"
    assert _ids(channel) == [["m-1"], ["m-3"], ["m-4"]]
    assert "folded into alert #1 (m-1)" in (outbox.rows[inside].detail or "")


async def test_a_copy_of_an_alert_still_on_its_way_is_folded_but_not_of_a_dead_one() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config())
    first = outbox.add(copy("m-1", 1, "reuters", 7))
    outbox.claim_due(T0, limit=10, worker="other", lease=timedelta(minutes=5))  # in flight
    later = outbox.add(copy("m-2", 2, "afp", 7, at=T0 + timedelta(seconds=5)))
    assert (await run(outbox, channel, T0 + timedelta(seconds=6))).folded == 1
    assert outbox.status(later) == "folded" and channel.sent == []
    outbox.mark_dead([first], "HTTP 404", T0)  # the other worker's send failed for good
    third = outbox.add(copy("m-3", 3, "ap", 7, at=T0 + timedelta(seconds=20)))
    await run(outbox, channel, T0 + timedelta(seconds=21))
    assert outbox.status(third) == "sent" and _ids(channel) == [["m-3"]]


async def test_a_group_window_of_zero_folds_nothing() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config(group_window="0s"))
    outbox.add(copy("m-1", 1, "reuters", 7))
    outbox.add(copy("m-2", 2, "afp", 7, at=T0 + timedelta(seconds=1)))
    report = await run(outbox, channel, T0 + timedelta(seconds=2))
    assert report.sent == 2 and _ids(channel) == [["m-1"], ["m-2"]]
