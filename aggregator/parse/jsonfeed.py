"""JSON Feed 1.0/1.1, natively (feedparser has none)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.datetimes
import feedparser.sanitizer
import feedparser.urls

from aggregator.parse.records import (
    FeedParseError,
    ParsedEntry,
    ParsedFeed,
    as_html,
    enclosures,
    http_url,
    one_line,
    sanitise_html,
    struct_to_utc,
    unique,
)
from aggregator.parse.sniff import mime_type, trim_start
from aggregator.parse.text import text_of

_JSON_TYPES = ("application/feed+json", "application/json")
_JSON_VERSION = re.compile(r"https?://jsonfeed\.org/version/(\d+)(?:\.(\d+))?/?", re.IGNORECASE)


def parse_json_feed(data: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    doc, warnings = _load_json(data)
    fmt, version_warnings = _json_format(doc, content_type)
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedParseError("JSON Feed without an items list")
    feed_author = _json_author(doc)
    entries = tuple(_json_entry(i, url, feed_author) for i in items if isinstance(i, dict))
    skipped = len(items) - len(entries)
    notes = [f"{skipped} item(s) are not JSON objects and were skipped"] if skipped else []
    return ParsedFeed(
        format=fmt,
        title=one_line(text_of(_json_str(doc.get("title")))),
        link=http_url(doc.get("home_page_url"), url),
        language=_json_str(doc.get("language")),
        ttl_minutes=None,
        entries=entries,
        warnings=tuple(warnings + version_warnings + notes),
    )


def _load_json(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """The top-level object; broken UTF-8 is replaced rather than fatal."""
    warnings: list[str] = []
    try:
        text = trim_start(data).decode("utf-8")
    except UnicodeDecodeError as e:
        text = trim_start(data).decode("utf-8", "replace")
        warnings.append(f"invalid UTF-8 (first at byte {e.start}) replaced with U+FFFD")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise FeedParseError(f"invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise FeedParseError("JSON body is not an object, so not a JSON Feed")
    return doc, warnings


def _json_format(doc: Mapping[str, Any], content_type: str | None) -> tuple[str, list[str]]:
    """json10 / json11 from the version URL; a JSON-typed body without one is assumed 1.1."""
    version = doc.get("version")
    found = _JSON_VERSION.fullmatch(version.strip()) if isinstance(version, str) else None
    if found:
        return f"json{found.group(1)}{found.group(2) or '0'}", []
    if mime_type(content_type) in _JSON_TYPES and isinstance(doc.get("items"), list):
        return "json11", ["JSON Feed without a version; read as 1.1"]
    raise FeedParseError(
        "JSON document is not a JSON Feed (no jsonfeed.org version)",
        hint="this URL answers JSON that is not a feed (an API?): look on the site for its "
        'RSS, Atom or JSON Feed link (a JSON Feed has "version": '
        '"https://jsonfeed.org/version/1.1" and "items"), or add the site\'s home page',
    )


def _json_str(value: object) -> str | None:
    """Stripped string (numbers accepted, as ids often are), None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def _json_entry(item: Mapping[str, Any], url: str, feed_author: str | None) -> ParsedEntry:
    return ParsedEntry(
        id=_json_str(item.get("id")),
        url=http_url(item.get("url"), url) or http_url(item.get("external_url"), url),
        title=one_line(text_of(_json_str(item.get("title")))),
        author=_json_author(item) or feed_author,
        published=_rfc3339(item.get("date_published")),
        updated=_rfc3339(item.get("date_modified")),
        summary=as_html(_json_str(item.get("summary")), "text/plain"),
        content=_json_content(item, url),
        tags=unique(t for t in _list(item.get("tags")) if isinstance(t, str)),
        enclosures=enclosures(map(_json_attachment, _list(item.get("attachments"))), url),
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_author(node: Mapping[str, Any]) -> str | None:
    """1.1 ``authors`` (joined), else 1.0 ``author``; names only."""
    people = _list(node.get("authors")) or [node.get("author")]
    names = unique(_json_str(p.get("name")) for p in people if isinstance(p, dict))
    return ", ".join(names) or None


def _json_content(item: Mapping[str, Any], base: str) -> str | None:
    """content_html sanitised like feedparser's, else content_text as HTML paragraphs."""
    markup = item.get("content_html")
    if isinstance(markup, str) and markup.strip():
        return sanitise_html(markup, base) or None
    return as_html(_json_str(item.get("content_text")), "text/plain")


def _json_attachment(attachment: object) -> tuple[object, object, object]:
    if not isinstance(attachment, dict):
        return None, None, None
    return attachment.get("url"), attachment.get("mime_type"), attachment.get("size_in_bytes")


def _rfc3339(value: object) -> datetime | None:
    """RFC 3339 to aware UTC; other date styles via feedparser's lenient parser."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return struct_to_utc(feedparser.datetimes._parse_date(value))
    return _aware_utc(parsed)


def _aware_utc(moment: datetime) -> datetime | None:
    """Naive means UTC; a time zone pushing year 1 or 9999 out of range means no date."""
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return None
