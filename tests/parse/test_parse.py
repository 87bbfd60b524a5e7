"""aggregator.parse.feeds: every format's fields, hostile XML, broken bodies, the shared corpus."""

from __future__ import annotations

import builtins
import codecs
import io
import json
import random
import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import AggregatorError, ParseError
from aggregator.parse import feeds as parse_module
from aggregator.parse.feeds import (
    ENTITY_NOTE,
    Enclosure,
    FeedParseError,
    ParsedEntry,
    ParsedFeed,
    parse_feed,
    text_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "feeds"
FEED_URL = "https://news.example.com/feeds/main.xml"


@pytest.fixture(autouse=True, params=["fast-path", "feedparser-only"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test runs with the lxml fast path enabled and with feedparser forced."""
    enabled = request.param == "fast-path"
    monkeypatch.setattr(parse_module, "FAST_PATH", enabled)
    return enabled


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_fixture(name: str, **kwargs: Any) -> ParsedFeed:
    return parse_feed(load(name), url=FEED_URL, **kwargs)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def rss(title: str = "t", description: str = "d", prolog: str = "") -> bytes:
    """A minimal one-item RSS 2.0 document with an optional prolog."""
    return (
        (
            f'{prolog}<rss version="2.0"><channel><title>{title}</title>'
            "<link>https://a.example/</link><item><title>{title}</title>"
            f"<link>https://a.example/1</link><description>{description}</description>"
            "</item></channel></rss>"
        )
        .replace("{title}", title)
        .encode("utf-8")
    )


# --------------------------------------------------------------------------- RSS 2.0


def test_rss20_channel_fields() -> None:
    feed = parse_fixture("rss20.xml")
    assert (feed.format, feed.title, feed.link) == (
        "rss20",
        "City Desk & Wires",
        "https://news.example.com/",
    )
    assert (feed.language, feed.ttl_minutes, feed.warnings) == ("en-us", 15, ())
    assert len(feed.entries) == 3


def test_rss20_entry_every_field() -> None:
    entry = parse_fixture("rss20.xml").entries[0]
    assert entry.id == "https://news.example.com/politics/2024/05/budget.html"
    assert entry.url == "https://news.example.com/politics/2024/05/budget.html"  # guid isPermaLink
    assert entry.title == "Council approves new budget & tax plan"
    assert entry.author == "Jane Doe"
    assert entry.published == utc(2024, 5, 14, 9, 30)
    assert entry.updated is None
    assert entry.summary == "The council voted 7 to 2 in favour of the budget."
    assert entry.tags == ("Politics", "City Council")
    assert entry.enclosures == (
        Enclosure("https://cdn.example.com/audio/budget.mp3", "audio/mpeg", 123456),
    )
    assert entry.content is not None
    assert "<strong>7 to 2</strong>" in entry.content
    assert 'src="https://news.example.com/img/council.jpg"' in entry.content
    assert "script" not in entry.content and "track()" not in entry.content


def test_rss20_relative_link_resolved_and_non_permalink_guid_kept_as_id() -> None:
    entry = parse_fixture("rss20.xml").entries[1]
    assert entry.url == "https://news.example.com/transport/bridge-closed"
    assert entry.id == "urn:newsdesk:item:4711"
    assert entry.published == utc(2024, 5, 13, 22, 5)
    assert entry.summary == "<p>The north bridge is closed until Friday.</p>"


def test_rss20_javascript_link_dropped() -> None:
    entry = parse_fixture("rss20.xml").entries[2]
    assert entry.url is None
    assert entry.id == "urn:newsdesk:item:4712"


def test_relative_links_resolve_against_the_given_url() -> None:
    feed = parse_feed(load("rss20.xml"), url="https://mirror.example.net/a/b.xml")
    assert feed.entries[1].url == "https://mirror.example.net/transport/bridge-closed"


# --------------------------------------------------------------------------- RSS 0.91 and 1.0


def test_rss091_fields() -> None:
    feed = parse_fixture("rss091.xml")
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "rss09x", "Harbour Gazette", "http://gazette.example.net/", "en-gb",
    )  # fmt: skip
    assert feed.entries[0] == ParsedEntry(
        id=None,
        url="http://gazette.example.net/news/ferry-timetable.html",
        title="Ferry timetable changes",
        author=None,
        published=None,
        updated=None,
        summary="The winter timetable starts on Monday & runs until March.",
        content=None,
    )


def test_rss10_rdf_fields() -> None:
    feed = parse_fixture("rss10.rdf")
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "rss10", "Science Desk", "https://science.example.org/", "de",
    )  # fmt: skip
    entry = feed.entries[0]
    assert entry.id == "https://science.example.org/2024/glacier"
    assert entry.url == "https://science.example.org/2024/glacier"
    assert entry.title == "Glacier retreat measured from orbit"
    assert entry.author == "Anna Berger"
    assert entry.published is None
    assert entry.updated == utc(2024, 4, 2, 6, 15)  # dc:date 08:15+02:00
    assert entry.summary == "Satellite data show the glacier lost 3 km in a decade."
    assert entry.content == (
        "<p>Satellite data show the glacier lost <b>3 km</b> in a decade.</p>"
        "<p>Researchers compared images from 2014 and 2024.</p>"
    )
    assert entry.tags == ("Climate",)
    assert entry.enclosures == ()


# --------------------------------------------------------------------------- Atom


def test_atom_feed_fields_resolve_against_xml_base() -> None:
    feed = parse_fixture("atom10.xml")
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "atom10", "Le Journal du Port", "https://blog.example.org/journal/", "fr",
    )  # fmt: skip


def test_atom_entry_every_field() -> None:
    entry = parse_fixture("atom10.xml").entries[0]
    assert entry.id == "tag:blog.example.org,2024:quai-renove"
    assert entry.url == "https://blog.example.org/journal/2024/06/quai-renove.html"
    assert entry.title == "Quai rénové : les travaux sont finis"
    assert entry.author == "Marie Curie"
    assert entry.published == utc(2024, 6, 1, 8, 0)
    assert entry.updated == utc(2024, 6, 1, 9, 30)
    assert entry.summary == "<p>Les travaux du quai sont terminés.</p>"
    assert entry.tags == ("urbanisme", "port")
    assert entry.enclosures == (
        Enclosure("https://blog.example.org/journal/media/quai.jpg", "image/jpeg", 2048),
    )
    assert entry.content == (
        '<p>Les travaux du <a href="https://blog.example.org/journal/quai.html">quai</a> sont terminés.</p>'
        "<p>La mairie a inauguré le site.</p>"
    )


@pytest.mark.parametrize("needle", ["<script", "alert", "onclick", "steal"])
def test_atom_content_is_sanitised(needle: str) -> None:
    entry = parse_fixture("atom10.xml").entries[0]
    assert needle not in (entry.content or "")


def test_atom_entry_xml_base_override_inherited_author_and_no_fake_summary() -> None:
    entry = parse_fixture("atom10.xml").entries[1]
    assert entry.url == "https://other.example.org/archive/second.html"
    assert entry.author == "Rédaction"  # RFC 4287: entries inherit the feed's author
    assert entry.summary is None  # feedparser copies content into summary; that is not one
    assert entry.content == "<p>Texte <b>XHTML</b>.</p>"
    assert entry.published is None and entry.updated == utc(2024, 5, 30, 8, 0)


# --------------------------------------------------------------------------- JSON Feed


def test_json_feed_10_fields() -> None:
    feed = parse_fixture("jsonfeed10.json")
    assert (feed.format, feed.title, feed.link, feed.language, feed.ttl_minutes) == (
        "json10", "Wire Roundup", "https://wire.example.com/", None, None,
    )  # fmt: skip
    entry = feed.entries[0]
    assert entry.id == "wire-2024-0001"
    assert entry.url == "https://news.example.com/stories/harbour-strike"  # relative, against url=
    assert entry.title == "Harbour workers & crane operators strike"
    assert entry.author == "Pat Reporter"
    assert entry.published == utc(2024, 7, 1, 4, 45)
    assert entry.updated == utc(2024, 7, 1, 9, 0)
    assert entry.summary == "<p>Dock workers walked out at dawn.</p>"
    assert entry.content == (
        "<p>Dock workers walked out at dawn.</p>"
        '<p>Talks resume on <a href="https://news.example.com/talks">Thursday</a>.</p>'
    )
    assert entry.tags == ("labour", "port")
    assert entry.enclosures == (
        Enclosure("https://wire.example.com/audio/strike.mp3", "audio/mpeg", 98765),
    )


def test_json_feed_10_numeric_id_text_content_and_feed_author() -> None:
    entry = parse_fixture("jsonfeed10.json").entries[1]
    assert entry.id == "42"
    assert entry.title is None
    assert entry.author == "Wire Desk"
    assert entry.content == "<p>Storm warning for the coast.</p><p>Winds up to 90 km/h.</p>"


def test_json_feed_11_fields() -> None:
    feed = parse_fixture("jsonfeed11.json")
    assert (feed.format, feed.title, feed.language) == ("json11", "Nachrichten Kompakt", "de-DE")
    entry = feed.entries[0]
    assert entry.id == entry.url == "https://kompakt.example.de/2024/wahl"
    assert entry.title == "Wahlbeteiligung steigt"
    assert entry.author == "Lena Schmidt, Jonas Weber"
    assert entry.published == utc(2024, 9, 22, 16, 30)
    assert entry.updated == utc(2024, 9, 22, 19, 5)
    assert entry.summary == "<p>Mehr Menschen gingen wählen.</p>"
    assert entry.content == (
        "<p>Die Wahlbeteiligung lag bei <em>71 Prozent</em>.</p><p>Das ist ein Anstieg um 4 Punkte.</p>"
    )
    assert entry.tags == ("Wahl", "Politik")
    assert entry.enclosures == (
        Enclosure("https://kompakt.example.de/media/grafik.png", "image/png", None),
    )


def test_json_feed_11_external_url_and_feed_authors() -> None:
    entry = parse_fixture("jsonfeed11.json").entries[1]
    assert entry.url == "https://elsewhere.example.com/report"
    assert entry.author == "Redaktion Kompakt"


def test_json_feed_html_is_sanitised() -> None:
    content = parse_fixture("jsonfeed10.json").entries[0].content or ""
    assert "script" not in content and "onclick" not in content and "steal" not in content


def test_json_feed_version_with_escaped_slashes_and_late_version_key() -> None:
    body = b'{"title": "x", "items": [{"id": "1", "content_text": "hi"}], "version": "https:\\/\\/jsonfeed.org\\/version\\/1.1"}'
    feed = parse_feed(body, url=FEED_URL)
    assert feed.format == "json11" and feed.entries[0].id == "1"


def test_json_without_version_is_a_feed_only_when_served_as_one() -> None:
    body = b'{"title": "x", "items": [{"id": "1", "content_text": "hi"}]}'
    feed = parse_feed(body, url=FEED_URL, content_type="application/feed+json")
    assert feed.format == "json11" and len(feed.entries) == 1 and feed.warnings
    with pytest.raises(FeedParseError, match="not a JSON Feed"):
        parse_feed(body, url=FEED_URL)


@pytest.mark.parametrize(
    "body", [b'{"version": "https://jsonfeed.org/version/1", ', b"[1, 2]", b"{" * 100_000]
)
def test_broken_json_raises_parse_error(body: bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_feed(body, url=FEED_URL, content_type="application/json")


def test_json_items_of_the_wrong_type_are_skipped() -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": [3, {"id": "a", "tags": "x", "authors": 5}]}'
    feed = parse_feed(body, url=FEED_URL)
    assert [e.id for e in feed.entries] == ["a"] and feed.entries[0].tags == ()
    assert feed.warnings == ("1 item(s) are not JSON objects and were skipped",)


# --------------------------------------------------------------------------- dates


def test_non_utc_dates_become_aware_utc() -> None:
    entries = parse_fixture("rss20_nonutc_dates.xml").entries
    assert [e.published for e in entries] == [
        utc(2024, 5, 15, 5, 0),  # +0530
        utc(2024, 5, 15, 13, 0),  # EST
        utc(2024, 5, 15, 15, 0),  # PDT
        None,  # dc:date is an update date
        None,  # "sometime last week"
    ]
    assert entries[3].updated == utc(2024, 5, 16, 7, 30)  # -08:00 crosses midnight
    assert all(
        d.utcoffset() == timedelta(0) for e in entries for d in (e.published, e.updated) if d
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-10T01:30:00-08:00", utc(2024, 3, 10, 9, 30)),
        ("2024-03-10T09:30:00Z", utc(2024, 3, 10, 9, 30)),
        ("2024-03-10T09:30:00", utc(2024, 3, 10, 9, 30)),  # naive: taken as UTC
        ("Sun, 10 Mar 2024 09:30:00 GMT", utc(2024, 3, 10, 9, 30)),  # not RFC 3339 but common
        ("0001-01-01T00:00:00+01:00", None),
        ("yesterday", None),
        (20240310, None),
    ],
)
def test_json_feed_dates(raw: object, expected: datetime | None) -> None:
    item = {"id": "1", "date_published": raw, "content_text": "x"}
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [item]}
    entry = parse_feed(json.dumps(doc).encode(), url=FEED_URL).entries[0]
    assert entry.published == expected


# --------------------------------------------------------------------------- hostile XML


def test_billion_laughs_is_not_expanded() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        feed = parse_fixture("billion_laughs.xml")
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 20_000_000
    assert "lollol" not in repr(feed)
    assert len(feed.entries) == 1 and feed.entries[0].url == "https://bomb.example.com/1"
    assert feed.warnings[0] == ENTITY_NOTE


def test_quadratic_blowup_is_not_expanded() -> None:
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{"A" * 50_000}">\n]>\n'
    body = rss("&a;", "&a;" * 20_000, prolog)
    started = time.perf_counter()
    feed = parse_feed(body, url=FEED_URL)
    assert time.perf_counter() - started < 5
    assert "A" * 1000 not in repr(feed)
    assert len(repr(feed)) < 2 * len(body)


def test_entity_declared_inside_a_prolog_comment_is_not_reinserted() -> None:
    """feedparser's own DOCTYPE rewriting would revive "safe" entities found in the head."""
    prolog = f'<?xml version="1.0"?>\n<!--\n<!ENTITY a "{"B" * 10_000}">\n-->\n<!DOCTYPE rss>\n'
    feed = parse_feed(rss("&a;", "&a;" * 100, prolog), url=FEED_URL)
    assert "B" * 1000 not in repr(feed)


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    secret = "SECRET-" + random.Random(7).randbytes(8).hex()
    path = tmp_path / "secret.txt"
    path.write_text(secret)
    (tmp_path / "evil.dtd").write_text(f'<!ENTITY leak "{secret}">')
    return path, secret


def _xxe_documents(secret_path: Path) -> dict[str, bytes]:
    file_uri, dtd_uri = secret_path.as_uri(), (secret_path.parent / "evil.dtd").as_uri()
    subset = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{file_uri}">]>\n'
    return {
        "general": rss("&xxe;", "&xxe;", f'<?xml version="1.0"?>\n{subset}'),
        "parameter": rss(
            "&leak;",
            "x",
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd_uri}"> %p;]>\n',
        ),
        "external_dtd": rss(
            "&leak;", "x", f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{dtd_uri}">\n'
        ),
        "after_junk": rss("&xxe;", "x", f"PHP Warning: junk\n{subset}"),
        "multiline": rss("&xxe;", "x", f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{file_uri}">\n]>\n'),
        "utf16": codecs.BOM_UTF16_LE
        + rss("&xxe;", "x", f'<?xml version="1.0" encoding="utf-16"?>\n{subset}')
        .decode()
        .encode("utf-16-le"),
        "network": rss(
            "&net;", "x", '<!DOCTYPE rss [<!ENTITY net SYSTEM "http://127.0.0.1:9/x">]>\n'
        ),
    }


@pytest.mark.parametrize(
    "variant",
    ["general", "parameter", "external_dtd", "after_junk", "multiline", "utf16", "network"],
)
def test_external_entities_are_never_resolved(
    variant: str, secret_file: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file is opened and no socket connects while parsing; the secret never shows up."""
    body = _xxe_documents(secret_file[0])[variant]
    attempts: list[str] = []
    real_open = builtins.open

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_connect(self: socket.socket, address: Any) -> None:
        attempts.append(repr(address))
        raise OSError("network disabled in this test")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    feed = parse_feed(body, url=FEED_URL)
    assert attempts == []
    assert secret_file[1] not in repr(feed)
    assert feed.entries and feed.entries[0].url == "https://a.example/1"


def test_feedparser_sax_path_alone_resolves_no_external_entity(
    secret_file: tuple[Path, str],
) -> None:
    """Second line of defence: even unstripped, feedparser's expat setup leaks nothing."""
    for body in _xxe_documents(secret_file[0]).values():
        result = feedparser.parse(
            io.BytesIO(body), response_headers={"content-type": "application/xml"}
        )
        assert secret_file[1] not in repr(result)


def test_feedparser_only_ever_gets_an_in_memory_stream(
    monkeypatch: pytest.MonkeyPatch, fast_path: bool
) -> None:
    seen: list[object] = []
    real_parse = feedparser.parse

    def spy(source: object, **kwargs: Any) -> Any:
        seen.append(source)
        return real_parse(source, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spy)
    for body in (b"/etc/passwd", b"https://evil.example/feed.xml"):  # feedparser would open these
        with pytest.raises(ParseError, match="no feed found"):
            parse_feed(body, url=FEED_URL)
    parse_fixture("rss20.xml")  # well-formed RSS 2.0: feedparser only runs when forced
    assert len(seen) == (2 if fast_path else 3) and all(isinstance(s, io.BytesIO) for s in seen)


# --------------------------------------------------------------------------- broken bodies


@pytest.mark.parametrize("body", [b"", b"   \n\t ", codecs.BOM_UTF8])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(FeedParseError, match="^empty body$") as caught:
        parse_feed(body, url=FEED_URL)
    assert caught.value.looks_like_html is False


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_raise_parse_error(seed: int) -> None:
    with pytest.raises(ParseError):
        parse_feed(random.Random(seed).randbytes(4096), url=FEED_URL)


def test_html_page_is_reported_as_html() -> None:
    with pytest.raises(FeedParseError, match="HTML page, not a feed") as caught:
        parse_fixture("html_page.html", content_type="text/html; charset=utf-8")
    assert caught.value.looks_like_html is True
    assert isinstance(caught.value, ParseError) and isinstance(caught.value, AggregatorError)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body><p>Access denied</p></body></html>", None),
        (
            b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            "application/xml",
        ),
        (
            b"Warning: session_start() failed\n<br />\n<html><head><title>Error</title></head></html>",
            None,
        ),
        (b"<div>Please solve the captcha</div>", "text/html"),
    ],
)
def test_html_variants_are_reported_as_html(body: bytes, content_type: str | None) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, url=FEED_URL, content_type=content_type)
    assert caught.value.looks_like_html is True


def test_feed_served_as_text_html_still_parses() -> None:
    feed = parse_fixture("rss20.xml", content_type="text/html; charset=iso-8859-1")
    assert feed.format == "rss20" and len(feed.entries) == 3


def test_other_xml_is_not_a_feed_and_not_html() -> None:
    body = (
        b'<?xml version="1.0"?><opml version="2.0"><head><title>Subs</title></head><body/></opml>'
    )
    with pytest.raises(FeedParseError, match="root <opml>") as caught:
        parse_feed(body, url=FEED_URL)
    assert caught.value.looks_like_html is False


def test_invalid_utf8_is_replaced_and_entries_kept() -> None:
    feed = parse_fixture("rss20_invalid_utf8.xml")
    assert len(feed.entries) == 2
    assert feed.entries[0].title == "Café reopens — \ufffd\ufffd bad"
    assert feed.entries[0].summary == "Crème brûlée is back."
    assert feed.warnings == (
        "invalid UTF-8 (first at byte 227): 2 bad sequence(s) replaced with U+FFFD",
    )


def test_undeclared_latin1_falls_back_to_cp1252() -> None:
    feed = parse_feed(rss("Caf\u00e9 \u20ac").decode().encode("cp1252"), url=FEED_URL)
    assert feed.entries[0].title == "Café €"
    assert feed.warnings == ("body is not valid UTF-8; decoded as cp1252",)


def test_declared_latin1_is_read_as_cp1252_without_warning() -> None:
    body = (
        rss("Caf\u00e9 \u20ac", prolog='<?xml version="1.0" encoding="ISO-8859-1"?>')
        .decode()
        .encode("cp1252")
    )
    feed = parse_feed(body, url=FEED_URL)
    assert (feed.entries[0].title, feed.warnings) == ("Café €", ())


def test_mislabelled_utf8_is_read_as_utf8() -> None:
    body = rss("Zürich", prolog='<?xml version="1.0" encoding="ISO-8859-1"?>')
    feed = parse_feed(body, url=FEED_URL, content_type="text/xml; charset=iso-8859-1")
    assert feed.entries[0].title == "Zürich"
    assert feed.warnings == ("declared ISO-8859-1 but the body is valid UTF-8; read as UTF-8",)


def test_http_charset_used_when_the_document_declares_none() -> None:
    body = rss("Новости").decode().encode("windows-1251")
    feed = parse_feed(body, url=FEED_URL, content_type="application/rss+xml; charset=windows-1251")
    assert (feed.entries[0].title, feed.warnings) == ("Новости", ())


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_wide_encodings_are_transcoded(codec: str) -> None:
    body = rss("Grüße", prolog=f'<?xml version="1.0" encoding="{codec}"?>').decode().encode(codec)
    feed = parse_feed(body, url=FEED_URL)
    assert feed.entries[0].title == "Grüße"
    assert feed.warnings[0].startswith("transcoded from utf-")


def test_malformed_feed_keeps_what_parses() -> None:
    feed = parse_fixture("rss20_malformed.xml")
    assert [e.title for e in feed.entries] == ["First story", "Second story", "Third story"]
    assert feed.warnings == ("malformed XML at line 12: mismatched tag; entries recovered: 3",)


def test_line_numbers_survive_doctype_removal() -> None:
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "x">\n]>\n'
    feed = parse_feed(
        prolog.encode()
        + b"<rss version='2.0'><channel>\n\n<title>&undefined;</title></channel></rss>",
        url=FEED_URL,
    )
    assert "malformed XML at line 7: undefined entity" in feed.warnings[1]


