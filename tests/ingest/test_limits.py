"""A per-feed item cap (newest first, the rest counted in a warning) and a per-feed
time budget (issue 13.3): a 20 MB feed of 100,000 items was stored whole."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aggregator import make_aggregator
from aggregator.config.models import parse_config
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, Request, Response

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _rss(n: int, *, undated: int = 0) -> bytes:
    """`n` dated items in shuffled order (item i published i hours after T0), then
    `undated` items without a date."""
    order = list(range(n))
    random.Random(7).shuffle(order)
    items = [
        f"<item><title>Story {i}</title><link>https://e.example/{i}</link><guid>s{i}</guid>"
        f"<pubDate>{format_datetime(T0 + timedelta(hours=i))}</pubDate></item>"
        for i in order
    ]
    items += [
        f"<item><title>Undated {j}</title><link>https://e.example/u{j}</link></item>"
        for j in range(undated)
    ]
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://e.example/</link><description>d</description>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def test_the_default_cap_keeps_the_newest_500_and_says_how_many_were_left(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    url = http_server.route("/big.xml", _rss(1200), content_type="application/rss+xml")
    cfg = write_config(tmp_path, [{"name": "big", "url": url}], database=db_url)
    with make_aggregator(cfg, extract_workers=0) as agg:
        [result] = agg.poll()
        titles = {a.title for a in agg.articles(limit=2000)}
        [feed] = agg.feeds()
    assert result.error is None and result.new == 500
    assert titles == {f"Story {i}" for i in range(700, 1200)}
    [warning] = [w for w in feed.warnings if "not read" in w]
    assert "700 of 1200 items" in warning and "500" in warning


def test_a_feed_s_own_cap_and_undated_items_in_document_order(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    url = http_server.route("/f.xml", _rss(3, undated=4), content_type="application/rss+xml")
    cfg = write_config(tmp_path, [{"name": "f", "url": url, "max_items": 5}])
    with make_aggregator(cfg, extract_workers=0) as agg:
        [result] = agg.poll()
        titles = {a.title for a in agg.articles(limit=50)}
    assert result.new == 5
    assert titles == {"Story 0", "Story 1", "Story 2", "Undated 0", "Undated 1"}


def test_max_items_and_poll_budget_are_validated() -> None:
    config = parse_config(
        "defaults: {max_items: 50, poll_budget: 90s}\n"
        "feeds:\n  - {name: a, url: 'https://e.example/a', max_items: 10}\n"
        "  - {name: b, url: 'https://e.example/b', poll_budget: 10m}\n"
    )
    a, b = config.feeds
    assert (config.max_items(a), config.max_items(b)) == (10, 50)
    assert (config.poll_budget(a), config.poll_budget(b)) == (
        timedelta(seconds=90),
        timedelta(minutes=10),
    )
    default = parse_config("feeds: []\n")
    assert default.defaults.max_items == 500


def test_a_poll_over_its_time_budget_stops_and_is_recorded(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    def slow_page(req: Request) -> Response:
        return Response(200, b"<html><body><p>slow</p></body></html>", delay=4.0)

    http_server.handle("/page", slow_page)
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
        "<link>https://e.example/</link><description>d</description>"
        f"<item><title>One</title><link>{http_server.url('/page')}</link></item>"
        "</channel></rss>"
    ).encode()
    url = http_server.route("/slow.xml", body, content_type="application/rss+xml")
    cfg = write_config(
        tmp_path,
        [{"name": "slow", "url": url, "extract": True, "poll_budget": "1s"}],
        database=db_url,
    )
    with make_aggregator(cfg, extract_workers=0) as agg:
        start = time.monotonic()
        [result] = agg.poll()
        took = time.monotonic() - start
        [feed] = agg.feeds()
    assert took < 3.5, took
    assert result.error and "time budget of 1s" in result.error
    assert feed.error_count == 1 and "time budget" in (feed.last_error or "")
