"""Per-feed scheduling: the pure rules of aggregator.ingest.rhythm, then the same rules
seen from outside through `run --once` cycles on a loopback site with an injected clock.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.config.models import Config, DaemonConfig, Defaults, FeedConfig
from aggregator.core import make_aggregator
from aggregator.daemon.runner import Daemon, Options
from aggregator.ingest import rhythm as schedule
from aggregator.ingest.pipeline import PollOutcome
from aggregator.storage.records import FeedState
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

T0 = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def config(jitter: float = 0.0, **daemon: Any) -> Config:
    return Config(defaults=Defaults(interval=15 * M), daemon=DaemonConfig(jitter=jitter, **daemon))


def feed(interval: timedelta | None = None) -> FeedConfig:
    return FeedConfig(name="f", url="https://example.org/feed.xml", interval=interval)


def state(avg: float | None = None, errors: int = 0) -> FeedState:
    return FeedState(
        1,
        "f",
        "https://example.org/feed.xml",
        None,
        None,
        None,
        None,
        None,
        errors,
        None,
        None,
        None,
        avg,
        None,
        None,
    )


def ok(**kw: Any) -> PollOutcome:
    return PollOutcome(True, **kw)


def failed(errors: int, **kw: Any) -> PollOutcome:
    return PollOutcome(False, error_count=errors, **kw)


def delay(
    outcome: PollOutcome,
    *,
    f: FeedConfig | None = None,
    s: FeedState | None = None,
    cfg: Config | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    due = schedule.next_poll(
        f or feed(), s or state(), outcome, T0, cfg or config(), rng or random.Random(1)
    )
    return due - T0


# ------------------------------------------------------------------ interval


def test_default_interval_applies_without_a_feed_interval() -> None:
    assert delay(ok()) == 15 * M


def test_feed_interval_overrides_the_default() -> None:
    assert delay(ok(), f=feed(5 * M)) == 5 * M


# ------------------------------------------------------------------ adaptive


@pytest.mark.parametrize(
    "avg_s,base,expected",
    [
        (60.0, 15 * M, 7.5 * M),  # busy: half the gap, but not below base/2
        (20 * 60.0, 15 * M, 10 * M),  # half of a 20-minute rhythm
        (86400.0, 15 * M, 60 * M),  # quiet: up to base*4
        (10.0, 3 * M, 2 * M),  # floor (min_interval 2m) beats base/2
        (10 * 86400.0, 4 * H, 6 * H),  # ceiling (max_interval 6h) beats base*4
        (10.0, 1 * M, 1 * M),  # a configured interval under the floor stays allowed
    ],
)
def test_adaptive_interval_follows_the_publishing_rhythm_within_bounds(
    avg_s: float, base: timedelta, expected: timedelta
) -> None:
    assert delay(ok(), f=feed(base), s=state(avg=avg_s)) == expected


def test_adaptive_needs_a_rhythm_first() -> None:
    assert schedule.adaptive_interval(15 * M, None, 2 * M, 6 * H) == 15 * M


# ------------------------------------------------------------------ source hints


def test_max_age_is_a_floor() -> None:
    assert delay(ok(max_age=3600.0)) == H


def test_short_max_age_does_not_shorten_the_interval() -> None:
    assert delay(ok(max_age=60.0)) == 15 * M


def test_rss_ttl_is_a_floor() -> None:
    assert delay(ok(ttl_minutes=120)) == 2 * H


def test_absurd_max_age_is_capped_at_the_ceiling() -> None:
    assert delay(ok(max_age=365 * 86400.0)) == 6 * H


def test_retry_after_is_a_floor_on_errors() -> None:
    assert delay(failed(1, status=429, retry_after=7200.0)) == 2 * H


def test_retry_after_is_capped_at_the_backoff_cap() -> None:
    assert delay(failed(1, status=503, retry_after=30 * 86400.0)) == 6 * H


# ------------------------------------------------------------------ backoff


def test_errors_back_off_exponentially_to_the_cap() -> None:
    cfg = config(max_backoff=2 * H)
    got = [delay(failed(n), cfg=cfg) for n in range(1, 8)]
    assert got == [15 * M, 30 * M, 60 * M, 2 * H, 2 * H, 2 * H, 2 * H]


def test_a_broken_feed_is_retried_forever_at_the_cap() -> None:
    assert delay(failed(10_000)) == 6 * H


def test_jittered_backoff_never_exceeds_the_cap() -> None:
    cfg, rng = config(jitter=0.5, max_backoff=H), random.Random(7)
    got = [delay(failed(n), cfg=cfg, rng=rng) for n in range(1, 12) for _ in range(50)]
    assert max(got) <= H
    assert min(got) >= 15 * M * 0.5


def test_cap_is_never_below_the_feeds_own_interval() -> None:
    cfg = config(max_backoff=10 * M)
    assert delay(failed(5), f=feed(H), cfg=cfg) == H


# ------------------------------------------------------------------ jitter


def test_jitter_stays_within_bounds_and_spreads() -> None:
    cfg, rng = config(jitter=0.2), random.Random(42)
    got = [delay(ok(), cfg=cfg, rng=rng) for _ in range(2000)]
    assert min(got) >= 15 * M * 0.8 and max(got) <= 15 * M * 1.2
    assert max(got) - min(got) > 15 * M * 0.35  # actually spread, not constant
    assert len(set(got)) > 1900


def test_jitter_is_reproducible_with_a_seed() -> None:
    cfg = config(jitter=0.3)
    a = [delay(ok(), cfg=cfg, rng=r) for r in [random.Random(3)] * 5]
    b = [delay(ok(), cfg=cfg, rng=r) for r in [random.Random(3)] * 5]
    assert a == b


def test_jitter_never_takes_a_feed_below_the_floor() -> None:
    cfg, rng = config(jitter=0.5), random.Random(5)
    got = [delay(ok(), f=feed(2 * M), s=state(avg=1.0), cfg=cfg, rng=rng) for _ in range(500)]
    assert min(got) >= 2 * M


# ------------------------------------------------------------------ through `run --once`


RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>Item {n}</title><link>http://example.org/{n}</link><guid>g{n}</guid>
<description>text {n}</description></item></channel></rss>"""


