"""Source health: the pure rules, the outbox rows they become, and a real HTML-instead-of-feed
site seen by `run --once` cycles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from aggregator.alerts.plan import decode_event
from aggregator.config.models import parse_config
from aggregator.daemon import health
from aggregator.daemon.runner import Daemon, Options
from aggregator.storage.models import OutboxRow
from aggregator.storage.records import FeedState
from aggregator.storage.store import Store
from tests.support.aggregators import AggFactory
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

T0 = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
INSTALL = "0123456789abcdef0123456789abcdef"
T = health.Thresholds(failing_after=6 * H)

CHANNELS = """
alerts:
  - {name: desk, kind: webhook, url: "http://127.0.0.1:9/hook", events: [match, source]}
  - {name: matches-only, kind: webhook, url: "http://127.0.0.1:9/other", events: [match]}
  - {name: ops, kind: webhook, url: "http://127.0.0.1:9/ops", events: [source], digest: 1h}
feeds:
  - {name: f, url: "https://example.org/feed.xml"}
"""


def state(**kw: Any) -> FeedState:
    base: dict[str, Any] = {
        "id": 1,
        "name": "f",
        "url": "https://example.org/feed.xml",
        "etag": None,
        "last_modified": None,
        "body_hash": None,
        "identity_rule": None,
        "disabled_reason": None,
        "error_count": 0,
        "next_due_at": None,
        "last_success_at": None,
        "last_new_at": None,
        "avg_new_interval_s": None,
        "failing_since": None,
        "health": None,
    }
    return FeedState(**{**base, **kw})


def problems(s: FeedState, now: datetime = T0) -> list[str]:
    return [p.problem for p in health.feed_problems(s, now, T)]


# ------------------------------------------------------------------ rules


def test_a_healthy_feed_has_no_problem() -> None:
    assert problems(state(last_new_at=T0 - H, avg_new_interval_s=600.0)) == []


def test_failing_is_reported_only_after_failing_after() -> None:
    assert problems(state(failing_since=T0 - 5 * H, last_error="HTTP 500")) == []
    [p] = health.feed_problems(state(failing_since=T0 - 7 * H, last_error="HTTP 500"), T0, T)
    assert p.problem == "failing" and "7h" in p.detail and "HTTP 500" in p.detail


def test_silence_is_measured_against_the_feeds_own_rhythm() -> None:
    busy = {"avg_new_interval_s": 3600.0}  # a new item every hour, usually
    assert problems(state(last_new_at=T0 - 9 * H, **busy)) == []
    assert problems(state(last_new_at=T0 - 11 * H, **busy)) == ["silent"]
    chatty = {"avg_new_interval_s": 60.0}  # 10 x 1 minute is not "far longer" yet
    assert problems(state(last_new_at=T0 - 2 * H, **chatty)) == []
    assert problems(state(last_new_at=T0 - 7 * H, **chatty)) == ["silent"]


def test_a_failing_feed_is_not_also_called_silent() -> None:
    s = state(last_new_at=T0 - 100 * H, avg_new_interval_s=60.0, failing_since=T0 - 7 * H)
    assert problems(s) == ["failing"]


def test_html_instead_of_a_feed_is_reported_at_once() -> None:
    assert "html" in problems(state(health="html", failing_since=T0 - timedelta(minutes=1)))


def test_gone_and_moved_feeds_are_flagged() -> None:
    assert problems(state(disabled_reason="410 Gone at 2025-02-03 11:00 UTC")) == ["disabled"]
    assert problems(state(permanent_redirect="https://example.org/new.xml")) == ["moved"]


def test_only_configured_enabled_feeds_are_judged() -> None:
    gone = [state(name="removed", disabled_reason="410"), state(name="f", health="html")]
    found = health.source_problems(gone, {"f"}, T0, T)
    assert [(p.feed, p.problem) for p in found] == [("f", "html")]


# ------------------------------------------------------------------ alert drafts


def test_alerts_go_to_channels_that_subscribe_to_source_events() -> None:
    cfg = parse_config(CHANNELS)
    [p] = health.feed_problems(state(health="html"), T0, T)
    drafts = health.source_alerts(cfg, [p], T0, installation=INSTALL)
    assert sorted(d.channel for d in drafts) == ["desk", "ops"]
    ops = next(d for d in drafts if d.channel == "ops")
    assert ops.not_before == T0 + H  # the channel's digest window holds it
    event = decode_event(ops.payload)
    assert event.event == "source" and event.source == p and event.alert_id == ops.alert_id


def test_alert_id_is_stable_per_feed_problem_and_day() -> None:
    [p] = health.feed_problems(state(health="html"), T0, T)
    same_day = health.source_alert_id("desk", p, T0 + 3 * H, installation=INSTALL)
    assert health.source_alert_id("desk", p, T0, installation=INSTALL) == same_day
    assert health.source_alert_id("desk", p, T0 + 24 * H, installation=INSTALL) != same_day
    assert health.source_alert_id("ops", p, T0, installation=INSTALL) != same_day
    assert health.source_alert_id("desk", p, T0, installation="other") != same_day


def test_outbox_insert_is_idempotent(db_url: str) -> None:
    cfg = parse_config(CHANNELS)
    [p] = health.feed_problems(state(health="html"), T0, T)
    store = Store.open(db_url)
    try:
        assert store.insert_outbox(health.source_alerts(cfg, [p], T0, installation=INSTALL)) == 2
        assert (
            store.insert_outbox(health.source_alerts(cfg, [p], T0 + H, installation=INSTALL)) == 0
        )
        assert (
            store.insert_outbox(health.source_alerts(cfg, [p], T0 + 25 * H, installation=INSTALL))
            == 2
        )
        with store.session() as s:
            rows = list(s.exec(select(OutboxRow)))
    finally:
        store.close()
    assert len(rows) == 4 and {r.event for r in rows} == {"source"}
    assert all(r.status == "pending" and r.article_id is None for r in rows)


# ------------------------------------------------------------------ end to end


def once(agg: Any) -> None:
    asyncio.run(
        Daemon(agg, Options(once=True, signals=False, watch=False, announce=lambda _: None)).serve()
    )


def source_rows(agg: Any, problem: str = "html") -> list[OutboxRow]:
    with agg.store.session() as s:
        rows = list(s.exec(select(OutboxRow).where(OutboxRow.event == "source")))
    return [r for r in rows if r.payload["source"]["problem"] == problem]


@pytest.mark.parametrize(
    "page",
    [
        (
            "<!doctype html><html><head><title>Just a moment...</title></head>"
            "<body><h1>Checking your browser</h1><div class='cf-captcha'></div></body></html>"
        ),
    ],
)
def test_a_feed_turning_into_a_captcha_page_raises_one_source_alert_a_day(
    http_server: LoopbackServer, tmp_path: Path, page: str, make_agg: AggFactory
) -> None:
    url = http_server.route("/feed.xml", page)
    hook = http_server.url("/hook")
    clock = Clock(T0)
    cfg = write_config(
        tmp_path,
        [{"name": "wire", "url": url, "interval": "1m"}],
        alerts=[{"name": "desk", "kind": "webhook", "url": hook, "events": ["source"]}],
    )
    with make_agg(cfg, clock=clock) as agg:
        once(agg)
        first = source_rows(agg)
        for _ in range(3):
            clock.now += timedelta(minutes=2)
            once(agg)
        same_day = source_rows(agg)
        clock.now += timedelta(days=1)
        once(agg)
        next_day = source_rows(agg)
    assert len(first) == 1
    event = decode_event(first[0].payload)
    assert event.source is not None and event.source.feed == "wire"
    assert event.source.problem == "html" and event.channel == "desk"
    assert len(same_day) == 1
    assert len(next_day) == 2  # a daily reminder while it lasts
