"""RSS and Atom: feedparser's result turned into records.

The result comes from feedparser itself or from the lxml fast path (``parse.fast``),
which reproduces feedparser's result for the keys read here, so both paths build their
records with exactly this code.  feedparser only ever gets an in-memory stream.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import feedparser
import feedparser.datetimes
import feedparser.sanitizer
import feedparser.urls

from aggregator.parse.records import (
    Enclosure,
    FeedParseError,
    ParsedEntry,
    ParsedFeed,
    as_html,
    enclosures,
    http_url,
    one_line,
    struct_to_utc,
    to_int,
    unique,
)
from aggregator.parse.sniff import HTML_HINT, PreparedXML, html_error, mime_type
from aggregator.parse.text import text_of

_FORMATS = {"rss090": "rss09x", "rss091n": "rss09x", "rss091u": "rss09x", "rss092": "rss09x"}
_FORMATS |= {"rss093": "rss09x", "rss094": "rss09x"}


def run_feedparser(prepared: PreparedXML, url: str) -> Any:
    """feedparser on an in-memory stream only; its own crashes become ParseError."""
    headers = {"content-location": url, "content-type": "application/xml; charset=utf-8"}
    try:
        return feedparser.parse(
            io.BytesIO(prepared.data),
            response_headers=headers,
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except Exception as e:  # any crash inside feedparser means "unparseable"
        raise FeedParseError(f"feed parser failed: {type(e).__name__}: {e}") from e


def no_feed_error(data: bytes, content_type: str | None, root: str) -> FeedParseError:
    """Distinguish an HTML page (served as text/html, or <html> after junk) from the rest."""
    if mime_type(content_type) == "text/html" or HTML_HINT.search(data[:4096]):
        return html_error()
    what = f"an XML document with root <{root}>" if root else "not XML"
    return FeedParseError(
        f"no feed found: the body is {what}, neither RSS, Atom nor JSON Feed",
        hint="check the URL; the server may be returning something else",
    )


def xml_feed(
    result: Any, url: str, entries: tuple[ParsedEntry, ...], warnings: tuple[str, ...]
) -> ParsedFeed:
    feed = result.get("feed", {})
    version = result.get("version") or "unknown"
    return ParsedFeed(
        format=_FORMATS.get(version, version),
        title=_detail_title(feed),
        link=http_url(feed.get("link"), url),
        language=one_line(feed.get("language")),
        ttl_minutes=to_int(feed.get("ttl")),
        entries=entries,
        warnings=warnings,
    )


def bozo_warnings(result: Any, recovered: int) -> tuple[str, ...]:
    """feedparser's bozo flag as one readable sentence."""
    if not result.get("bozo"):
        return ()
    error = result.get("bozo_exception")
    if hasattr(error, "getLineNumber"):
        message = error.getMessage() if hasattr(error, "getMessage") else str(error)
        return (
            f"malformed XML at line {error.getLineNumber()}: {message}; entries recovered: {recovered}",
        )
    return (f"{type(error).__name__}: {error}; entries recovered: {recovered}",)


def _detail_title(node: Mapping[str, Any]) -> str | None:
    """Plain-text title: HTML titles lose their tags, plain ones only their line breaks."""
    detail = node.get("title_detail") or {}
    value, mime = detail.get("value"), detail.get("type") or ""
    if not value:
        return None
    return one_line(text_of(value) if "html" in mime else value)


def xml_entry(entry: Mapping[str, Any], url: str, result: Any) -> ParsedEntry:
    return ParsedEntry(
        id=one_line(_own(entry, "id")),
        url=http_url(entry.get("link"), url),
        title=_detail_title(entry),
        author=_xml_author(entry) or _inherited_author(result),
        published=struct_to_utc(_own(entry, "published_parsed")),
        updated=struct_to_utc(_own(entry, "updated_parsed")),
        summary=_xml_summary(entry),
        content=_xml_content(entry),
        tags=unique(t.get("term") or t.get("label") for t in entry.get("tags") or ()),
        enclosures=_xml_enclosures(entry, url),
    )


def _own(node: Mapping[str, Any], key: str) -> Any:
    """A key's own value: FeedParserDict.get("updated") silently answers with "published"."""
    return dict.get(node, key) if isinstance(node, dict) else node.get(key)


def _xml_author(node: Mapping[str, Any]) -> str | None:
    detail = node.get("author_detail") or {}
    return one_line(detail.get("name") or node.get("author"))


def _inherited_author(result: Any) -> str | None:
    """Atom entries without an author inherit the feed's (RFC 4287 4.2.1); RSS ones don't."""
    if not str(result.get("version") or "").startswith("atom"):
        return None
    return _xml_author(result.get("feed", {}))


def _xml_summary(entry: Mapping[str, Any]) -> str | None:
    """The entry's own summary; feedparser's copy of the content (no summary_detail) is not one."""
    detail = entry.get("summary_detail")
    return as_html(detail.get("value"), detail.get("type")) if detail else None


def _xml_content(entry: Mapping[str, Any]) -> str | None:
    """The longest content, HTML versions preferred over plain text ones."""
    candidates = [c for c in entry.get("content") or () if (c.get("value") or "").strip()]
    if not candidates:
        return None
    best = max(candidates, key=lambda c: ("html" in (c.get("type") or ""), len(c["value"])))
    return as_html(best["value"], best.get("type"))


def _xml_enclosures(entry: Mapping[str, Any], base: str) -> tuple[Enclosure, ...]:
    links = (link for link in entry.get("links") or () if link.get("rel") == "enclosure")
    return enclosures(((x.get("href"), x.get("type"), x.get("length")) for x in links), base)