def test_leading_whitespace_and_bom_are_not_malformed() -> None:
    feed = parse_feed(codecs.BOM_UTF8 + b"\n\n  " + load("rss20.xml"), url=FEED_URL)
    assert feed.warnings == () and len(feed.entries) == 3


def test_a_channel_without_items_is_a_feed_with_no_entries() -> None:
    body = b'<rss version="2.0"><channel><title>Quiet</title><link>https://q.example/</link></channel></rss>'
    feed = parse_feed(body, url=FEED_URL)
    assert (feed.format, feed.title, feed.entries) == ("rss20", "Quiet", ())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=600),
    st.sampled_from([None, "text/html", "application/json", "text/xml; charset=utf-16"]),
)
def test_arbitrary_bytes_raise_nothing_but_parse_error(
    body: bytes, content_type: str | None
) -> None:
    try:
        parse_feed(body, url=FEED_URL, content_type=content_type)
    except ParseError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(p.name for p in FIXTURES.iterdir())),
    st.floats(min_value=0, max_value=1),
    st.binary(max_size=8),
)
def test_truncated_and_spliced_fixtures_raise_nothing_but_parse_error(
    name: str, cut: float, junk: bytes
) -> None:
    data = load(name)
    at = int(len(data) * cut)
    try:
        parse_feed(data[:at] + junk + data[at : at + 50], url=FEED_URL)
    except ParseError:
        pass


