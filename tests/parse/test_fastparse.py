"""aggregator.parse.fast: the lxml fast path gives what the feedparser path gives, or steps aside."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import feedparser.sanitizer
import feedparser.urls
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.parse import fast as fastparse
from aggregator.parse import feeds as parse_module
from aggregator.parse.feeds import Enclosure, ParsedFeed, parse_feed, text_of
from aggregator.parse.sniff import prepare_xml

FEED_URL = "https://news.example.com/feeds/main.xml"
ROOT = Path(__file__).resolve().parents[2]

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>City Desk &amp; Wires</title>
    <link>https://news.example.com/</link>
    <atom:link href="https://news.example.com/feeds/main.xml" rel="self" type="application/rss+xml"/>
    <description>Breaking news</description>
    <language>en-us</language>
    <ttl>15</ttl>
    <image><url>/logo.png</url><title>Logo</title><link>https://news.example.com/</link></image>
    <item>
      <title>Council approves &lt;b&gt;new&lt;/b&gt; budget</title>
      <guid isPermaLink="true">https://news.example.com/politics/budget.html</guid>
      <pubDate>Tue, 14 May 2024 09:30:00 +0000</pubDate>
      <author>jdoe@example.com (Jane Doe)</author>
      <category>Politics</category>
      <category domain="https://news.example.com/tags">City Council</category>
      <enclosure url="https://cdn.example.com/audio/budget.mp3" type="Audio/MPEG" length="123456"/>
      <description>The council voted 7 to 2 &amp; the mayor abstained.</description>
      <content:encoded><![CDATA[<p>The council voted <strong>7 to 2</strong>.</p>
<p>Tax up 1.5 percent.<script>track()</script></p><p><img src="/img/council.jpg" alt="Chamber"></p>]]></content:encoded>
    </item>
    <item>
      <title>Bridge closed</title>
      <link>/transport/bridge-closed?a=1&amp;b=2</link>
      <guid isPermaLink="false">urn:newsdesk:item:4711</guid>
      <dc:creator>Sam Reporter</dc:creator>
      <dc:date>2024-05-13T17:05:00-05:00</dc:date>
      <description>&lt;p&gt;Closed until &lt;a href="/detours"&gt;Friday&lt;/a&gt;.&lt;/p&gt;</description>
      <itunes:keywords>traffic, bridges</itunes:keywords>
      <media:group><media:title>Ignored: a title was already seen</media:title></media:group>
    </item>
    <item>
      <guid>relative/guid-as-link</guid>
      <title></title>
      <title>Second title counts when the first is empty</title>
      <pubDate>Mon, 13 May 2024 12:00:00 GMT</pubDate>
      <description>Plain text, five &lt; six, no markup at all.</description>
      <itunes:summary>Becomes content: a summary already exists.</itunes:summary>
    </item>
  </channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
  <title type="text">Le Journal du Port</title>
  <link rel="alternate" type="text/html" href="https://blog.example.org/journal/"/>
  <link rel="self" href="https://blog.example.org/journal/atom.xml"/>
  <id>tag:blog.example.org,2024:journal</id>
  <updated>2024-06-01T12:00:00+02:00</updated>
  <author><name>R\xc3\xa9daction</name><email>desk@example.org</email></author>
  <entry>
    <title type="html">Quai &lt;em&gt;r\xc3\xa9nov\xc3\xa9&lt;/em&gt;</title>
    <link rel="alternate" type="text/html" href="2024/06/quai.html"/>
    <link rel="enclosure" type="image/jpeg" length="2048" href="media/quai.jpg"/>
    <id>tag:blog.example.org,2024:quai</id>
    <published>2024-06-01T10:00:00+02:00</published>
    <updated>2024-06-01T11:30:00+02:00</updated>
    <author><name>Marie Curie</name><email>marie@example.org</email></author>
    <category term="urbanisme"/>
    <category term="port" label="Le port"/>
    <summary type="text">Les travaux du quai sont termin\xc3\xa9s.</summary>
    <content type="html">&lt;p&gt;Les travaux du &lt;a href="quai.html"&gt;quai&lt;/a&gt;.&lt;/p&gt;</content>
  </entry>
  <entry xml:base="https://other.example.org/archive/">
    <title>Second billet</title>
    <link href="second.html"/>
    <id>https://other.example.org/archive/second</id>
    <updated>Thu, 30 May 2024 08:00:00 GMT</updated>
    <content type="html">&lt;p&gt;See &lt;a href="third.html"&gt;the next one&lt;/a&gt;.&lt;/p&gt;</content>
  </entry>
</feed>
"""

