"""The records every feed format is parsed into, and the value rules they share.

RSS/Atom (``parse.xmlfeed``) and JSON Feed (``parse.jsonfeed``) build the same
:class:`ParsedEntry`; the small normalisers here (absolute http(s) links only, HTML in
every summary/content field, UTC dates) are why a story reads the same whatever format
its feed uses.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.datetimes
import feedparser.sanitizer
import feedparser.urls

from aggregator.exceptions import ParseError
from aggregator.urls import is_plain_absolute

__all__ = [
    "Enclosure",
    "FeedParseError",
    "ParsedEntry",
    "ParsedFeed",
    "storable",
    "storable_entry",
    "storable_feed",
]

#: Characters a database refuses or a reader cannot use: NUL (PostgreSQL rejects it in
#: text, and one in an item's title lost the whole feed), the other C0 controls but tab,
#: newline and return (not even XML allows them), lone surrogates (not encodable as
#: UTF-8) and the two non-characters U+FFFE, U+FFFF.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]")


def _replacement(m: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= m.group(0) <= "\udfff" else ""


def storable(text: str | None) -> str | None:
    """`text` without the characters a backend refuses (a surrogate becomes U+FFFD).

    Applied once, where text enters the system (the parsed feed, the extracted page),
    so every later stage and both databases see the same, storable string.
    """
    if not text or _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(_replacement, text)


@dataclass(frozen=True)
class Enclosure:
    """A media file attached to an entry (RSS enclosure, Atom rel=enclosure, JSON attachment)."""

    url: str
    type: str | None
    length: int | None


@dataclass(frozen=True)
class ParsedEntry:
    """One item of a feed, normalised across formats.

    ``url`` is absolute http(s) or None; dates are timezone-aware UTC; ``title``
    is plain text; ``summary`` and ``content`` are sanitised HTML.
    """

    id: str | None
    url: str | None
    title: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    summary: str | None
    content: str | None
    tags: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed; ``warnings`` lists what was malformed but recovered."""

    format: str
    title: str | None
    link: str | None
    language: str | None
    ttl_minutes: int | None
    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = ()


class FeedParseError(ParseError):
    """The body holds no feed. ``looks_like_html`` flags an HTML page (captcha, login, 404)."""

    def __init__(
        self, message: str, *, looks_like_html: bool = False, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.looks_like_html = looks_like_html


def one_line(text: str | None) -> str | None:
    """Whitespace collapsed to single spaces; None when nothing is left."""
    collapsed = " ".join(text.split()) if text else ""
    return collapsed or None


def _text_to_html(text: str) -> str:
    """Escape plain text into HTML paragraphs so every summary/content field is HTML."""
    chunks = (c.strip() for c in re.split(r"\n\s*\n", text))
    return "".join(f"<p>{_escape_lines(c)}</p>" for c in chunks if c)


def _escape_lines(chunk: str) -> str:
    return "<br />".join(html.escape(line.strip(), quote=False) for line in chunk.splitlines())


def as_html(value: str | None, mime: str | None) -> str | None:
    """feedparser keeps text/plain values unescaped; turn them into HTML like the rest."""
    if not value or not value.strip():
        return None
    if mime and "html" not in mime:
        return _text_to_html(value) or None
    return value.strip()


def sanitise_html(fragment: str, base: str) -> str:
    """Resolve relative links and sanitise the way feedparser does for XML feeds."""
    resolved = feedparser.urls.resolve_relative_uris(fragment, base, "utf-8", "text/html")
    return str(feedparser.sanitizer._sanitize_html(resolved, "utf-8", "text/html"))


def http_url(value: object, base: str) -> str | None:
    """Absolute http(s) URL or None (drops javascript:, data:, mailto: ...)."""
    if not isinstance(value, str) or not value.strip():
        return None
    if is_plain_absolute(value):
        return value
    try:
        absolute = urljoin(base, value.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Stripped, non-empty, first occurrence kept."""
    cleaned = (v.strip() for v in values if isinstance(v, str))
    return tuple(dict.fromkeys(v for v in cleaned if v))


def to_int(value: object) -> int | None:
    """A non-negative int from an int or a digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def struct_to_utc(value: time.struct_time | None) -> datetime | None:
    """feedparser's *_parsed fields are UTC struct_times; impossible dates become None."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def enclosures(raw: Iterable[tuple[object, object, object]], base: str) -> tuple[Enclosure, ...]:
    """Enclosures with absolute http(s) URLs, first occurrence of each URL kept."""
    seen: dict[str, Enclosure] = {}
    for href, mime, length in raw:
        url = http_url(href, base)
        if url and url not in seen:
            seen[url] = Enclosure(
                url, one_line(mime) if isinstance(mime, str) else None, to_int(length)
            )
    return tuple(seen.values())


def storable_entry(e: ParsedEntry) -> ParsedEntry:
    fields = (e.id, e.url, e.title, e.author, e.summary, e.content, *e.tags)
    fields += tuple(f for x in e.enclosures for f in (x.url, x.type))
    if not any(f and _UNSTORABLE.search(f) for f in fields):
        return e
    return replace(
        e,
        id=storable(e.id),
        url=storable(e.url),
        title=storable(e.title),
        author=storable(e.author),
        summary=storable(e.summary),
        content=storable(e.content),
        tags=tuple(storable(t) or "" for t in e.tags),
        enclosures=tuple(
            replace(x, url=storable(x.url) or "", type=storable(x.type)) for x in e.enclosures
        ),
    )


def storable_feed(feed: ParsedFeed) -> ParsedFeed:
    """Every text of a parsed feed made storable (see :func:`storable`)."""
    return replace(
        feed,
        title=storable(feed.title),
        link=storable(feed.link),
        language=storable(feed.language),
        entries=tuple(storable_entry(e) for e in feed.entries),
    )
