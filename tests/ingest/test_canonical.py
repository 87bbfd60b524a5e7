"""rel=canonical is adopted only when plausible, and tracking parameters never stay
(issue 13.2), end to end against a real HTTP server with extraction on."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aggregator import make_aggregator
from aggregator.ingest.identity import plausible_canonical, registrable_domain, strip_tracking
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

VOCAB = [
    "council",
    "budget",
    "harbour",
    "tariff",
    "senate",
    "drought",
    "vaccine",
    "rocket",
    "glacier",
    "merger",
    "strike",
    "verdict",
    "election",
    "pipeline",
    "satellite",
    "festival",
    "protest",
    "reactor",
    "wildfire",
    "summit",
    "ferry",
    "minister",
    "village",
    "river",
    "bridge",
    "school",
    "doctor",
    "market",
    "farmer",
    "railway",
    "museum",
    "court",
    "police",
    "mayor",
    "storm",
    "energy",
    "housing",
    "water",
    "forest",
    "coast",
    "island",
    "library",
    "hospital",
]


def _page(seed: int, title: str, canonical: str | None) -> str:
    rng = random.Random(seed)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(VOCAB) for _ in range(60)) + ".</p>" for _ in range(6)
    )
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>{link}</head><body>"
        f"<header><nav><a href='/'>Home</a></nav></header><main><article><h1>{title}</h1>"
        f"{paragraphs}</article></main><footer>© Site</footer></body></html>"
    )


def _feed(server: LoopbackServer, links: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>{server.url(path)}</link><guid>{path}</guid>"
        f"<description>{t}</description></item>"
        for t, path in links
    )
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>'
        f"<link>{server.url('/')}</link><description>d</description>{items}</channel></rss>"
    )
    return server.route("/feed.xml", body, content_type="application/rss+xml")


def _poll(tmp_path: Path, db_url: str, url: str) -> dict[str, str | None]:
    cfg = write_config(tmp_path, [{"name": "site", "url": url, "extract": True}], database=db_url)
    with make_aggregator(cfg, extract_workers=0) as agg:
        [result] = agg.poll()
        assert result.error is None, result.error
        return {a.title or "": a.url for a in agg.articles(limit=50)}


def test_a_canonical_naming_the_home_page_or_an_about_page_is_not_adopted(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    root, about = http_server.url("/"), http_server.url("/about")
    http_server.route("/s/1", _page(1, "First story", root))
    http_server.route("/s/2", _page(2, "Second story", root))
    http_server.route("/s/3", _page(3, "Third story", about))
    url = _feed(
        http_server,
        [
            ("First story", "/s/1?utm_source=rss"),
            ("Second story", "/s/2?utm_source=rss&utm_medium=feed"),
            ("Third story", "/s/3"),
        ],
    )
    stored = _poll(tmp_path, db_url, url)
    assert stored == {
        "First story": http_server.url("/s/1"),
        "Second story": http_server.url("/s/2"),
        "Third story": http_server.url("/s/3"),
    }


def test_a_plausible_canonical_is_adopted(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    http_server.route("/amp/1", _page(1, "First story", http_server.url("/news/first-story")))
    url = _feed(http_server, [("First story", "/amp/1?utm_source=rss")])
    assert _poll(tmp_path, db_url, url) == {"First story": http_server.url("/news/first-story")}


def test_a_canonical_naming_another_stored_story_is_not_adopted(
    http_server: LoopbackServer, tmp_path: Path, db_url: str, make_agg: AggFactory
) -> None:
    first = http_server.url("/s/1")
    http_server.route("/s/1", _page(1, "First story", None))
    http_server.route("/s/2", _page(2, "Second story", first))  # a template's copy-paste
    url = _feed(http_server, [("First story", "/s/1")])
    cfg = write_config(tmp_path, [{"name": "site", "url": url, "extract": True}], database=db_url)
    with make_agg(cfg) as agg:
        agg.poll()
        _feed(http_server, [("First story", "/s/1"), ("Second story", "/s/2")])
        [result] = agg.poll()
        assert result.new == 1, result
        stored = {a.title: a.url for a in agg.articles(limit=50)}
    assert stored == {"First story": first, "Second story": http_server.url("/s/2")}


def test_tracking_parameters_go_even_when_the_page_cannot_be_extracted(
    http_server: LoopbackServer, tmp_path: Path, db_url: str
) -> None:
    http_server.route("/gone", "not here", status=404)
    url = _feed(http_server, [("Gone story", "/gone?utm_source=rss&id=7&fbclid=x")])
    assert _poll(tmp_path, db_url, url) == {"Gone story": http_server.url("/gone?id=7")}


@pytest.mark.parametrize(
    ("article", "canonical", "plausible"),
    [
        ("https://oneuptime.com/blog/post/x", "https://oneuptime.com", False),
        ("https://oneuptime.com/blog/post/x", "https://oneuptime.com/", False),
        ("https://a.substack.com/p/story", "https://a.substack.com/about", False),
        ("https://e.example/p/1", "https://e.example/index.html", False),
        ("https://e.example/p/1", "https://other.example/p/1", False),
        ("https://e.example/p/1", "ftp://e.example/p/1", False),
        ("https://amp.bbc.co.uk/news/1", "https://www.bbc.co.uk/news/world-1", True),
        ("https://e.example/amp/p/1", "https://e.example/p/1", True),
        ("https://e.example/p/1", "https://e.example/about/history-of-a-story", True),
    ],
)
def test_plausible_canonical(article: str, canonical: str, plausible: bool) -> None:
    assert plausible_canonical(article, canonical) is plausible


def test_registrable_domain_uses_the_public_suffix_list() -> None:
    assert registrable_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("a.github.io") == "a.github.io"  # a private suffix
    assert registrable_domain("127.0.0.1") == "127.0.0.1"


def test_strip_tracking_keeps_everything_else() -> None:
    assert strip_tracking("https://e.example/a?utm_source=rss") == "https://e.example/a"
    assert strip_tracking("https://e.example/a?b=1&UTM_medium=x&c=2#top") == (
        "https://e.example/a?b=1&c=2#top"
    )
    assert strip_tracking("https://E.example/a?b=1") == "https://E.example/a?b=1"
