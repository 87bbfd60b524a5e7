"""``extract: auto``: the page is fetched only for entries the feed gave as teasers."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.exceptions import ConfigError
from aggregator.extract.teaser import FULL_CHARS, feed_gives_teasers, is_teaser, wants_page
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

STORY = " ".join(
    f"Sentence {i} of a story the feed carries whole, with enough words to be one."
    for i in range(40)
)


@pytest.mark.parametrize(
    "text",
    [
        "Nvidia shares fell after the announcement.",
        STORY[:900] + " …",
        STORY[:900] + "... Read more",
        STORY[:900] + " [...]",
        STORY[:900] + " Lire la suite",
        STORY[:900] + " Weiterlesen »",
    ],
)
def test_short_or_cut_off_entries_are_teasers(text: str) -> None:
    assert is_teaser(text)


def test_a_whole_story_is_not_a_teaser() -> None:
    assert not is_teaser(STORY)
    assert not is_teaser(STORY + " It ends with a full stop.")


def test_the_feeds_habit_decides_borderline_entries() -> None:
    borderline = STORY[:800] + "."
    assert not is_teaser(borderline)
    teasers = ["A line.", "Another line.", borderline]
    assert feed_gives_teasers(teasers)
    assert wants_page("auto", borderline, teaser_feed=True)
    assert not wants_page("auto", borderline, teaser_feed=False)
    assert not wants_page("auto", STORY[: FULL_CHARS + 10], teaser_feed=True)


def test_true_and_false_keep_their_meaning() -> None:
    assert wants_page(True, STORY, teaser_feed=False)
    assert not wants_page(False, "A line.", teaser_feed=True)


def _feed(server: LoopbackServer) -> str:
    items = []
    for i in range(3):
        url = server.url(f"/full-{i}.html")
        server.route(f"/full-{i}.html", f"<html><body><p>{STORY}</p></body></html>".encode())
        items.append(
            f"<item><title>Full story {i}</title><link>{url}</link><guid>full-{i}</guid>"
            f"<description><![CDATA[<p>{STORY} Story {i}.</p>]]></description></item>"
        )
    url = server.url("/teaser.html")
    server.route(
        "/teaser.html", f"<html><body><article><p>{STORY}</p></article></body></html>".encode()
    )
    items.append(
        f"<item><title>Teaser</title><link>{url}</link><guid>teaser</guid>"
        "<description>Chips export rules tightened… Read more</description></item>"
    )
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{server.url('/')}</link>{''.join(items)}</channel></rss>"
    ).encode()
    return server.route("/feed.xml", body, content_type="application/rss+xml")


@pytest.mark.parametrize(("mode", "pages"), [("auto", 1), (True, 4), (False, 0)])
def test_auto_fetches_the_teasers_page_only(
    http_server: LoopbackServer, tmp_path: Path, mode: object, pages: int, make_agg: AggFactory
) -> None:
    cfg = write_config(
        tmp_path, [{"name": "f", "url": _feed(http_server)}], defaults={"extract": mode}
    )
    with make_agg(cfg) as agg:
        [r] = agg.poll()
        assert r.error is None and r.new == 4
        stored = {a.title: agg.article(a.id) for a in agg.articles()}
    fetched = [
        p
        for p in ("/full-0.html", "/full-1.html", "/full-2.html", "/teaser.html")
        if http_server.requests_for(p)
    ]
    assert len(fetched) == pages
    if mode == "auto":
        assert fetched == ["/teaser.html"]
        assert stored["Teaser"].extracted
        assert not stored["Full story 0"].extracted
        assert "Story 0." in (stored["Full story 0"].text or "")


def test_auto_is_the_default_and_nonsense_is_refused(tmp_path: Path) -> None:
    from aggregator.config.models import load_config

    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n")
    assert load_config(path).defaults.extract == "auto"
    path.write_text("defaults: {extract: sometimes}\nfeeds: []\n")
    with pytest.raises(ConfigError):
        load_config(path)