def once(agg: Any) -> None:
    asyncio.run(
        Daemon(agg, Options(once=True, signals=False, watch=False, announce=lambda _: None)).serve()
    )


def poll_times(
    server: LoopbackServer, path: str, log: dict[str, list[timedelta]], clock: Clock
) -> None:
    """Record, for `path`, the (injected) time of every request."""
    handler = server.routes[path]

    def record(req: Any) -> Any:
        log.setdefault(path, []).append(clock.now - T0)
        return handler(req)

    server.routes[path] = record


def test_cycles_follow_max_age_and_backoff_on_a_loopback_site(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    clock = Clock(T0)
    fresh = http_server.route(
        "/fresh.xml",
        RSS.format(n=1),
        content_type="application/rss+xml",
        headers={"Cache-Control": "max-age=3600"},
    )
    broken = http_server.route("/broken.xml", "oops", status=500)
    times: dict[str, list[timedelta]] = {}
    for path in ("/fresh.xml", "/broken.xml"):
        poll_times(http_server, path, times, clock)
    cfg = write_config(
        tmp_path,
        [
            {"name": "fresh", "url": fresh, "interval": "1m"},
            {"name": "broken", "url": broken, "interval": "1m"},
        ],
        daemon={"jitter": 0, "max_backoff": "4m"},
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        while clock.now <= T0 + 62 * M:
            once(agg)
            clock.now += M
        fresh_state = agg.store.feed_state("fresh")
    assert times["/fresh.xml"] == [timedelta(0), H]  # max-age 1h beats the 1m interval
    assert times["/broken.xml"] == [M * m for m in (0, 1, 3, 7, 11, 15)] + [
        M * m for m in range(19, 62, 4)
    ]  # 1m, 2m, 4m, then the 4m cap, forever
    assert fresh_state.error_count == 0 and fresh_state.next_due_at == T0 + 2 * H


def test_retry_after_postpones_the_next_poll(http_server: LoopbackServer, tmp_path: Path) -> None:
    clock = Clock(T0)
    url = http_server.route("/busy.xml", "slow down", status=503, headers={"Retry-After": "600"})
    times: dict[str, list[timedelta]] = {}
    poll_times(http_server, "/busy.xml", times, clock)
    cfg = write_config(
        tmp_path,
        [{"name": "busy", "url": url, "interval": "1m"}],
        daemon={"jitter": 0, "lease": "1s"},
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        for minutes in (0, 1, 5, 9.9, 10.1):
            clock.now = T0 + M * minutes
            once(agg)
        state_ = agg.store.feed_state("busy")
    assert times["/busy.xml"] == [timedelta(0), M * 10.1]
    assert state_.error_count == 2 and state_.failing_since == T0


def test_hold_back_is_per_origin_and_keeps_the_latest_wish() -> None:
    """The one decision every fetching command applies (issue 13, item 17)."""
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    waits = [
        ("https://u:p@feeds.example.com/a.xml?token=1", now + timedelta(minutes=5)),
        ("https://feeds.example.com:443/b.xml", now + timedelta(hours=1)),
        ("http://feeds.example.com:8080/c.xml", now + timedelta(minutes=1)),
    ]
    urls = [
        "https://FEEDS.example.com/story/1",  # same origin, other path, case
        "http://feeds.example.com/story/2",  # port 80: another origin
        "http://feeds.example.com:8080/x",
        "https://www.example.com/story/3",  # another host
    ]
    go, held = schedule.hold_back(urls, str, waits)
    assert go == ["http://feeds.example.com/story/2", "https://www.example.com/story/3"]
    assert held == [
        ("https://FEEDS.example.com/story/1", now + timedelta(hours=1)),
        ("http://feeds.example.com:8080/x", now + timedelta(minutes=1)),
    ]
    assert schedule.hold_back(urls, str, []) == (urls, [])  # forced: nothing held
    with pytest.raises(schedule.HostWaitingError) as e:
        schedule.refuse_waiting(urls[0], waits)
    assert (
        "feeds.example.com:443" in e.value.message and "2026-11-28 13:00:00 UTC" in e.value.message
    )
    assert "u:p" not in e.value.message and "--force" in (e.value.hint or "")
    schedule.refuse_waiting(urls[1], waits)  # another origin: no refusal