HOSTILE_HTML = (
    '<p onclick="steal()" onmouseover="steal()">Visible <a href="javascript:alert(1)">link</a>'
    ' <a href="JaVaScRiPt:alert(2)">upper</a> <img src="data:image/png;base64,AAAA" onerror="x()">'
    '<a href="/safe">safe</a></p><script>alert("x")</script><style>body{display:none}</style>'
    '<iframe src="https://evil.example/"></iframe><iframe src="https://evil.example/" />'
    '<form action="javascript:alert(3)"><input type="text"></form>'
    "<p style=\"background:url(javascript:alert(4))\">styled</p><object data='x.swf'>obj</object>"
    '<a href="vbscript:msgbox(5)">vb</a><img src="x" onerror="alert(6)"/>'
)
HOSTILE = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>H</title><item><title>t</title>'
    f"<link>https://h.example/1</link><description><![CDATA[{HOSTILE_HTML}]]></description>"
    "</item></channel></rss>"
).encode()


def rss_item(body: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>T</title><link>https://a.example/</link><item>{body}</item></channel></rss>"
    ).encode()


# --------------------------------------------------------------------------- helpers


@contextmanager
def fast_path(enabled: bool) -> Iterator[None]:
    saved = parse_module.FAST_PATH
    parse_module.FAST_PATH = enabled
    try:
        yield
    finally:
        parse_module.FAST_PATH = saved


def takes_fast_path(body: bytes, url: str = FEED_URL) -> bool:
    prepared = prepare_xml(body, None)
    return fastparse.feedparser_result(prepared.data, url) is not None


def both(body: bytes, url: str = FEED_URL) -> tuple[ParsedFeed, ParsedFeed]:
    with fast_path(True):
        fast = parse_feed(body, url=url)
    with fast_path(False):
        slow = parse_feed(body, url=url)
    return fast, slow