# --------------------------------------------------------------------------- text_of


def test_text_of_keeps_paragraphs_and_line_breaks() -> None:
    html = "<h1>Title</h1>\n<p>First  para &amp; <b>bold</b>\n continued.</p><p>Line one<br/>line two</p><ul><li>a</li><li>b</li></ul>"
    assert text_of(html) == "Title\n\nFirst para & bold continued.\n\nLine one\nline two\n\na\n\nb"


def test_text_of_drops_scripts_styles_and_decodes_entities() -> None:
    html = "<style>p{color:red}</style><p>caf&eacute; &#8364;5 &lt;tag&gt;</p><script>var x = '<p>no</p>';</script>"
    assert text_of(html) == "café €5 <tag>"


@pytest.mark.parametrize("empty", [None, "", "<p></p><br>", "<script>x</script>"])
def test_text_of_empty(empty: str | None) -> None:
    assert text_of(empty) == ""


# --------------------------------------------------------------------------- records


def test_records_are_frozen_and_hashable() -> None:
    feed = parse_fixture("rss20.xml")
    assert hash(feed) == hash(parse_fixture("rss20.xml"))
    with pytest.raises(AttributeError):
        feed.entries[0].title = "changed"  # type: ignore[misc]


# --------------------------------------------------------------------------- shared corpus (optional)

FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}


def _corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and not p.name.endswith(".serde.json")
    )


@pytest.mark.skipif(
    not CORPUS.is_dir(), reason="shared corpus /work/shared/corpora/feeds not present"
)
@pytest.mark.slow
def test_shared_corpus_parses_or_raises_parse_error_only() -> None:
    yielded, feeds = 0, 0
    for path in _corpus_files():
        try:
            feed = parse_feed(path.read_bytes(), url="https://corpus.example/" + path.name)
        except ParseError:
            feed = None
        if path.suffix in FEED_SUFFIXES:
            feeds += 1
            yielded += bool(feed and feed.entries)
    assert feeds > 50
    assert yielded >= 0.9 * feeds, f"only {yielded} of {feeds} feed files yielded entries"
