"""A host's Retry-After holds for re-checks too, and for the daemon's schedules
(issue 13, item 17): a story on a host that asked to wait is not fetched, on
demand or on schedule, until the wait is over or the user forces it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from aggregator import make_aggregator
from aggregator.cli.seedsite import SeedArticle, load_seed
from tests.monitor.test_monitor import Site
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

PAGE = "/2025/02/03/nvidia.html"


def _throttled_site(
    server: LoopbackServer, tmp_path: Path, clock: Clock, db_url: str | None = None
) -> tuple[Any, int]:
    """A polled story, then its feed answers 429 Retry-After: 3600 to a second poll."""
    Site(server, load_seed())
    cfg = write_config(
        tmp_path,
        [{"name": "site", "url": server.url("/feed.xml"), "extract": True}],
        database=db_url,
    )
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    agg.poll()
    [story] = agg.articles()
    server.route("/feed.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    clock.now += timedelta(minutes=1)
    [r] = agg.poll(force=True)
    assert r.error and "429" in r.error
    return agg, story.id


def _due(agg: Any, clock: Clock) -> list[Any]:
    async def go() -> list[Any]:
        async with agg.running() as run:
            return list(await agg.recheck_due(run, worker="daemon"))

    return asyncio.run(go())


def test_recheck_now_skips_a_story_whose_host_asked_to_wait_unless_forced(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    clock = Clock()
    agg, aid = _throttled_site(http_server, tmp_path, clock)
    with agg:
        fetched = len(http_server.requests_for(PAGE))
        checked = agg.article(aid).last_checked_at
        [r] = agg.recheck([aid])
        assert r.outcome == "skipped" and r.error is None
        assert r.skipped_until == clock.now + timedelta(seconds=3600)
        assert agg.recheck() == [r]  # --all: the same
        assert len(http_server.requests_for(PAGE)) == fetched  # the host was not asked
        assert agg.article(aid).last_checked_at == checked  # nothing recorded as a check

        [forced] = agg.recheck([aid], force=True)
        assert forced.outcome == "unchanged" and forced.skipped_until is None
        assert len(http_server.requests_for(PAGE)) == fetched + 1


def test_the_daemons_recheck_schedule_waits_for_the_host_then_resumes(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    clock = Clock()
    agg, aid = _throttled_site(http_server, tmp_path, clock, db_url)
    asked_until = clock.now + timedelta(seconds=3600)
    with agg:
        fetched = len(http_server.requests_for(PAGE))
        clock.now += timedelta(minutes=20)  # the story's first re-check is due
        [r] = _due(agg, clock)
        assert r.outcome == "skipped" and r.skipped_until == asked_until
        clock.now += timedelta(minutes=10)
        assert _due(agg, clock) == []  # deferred, not claimed again every cycle
        assert len(http_server.requests_for(PAGE)) == fetched

        clock.now = asked_until + timedelta(seconds=1)  # the wait is over
        [after] = _due(agg, clock)
        assert after.outcome == "unchanged"
        assert len(http_server.requests_for(PAGE)) == fetched + 1


def test_the_daemon_defers_a_due_feed_whose_host_asked_to_wait(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    """A sibling feed of the one that met the 429 is not polled when it falls due."""
    clock = Clock()
    http_server.route("/busy.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    http_server.route("/other.xml", _rss(), content_type="application/rss+xml")
    cfg = write_config(
        tmp_path,
        [
            {"name": "busy", "url": http_server.url("/busy.xml")},
            {"name": "other", "url": http_server.url("/other.xml"), "interval": "5m"},
        ],
        database=db_url,
    )
    asked_until = clock.now + timedelta(seconds=3600)

    async def cycle(agg: Any) -> dict[str, Any]:
        async with agg.running() as run:
            return {r.feed: r for r in await agg.poll_due(run, worker="daemon")}

    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        assert agg.poll(["busy"])[0].error
        clock.now += timedelta(minutes=1)
        first = asyncio.run(cycle(agg))
        assert set(first) == {"other"} and first["other"].skipped_until == asked_until
        assert http_server.requests_for("/other.xml") == []
        states = agg.feed_states(["other"])
        assert states["other"].next_due_at == asked_until  # due again when the host allows
        clock.now += timedelta(minutes=10)  # its 5m interval passed: still not due
        assert asyncio.run(cycle(agg)) == {}
        clock.now = asked_until + timedelta(seconds=1)
        again = asyncio.run(cycle(agg))
        assert again["other"].ok and again["other"].skipped_until is None
        assert len(http_server.requests_for("/other.xml")) == 1


def _rss() -> str:
    seed: SeedArticle = load_seed()
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.org/</link><description>d</description><item><title>"
        f"{seed.title}</title><link>http://example.org/1</link><guid>g1</guid></item>"
        "</channel></rss>"
    )


def test_a_poll_does_not_fetch_story_pages_from_a_host_that_asked_to_wait(
    http_server: LoopbackServer, tmp_path: Path, seed_text: str
) -> None:
    """The feed's host is fine, its stories' pages are on one that asked to wait: they are
    kept with the feed's text (the reason recorded), and fetched when forced."""
    pages = LoopbackServer()
    try:
        pages.route("/busy.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
        body = "".join(f"<p>{p}</p>" for p in seed_text.split("\n") if p.strip())
        for n in (1, 2):
            pages.route(f"/story{n}.html", f"<html><body><article>{body}</article></body></html>")

        def feed(n: int) -> str:
            items = "".join(
                f"<item><title>Story {i}</title><link>{pages.url(f'/story{i}.html')}</link>"
                f"<guid>s{i}</guid><description>Teaser {i}</description></item>"
                for i in range(1, n + 1)
            )
            return (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                f"<link>http://example.org/</link><description>d</description>{items}"
                "</channel></rss>"
            )

        http_server.route("/news.xml", feed(1), content_type="application/rss+xml")
        cfg = write_config(
            tmp_path,
            [
                {"name": "news", "url": http_server.url("/news.xml"), "extract": True},
                {"name": "pages-own-feed", "url": pages.url("/busy.xml")},
            ],
        )
        with make_aggregator(cfg, clock=Clock(), extract_workers=0) as agg:
            assert agg.poll(["pages-own-feed"])[0].error
            [r] = agg.poll(["news"])
            assert r.ok and r.new == 1
            assert pages.requests_for("/story1.html") == []
            [story] = agg.articles()
            stored = agg.article(story.id)
            assert not stored.extracted and "asked to wait" in (stored.extract_error or "")
            http_server.route("/news.xml", feed(2), content_type="application/rss+xml")
            [forced] = agg.poll(["news"], force=True)
            assert forced.new == 1 and len(pages.requests_for("/story2.html")) == 1
    finally:
        pages.close()


def test_a_retry_after_met_by_a_recheck_holds_for_every_command(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    """Not only a feed's own poll: a 429 a story page answers is kept for its origin."""
    clock = Clock()
    Site(http_server, load_seed())
    cfg = write_config(
        tmp_path,
        [{"name": "site", "url": http_server.url("/feed.xml"), "extract": True}],
        database=db_url,
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        agg.poll()
        [story] = agg.articles()
        http_server.route(PAGE, b"slow down", status=429, headers={"Retry-After": "3600"})
        clock.now += timedelta(minutes=20)
        [met] = agg.recheck([story.id])
        assert met.outcome == "error" and "429" in (met.error or "")
        asked = len(http_server.requests_for(PAGE)), len(http_server.requests_for("/feed.xml"))
        clock.now += timedelta(minutes=1)
        [again] = agg.recheck([story.id])
        assert again.outcome == "skipped"
        assert again.skipped_until == clock.now - timedelta(minutes=1) + timedelta(hours=1)
        [polled] = agg.poll()  # the feed is on that origin: skipped too
        assert polled.skipped_until == again.skipped_until
        assert (
            len(http_server.requests_for(PAGE)),
            len(http_server.requests_for("/feed.xml")),
        ) == asked
        clock.now += timedelta(hours=1)  # the wait is over
        [later] = agg.poll()
        assert later.ok and later.skipped_until is None


def test_a_retry_after_met_by_a_story_page_holds_for_the_next_pages(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    pages = LoopbackServer()
    try:
        pages.route("/a.html", b"slow down", status=429, headers={"Retry-After": "3600"})
        pages.route("/b.html", "<html><body><p>b</p></body></html>")

        def feed(*names: str) -> str:
            items = "".join(
                f"<item><title>{n}</title><link>{pages.url(f'/{n}.html')}</link>"
                f"<guid>{n}</guid><description>Teaser</description></item>"
                for n in names
            )
            return (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                f"<link>http://example.org/</link><description>d</description>{items}"
                "</channel></rss>"
            )

        http_server.route("/news.xml", feed("a"), content_type="application/rss+xml")
        cfg = write_config(
            tmp_path, [{"name": "news", "url": http_server.url("/news.xml"), "extract": True}]
        )
        with make_aggregator(cfg, clock=Clock(), extract_workers=0) as agg:
            assert agg.poll()[0].new == 1 and len(pages.requests_for("/a.html")) == 1
            http_server.route("/news.xml", feed("a", "b"), content_type="application/rss+xml")
            assert agg.poll()[0].new == 1  # b is stored, with the feed's text
            assert pages.requests_for("/b.html") == []
    finally:
        pages.close()