def assert_same(fast: ParsedFeed, slow: ParsedFeed) -> None:
    """Every field equal; summary and content by their text (sanitisers serialise differently)."""
    for name in ("format", "title", "link", "language", "ttl_minutes", "warnings"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert len(fast.entries) == len(slow.entries)
    for a, b in zip(fast.entries, slow.entries, strict=True):
        for name in ("id", "url", "title", "author", "published", "updated", "tags", "enclosures"):
            assert getattr(a, name) == getattr(b, name), name
        for name in ("summary", "content"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            assert text_of(x) == text_of(y), name


def agree(body: bytes, url: str = FEED_URL) -> ParsedFeed:
    """The fast path takes ``body`` and agrees with feedparser; returns its result."""
    assert takes_fast_path(body, url)
    fast, slow = both(body, url)
    assert_same(fast, slow)
    return fast


def falls_back(body: bytes) -> ParsedFeed:
    """The fast path declines ``body``; parse_feed then gives feedparser's result exactly."""
    assert not takes_fast_path(body)
    fast, slow = both(body)
    assert fast == slow
    return fast


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- agreement


def test_rss20_agrees_field_by_field() -> None:
    feed = agree(RSS)
    assert (feed.format, feed.title, feed.link, feed.language, feed.ttl_minutes) == (
        "rss20", "City Desk & Wires", "https://news.example.com/", "en-us", 15,
    )  # fmt: skip
    first, second, third = feed.entries
    assert (first.title, first.author, first.published) == (
        "Council approves new budget", "Jane Doe", utc(2024, 5, 14, 9, 30),
    )  # fmt: skip
    assert first.url == first.id == "https://news.example.com/politics/budget.html"
    assert first.tags == ("Politics", "City Council")
    assert first.enclosures == (
        Enclosure("https://cdn.example.com/audio/budget.mp3", "audio/mpeg", 123456),
    )
    assert first.summary == "The council voted 7 to 2 & the mayor abstained."  # as feedparser
    assert first.content and 'src="https://news.example.com/img/council.jpg"' in first.content
    assert "track()" not in first.content
    assert second.url == "https://news.example.com/transport/bridge-closed?a=1&b=2"
    assert (second.id, second.author, second.title) == (
        "urn:newsdesk:item:4711", "Sam Reporter", "Bridge closed",
    )  # fmt: skip
    assert second.updated == utc(2024, 5, 13, 22, 5) and second.published is None
    assert second.tags == ("traffic", "bridges")
    assert second.summary and 'href="https://news.example.com/detours"' in second.summary
    assert third.url == third.id == "https://news.example.com/feeds/relative/guid-as-link"
    assert third.title == "Second title counts when the first is empty"
    assert third.content == "<p>Becomes content: a summary already exists.</p>"


def test_markup_free_html_is_byte_identical_to_feedparser() -> None:
    fast, slow = both(RSS)
    assert fast.entries[0].summary == slow.entries[0].summary
    assert (
        fast.entries[2].summary
        == slow.entries[2].summary
        == ("Plain text, five < six, no markup at all.")
    )


def test_atom_agrees_field_by_field() -> None:
    feed = agree(ATOM)
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "atom10", "Le Journal du Port", "https://blog.example.org/journal/", "fr",
    )  # fmt: skip
    first, second = feed.entries
    assert (first.title, first.author) == ("Quai rénové", "Marie Curie")
    assert first.url == "https://news.example.com/feeds/2024/06/quai.html"
    assert (first.published, first.updated) == (utc(2024, 6, 1, 8), utc(2024, 6, 1, 9, 30))
    assert first.tags == ("urbanisme", "port")
    assert first.enclosures == (
        Enclosure("https://news.example.com/feeds/media/quai.jpg", "image/jpeg", 2048),
    )
    assert first.summary == "<p>Les travaux du quai sont terminés.</p>"
    assert first.content and 'href="https://news.example.com/feeds/quai.html"' in first.content
    assert second.author == "Rédaction"  # inherited from the feed (RFC 4287 4.2.1)
    assert second.url == "https://other.example.org/archive/second.html"  # xml:base
    assert second.updated == utc(2024, 5, 30, 8)
    assert (
        second.content and 'href="https://other.example.org/archive/third.html"' in second.content
    )


def test_relative_links_resolve_against_the_url_given() -> None:
    feed = agree(RSS, url="https://mirror.example.net/a/b.xml")
    assert feed.entries[1].url == "https://mirror.example.net/transport/bridge-closed?a=1&b=2"


@pytest.mark.parametrize(
    "body",
    [
        # dates: RFC 822 with zones, ISO 8601, nonsense, an impossible day
        (
            "<title>d</title><pubDate>Mon, 13 May 2024 17:05:00 -0500</pubDate>"
            "<dc:date xmlns:dc='http://purl.org/dc/elements/1.1/'>2024-05-30</dc:date>"
        ),
        "<title>d</title><pubDate>not a date</pubDate>",
        "<title>d</title><pubDate>Tue, 31 Feb 2024 09:30:00 GMT</pubDate>",
        # authors: e-mail only, several creators, Atom-style person in RSS
        "<author>jane@example.com</author><title>a</title>",
        (
            "<dc:creator xmlns:dc='http://purl.org/dc/elements/1.1/'>First</dc:creator>"
            "<dc:creator xmlns:dc='http://purl.org/dc/elements/1.1/'>Second</dc:creator>"
        ),
        # categories: empty, attribute-only, comma lists
        "<category domain='d'/><category>Tech</category><category></category>",
        "<tags>a, b, ,c</tags>",
        # links: guid is not a permalink, javascript link, later link wins over guid
        "<guid isPermaLink='True'>https://g.example/1</guid><link>javascript:alert(1)</link>",
        "<guid>https://g.example/2</guid><link>https://l.example/2</link>",
        # double-encoded UTF-8 and cp1252 controls repaired like feedparser does
        "<title>Caf\xc3\xa9 \x93quoted\x94</title><description>Caf\xc3\xa9</description>",
        # descriptions: HTML, escaped text, entities, unknown entity names
        "<description>AT&amp;T; &amp;hellip; &amp;#150; &amp;nosuch; &amp;copy 2024</description>",
        "<description><![CDATA[<p>one</p><p>two <b>bold</b><br/>three</p>]]></description>",
        "<content:encoded><![CDATA[<iframe src='x' />after the iframe]]></content:encoded>",
        # two contents: feedparser's own sanitiser decides which one is longer
        (
            "<description>short</description><itunes:summary xmlns:itunes="
            "'http://www.itunes.com/dtds/podcast-1.0.dtd'>&lt;p&gt;x &lt;a href='/a'&gt;a"
            "&lt;/a&gt;&lt;/p&gt;</itunes:summary><content:encoded><![CDATA[<p>x <a href='/b'"
            " rel='nofollow' target='_blank'>b</a></p>]]></content:encoded>"
        ),
    ],
)
def test_rss_item_variants_agree(body: str) -> None:
    agree(rss_item(body))


# --------------------------------------------------------------------------- hostile HTML


def test_hostile_html_is_sanitised() -> None:
    summary = agree(HOSTILE).entries[0].summary or ""
    lowered = summary.lower()
    for needle in (
        "<script",
        "alert",
        "onclick",
        "onmouseover",
        "onerror",
        "javascript:",
        "vbscript",
    ):
        assert needle not in lowered
    for needle in ("data:", "<style", "display:none", "<iframe", "evil.example", "style="):
        assert needle not in lowered
    assert 'href="https://news.example.com/safe"' in summary
    assert "Visible" in summary and "styled" in summary


def test_hostile_titles_become_plain_text() -> None:
    body = rss_item("<title>&lt;b&gt;Bold&lt;/b&gt; &lt;i&gt;move&lt;/i&gt;</title>")
    assert agree(body).entries[0].title == "Bold move"


# --------------------------------------------------------------------------- fallback


ATOM_XHTML = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>X</title>
<entry><title>x</title><id>urn:x</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>Inline <b>XHTML</b></p></div></content></entry></feed>"""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(rss_item("<title>Caf&eacute;&nbsp;culture</title>"), id="undefined-entity"),
        pytest.param(rss_item("<title>unclosed</title><description>x"), id="truncated"),
        pytest.param(rss_item("<title>a</description>"), id="mismatched-tags"),
        pytest.param(rss_item("<x:title>unbound prefix</x:title>"), id="unbound-prefix"),
        pytest.param(ATOM_XHTML, id="atom-xhtml"),
        pytest.param(
            rss_item("<description><p>inline markup</p></description>"), id="inline-markup"
        ),
        pytest.param(
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            b' xmlns="http://purl.org/rss/1.0/"><channel><title>R</title></channel>'
            b"<item><title>i</title><link>https://r.example/1</link></item></rdf:RDF>",
            id="rss10",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x'
            b'</title><content type="application/octet-stream">aGVsbG8=</content></entry></feed>',
            id="base64-content",
        ),
        pytest.param(
            rss_item("<description><![CDATA[<p>x</p><svg><text>t</text></svg>]]></description>"),
            id="inline-svg",
        ),
    ],
)
def test_unsupported_documents_fall_back_to_feedparser(body: bytes) -> None:
    falls_back(body)


def test_malformed_xml_is_still_parsed_by_feedparser() -> None:
    feed = falls_back(rss_item("<title>kept</title><link>https://a.example/1</link><bad"))
    assert feed.warnings and feed.warnings[0].startswith("malformed XML")


def test_forcing_feedparser_skips_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes, url: str) -> None:
        raise AssertionError("fast path used")

    monkeypatch.setattr(fastparse, "feedparser_result", boom)
    with fast_path(False):
        assert parse_feed(RSS, url=FEED_URL).title == "City Desk & Wires"


@pytest.mark.parametrize(("value", "expected"), [("1", False), ("", True), ("0", True)])
def test_environment_switch(value: str, expected: bool) -> None:
    env = {**os.environ, "AGGREGATOR_FEEDPARSER_ONLY": value}
    out = subprocess.run(
        [sys.executable, "-c", "import aggregator.parse.feeds as p; print(p.FAST_PATH)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == str(expected)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab &#;xX19AEcopy.-<>/!?\r\n\x96é")), max_size=40))
def test_markup_free_text_matches_feedparser_sanitiser(text: str) -> None:
    if fastparse._TAG_LIKE.search(text):
        return
    resolved = feedparser.urls.resolve_relative_uris(text, FEED_URL, "utf-8", "text/html")
    expected = feedparser.sanitizer._sanitize_html(resolved, "utf-8", "text/html")
    assert fastparse._sgml_text(text) == expected


ITEM_PARTS = [
    "<title>Title</title>",
    "<title>&lt;b&gt;html&lt;/b&gt; title</title>",
    "<title></title>",
    "<title type='html'>AT&amp;T;</title>",
    "<link>/rel/a?x=1&amp;y=2</link>",
    "<link>https://abs.example/b</link>",
    "<atom:link href='/alt' rel='alternate'/>",
    "<atom:link href='/enc.mp3' rel='enclosure' type='audio/mpeg' length='12'/>",
    "<guid>https://g.example/1</guid>",
    "<guid isPermaLink='false'>urn:x:1</guid>",
    "<guid>relative-guid</guid>",
    "<pubDate>Tue, 14 May 2024 09:30:00 +0000</pubDate>",
    "<dc:date>2024-05-30T08:00:00Z</dc:date>",
    "<pubDate>garbage</pubDate>",
    "<author>a@b.example (Ann)</author>",
    "<dc:creator>Bob</dc:creator>",
    "<itunes:author>Cy</itunes:author>",
    "<description>plain &amp; simple</description>",
    "<description><![CDATA[<p>Para <a href='/x'>link</a></p><script>x()</script>]]></description>",
    "<itunes:summary>summary text</itunes:summary>",
    "<itunes:summary>&lt;p&gt;html &lt;b&gt;summary&lt;/b&gt;&lt;/p&gt;</itunes:summary>",
    "<content:encoded><![CDATA[<p>Full <em>content</em></p>]]></content:encoded>",
    "<content:encoded><![CDATA[<div>Other <i>content</i> here</div>]]></content:encoded>",
    "<media:description>media description</media:description>",
    "<category>Cat</category>",
    "<category domain='d'></category>",
    "<dc:subject>Subj</dc:subject>",
    "<media:keywords>k1, k2</media:keywords>",
    "<itunes:keywords>a,b</itunes:keywords>",
    "<enclosure url='/e.mp3' type='audio/mpeg' length='5'/>",
    "<enclosure url='' length='x'/>",
    "<media:group><media:title>mt</media:title><media:content url='/m.mp4'/></media:group>",
    "<media:thumbnail url='/t.jpg'/>",
    "<comments>/c</comments>",
    "<source url='/s'>Src</source>",
    "<image>https://i.example/x.png</image>",
    "<og><title>og title</title><type>a</type></og>",
    "<itunes:duration>1:00</itunes:duration>",
    "<foo bar='1'>x</foo>",
]
NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
    'xmlns:media="http://search.yahoo.com/mrss/"'
)


def rss_of(items: list[list[str]]) -> bytes:
    body = "".join("<item>" + "".join(parts) + "</item>" for parts in items)
    return (
        f'<?xml version="1.0"?><rss version="2.0" {NAMESPACES}><channel><title>P</title>'
        f"<link>https://p.example/</link>{body}</channel></rss>"
    ).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(ITEM_PARTS), max_size=10), min_size=1, max_size=4))
def test_generated_feeds_agree_whenever_the_fast_path_takes_them(items: list[list[str]]) -> None:
    body = rss_of(items)
    if takes_fast_path(body):
        assert_same(*both(body))
    else:
        falls_back(body)


def test_the_generated_feeds_mostly_take_the_fast_path() -> None:
    """Guards the property test above against silently testing nothing but fallbacks."""
    taken = [takes_fast_path(rss_of([[part]])) for part in ITEM_PARTS]
    assert sum(taken) == len(ITEM_PARTS)


def test_fast_path_was_verified_against_this_feedparser() -> None:
    """fastparse mirrors feedparser's element semantics: on an upgrade, rerun
    scripts/compare_parsers.py (and the tests above) before updating this version."""
    assert feedparser.__version__ == "6.0.14"


def test_results_are_plain_values() -> None:
    fast = agree(RSS)
    assert hash(fast) == hash(agree(RSS))


def test_cleaners_are_cached_per_base() -> None:
    assert fastparse._cleaner(FEED_URL) is fastparse._cleaner(FEED_URL)
