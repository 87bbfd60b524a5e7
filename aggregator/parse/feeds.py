"""Bytes in, parsed feed out: RSS 0.9x/1.0/2.0 and Atom via feedparser, JSON Feed natively.

Well-formed RSS 0.9x/2.0 and Atom 1.0 documents take a fast path first
(:mod:`aggregator.parse.fast`: lxml, same field semantics, nh3 as sanitiser) and
only reach feedparser when it declines them; ``FAST_PATH`` switches it off.

Pure: no I/O, no clock, no globals mutated.  feedparser is only ever handed an
in-memory stream (a ``str`` argument makes it download URLs or open local
files), and the bytes it sees have been made safe first:

* the body is decoded to UTF-8 first (BOM and UTF-16/32 sniffing; valid UTF-8
  wins over any label; then the XML declaration, the HTTP charset, windows-1252),
  so the prolog check below runs on exactly the bytes feedparser parses and no
  encoding trick can hide markup from it.  UTF-8 with a few broken bytes is
  repaired with U+FFFD instead of being re-read as windows-1252 (which would
  turn every accent of the feed into mojibake);
* every DOCTYPE, comment, processing instruction and stray declaration before
  the root element is removed, so entity declarations (billion laughs,
  quadratic blowup, external entities that read local files or URLs) are never
  seen by expat nor by feedparser's own DOCTYPE rewriting.  feedparser's SAX
  parser additionally runs with external entities off (second line of defence).

Everything recoverable is kept; what went wrong is reported in
``ParsedFeed.warnings``.  Only a body with no feed in it raises
:class:`FeedParseError`.
"""

from __future__ import annotations

import codecs
import html
import io
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.datetimes
import feedparser.sanitizer
import feedparser.urls

from aggregator.exceptions import ParseError
from aggregator.parse import fast as fastparse
from aggregator.parse.htmltext import BLOCK_TAGS as _HT_BLOCK_TAGS
from aggregator.parse.htmltext import fast_text
from aggregator.urls import is_plain_absolute

__all__ = [
    "ENTITY_NOTE",
    "Enclosure",
    "FeedParseError",
    "ParsedEntry",
    "ParsedFeed",
    "parse_feed",
    "text_of",
]

# --------------------------------------------------------------------------- records


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


# --------------------------------------------------------------------------- entry point


def parse_feed(data: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched body; ``url`` is where it came from (base of relative links)."""
    if not _trim_start(data).rstrip():
        raise FeedParseError("empty body", hint="the server answered with no content")
    if _is_json(data):
        return _parse_json_feed(data, url=url, content_type=content_type)
    return _parse_xml_feed(data, url=url, content_type=content_type)


# --------------------------------------------------------------------------- text helpers

_BLOCK_TAGS = _HT_BLOCK_TAGS  # one list for both text paths
_SKIPPED_TAGS = frozenset({"script", "style", "template", "head", "noscript"})
_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")


class _TextCollector(HTMLParser):
    """Collects the visible text of an HTML fragment, marking block and line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(_WHITESPACE.sub(" ", data))


def text_of(html_text: str | None) -> str:
    """Plain text of an HTML fragment: paragraphs separated by a blank line.

    Used for titles, topic matching and hashing, where markup is noise but
    paragraph boundaries still matter (snippets, shingles). Most fragments take
    the regular-expression path (aggregator.parse.htmltext, same result, 2-3× cheaper);
    the rest go through html.parser below, which defines the result.
    """
    if not html_text:
        return ""
    fast = fast_text(html_text)
    return fast if fast is not None else _slow_text_of(html_text)


def _slow_text_of(html_text: str) -> str:
    """text_of by html.parser: the definition the fast path is tested against."""
    if not html_text:
        return ""
    collector = _TextCollector()
    collector.feed(html_text)
    collector.close()
    return _tidy_breaks("".join(collector.parts))


def _tidy_breaks(raw: str) -> str:
    """Strip each line, drop empty lines, keep blank lines only between paragraphs."""
    paragraphs = (_tidy_lines(chunk) for chunk in _PARAGRAPH_BREAK.split(raw))
    return "\n\n".join(p for p in paragraphs if p)


def _tidy_lines(paragraph: str) -> str:
    lines = (" ".join(line.split()) for line in paragraph.split("\n"))
    return "\n".join(line for line in lines if line)


def _one_line(text: str | None) -> str | None:
    """Whitespace collapsed to single spaces; None when nothing is left."""
    collapsed = " ".join(text.split()) if text else ""
    return collapsed or None


def _text_to_html(text: str) -> str:
    """Escape plain text into HTML paragraphs so every summary/content field is HTML."""
    chunks = (c.strip() for c in re.split(r"\n\s*\n", text))
    return "".join(f"<p>{_escape_lines(c)}</p>" for c in chunks if c)


def _escape_lines(chunk: str) -> str:
    return "<br />".join(html.escape(line.strip(), quote=False) for line in chunk.splitlines())


def _as_html(value: str | None, mime: str | None) -> str | None:
    """feedparser keeps text/plain values unescaped; turn them into HTML like the rest."""
    if not value or not value.strip():
        return None
    if mime and "html" not in mime:
        return _text_to_html(value) or None
    return value.strip()


def _sanitise_html(fragment: str, base: str) -> str:
    """Resolve relative links and sanitise the way feedparser does for XML feeds."""
    resolved = feedparser.urls.resolve_relative_uris(fragment, base, "utf-8", "text/html")
    return str(feedparser.sanitizer._sanitize_html(resolved, "utf-8", "text/html"))


def _http_url(value: object, base: str) -> str | None:
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


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Stripped, non-empty, first occurrence kept."""
    cleaned = (v.strip() for v in values if isinstance(v, str))
    return tuple(dict.fromkeys(v for v in cleaned if v))


def _to_int(value: object) -> int | None:
    """A non-negative int from an int or a digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --------------------------------------------------------------------------- byte sniffing

_WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_WIDE_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_JSON_TYPES = ("application/feed+json", "application/json")
_JSON_VERSION = re.compile(r"https?://jsonfeed\.org/version/(\d+)(?:\.(\d+))?/?", re.IGNORECASE)


def _trim_start(data: bytes) -> bytes:
    """Without a UTF-8 BOM and leading whitespace (expat rejects both before <?xml)."""
    return (data[3:] if data.startswith(codecs.BOM_UTF8) else data).lstrip()


def _is_json(data: bytes) -> bool:
    """A body that opens an object can only be JSON, whatever the server calls it.

    Whether it is a JSON Feed is decided after decoding (``_json_format``):
    the version key may come last, and its slashes may be escaped.
    """
    return _trim_start(data[:1024]).startswith(b"{")


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"""charset\s*=\s*["']?([\w.:-]+)""", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def _codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for an encoding label, None if unknown."""
    try:
        return codecs.lookup(label).name if label else None
    except LookupError:
        return None


def _wide_encoding(data: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) for UTF-16/32 bodies, which byte scans cannot read."""
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    for marker, codec in _WIDE_MARKERS:
        if data.startswith(marker):
            return codec, 0
    return None


def _declared_encoding(data: bytes) -> str | None:
    """The encoding named by the XML declaration, if any."""
    decl = _XML_DECL.match(data[:512])
    found = _DECL_ENCODING.search(decl.group(0)) if decl else None
    return found.group(1).decode("ascii") if found else None


def _set_declared_utf8(data: bytes) -> bytes:
    """Rewrite the XML declaration's encoding to utf-8 after decoding."""
    decl = _XML_DECL.match(data[:512])
    if not decl:
        return data
    fixed = _DECL_ENCODING.sub(b'encoding="utf-8"', decl.group(0))
    return fixed + data[decl.end() :]


# --------------------------------------------------------------------------- XML safety

# Possessive quantifiers keep these linear on hostile input.
_DOCTYPE = re.compile(
    rb"""<!DOCTYPE(?:[^>\["']++|"[^"]*+"|'[^']*+')*+"""
    rb"""(?P<subset>\[(?:[^\]"'<]++|"[^"]*+"|'[^']*+'|<!--.*?-->|<)*+\])?\s*+>""",
    re.IGNORECASE | re.DOTALL,
)
_MARKUP_DECL = re.compile(rb"""<!(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_XML_DECL_STRICT = re.compile(
    rb"""<\?xml(?:\s++[A-Za-z]++\s*+=\s*+(?:"[^"<>]*+"|'[^'<>]*+'))*+\s*+\?>"""
)
_PI = re.compile(rb"<\?.*?\?>", re.DOTALL)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_ROOT = re.compile(rb"<([A-Za-z_][\w:.-]*)")
_HTML_ROOTS = frozenset({b"html", b"head", b"body"})
_HTML_HINT = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class _Prolog:
    """What precedes the root element, and which byte spans of it must go."""

    removed: tuple[tuple[int, int], ...]
    declarations: bool
    doctype_name: bytes
    root: bytes


def _scan_prolog(data: bytes) -> _Prolog:
    """Find every markup item before the root element; all but the XML declaration go.

    Junk text is stepped over, so a DOCTYPE after a PHP warning is found too.
    With nothing but the declaration and text left before the root, neither
    expat nor feedparser's own DOCTYPE rewriting (which re-inserts "safe" text
    entities, the quadratic-blowup vector) has any declaration to act on.
    """
    decl = _XML_DECL_STRICT.match(data)
    pos, removed, declarations, name = decl.end() if decl else 0, [], False, b""
    while (lt := data.find(b"<", pos)) >= 0 and not _ROOT.match(data, lt):
        kind, pos = _prolog_item(data, lt)
        if kind != b"other":
            removed.append((lt, pos))
        declarations = declarations or kind in (b"subset", b"decl")
        name = name or (_doctype_name(data[lt:pos]) if kind in (b"doctype", b"subset") else b"")
    root = _ROOT.match(data, lt) if lt >= 0 else None
    return _Prolog(tuple(removed), declarations, name, root.group(1).lower() if root else b"")


def _prolog_item(data: bytes, pos: int) -> tuple[bytes, int]:
    """(kind, end) of the markup starting at ``pos``; kind subset = DOCTYPE with declarations."""
    if data.startswith(b"<?", pos):
        return b"pi", _end_of(_PI.match(data, pos), data)
    if data.startswith(b"<!--", pos):
        return b"comment", _end_of(_COMMENT.match(data, pos), data)
    if data[pos : pos + 9].upper() == b"<!DOCTYPE":
        doctype = _DOCTYPE.match(data, pos)
        plain = doctype is not None and not doctype.group("subset")
        return (b"doctype" if plain else b"subset"), _end_of(doctype, data)
    if data.startswith(b"<!", pos):
        return b"decl", _end_of(_MARKUP_DECL.match(data, pos), data)
    return b"other", pos + 1


def _end_of(match: re.Match[bytes] | None, data: bytes) -> int:
    """End of a prolog item; an unterminated one swallows the rest of the body."""
    return match.end() if match else len(data)


def _doctype_name(doctype: bytes) -> bytes:
    words = doctype[9:].split(None, 1)
    return words[0].rstrip(b"[>").lower() if words else b""


def _without_spans(data: bytes, spans: tuple[tuple[int, int], ...]) -> bytes:
    """The body with the given (sorted, disjoint) byte spans cut out.

    Each span leaves its newlines behind, so parser warnings still quote the
    line numbers of the document the publisher wrote.
    """
    kept, start = [], 0
    for begin, end in spans:
        kept += [data[start:begin], b"\n" * data.count(b"\n", begin, end)]
        start = end
    kept.append(data[start:])
    return b"".join(kept)


# --------------------------------------------------------------------------- XML preparation


@dataclass(frozen=True)
class _Prepared:
    """UTF-8 bytes safe to hand to feedparser, warnings so far, and the root element."""

    data: bytes
    warnings: tuple[str, ...]
    root: str


#: The warning recorded when a DOCTYPE with entity declarations was removed (bomb/XXE attempt).
ENTITY_NOTE = "DOCTYPE with entity declarations removed; entities were not expanded"


def _prepare_xml(data: bytes, content_type: str | None) -> _Prepared:
    """Decode to UTF-8, strip prolog declarations, refuse HTML.

    The prolog is scanned in the very bytes feedparser will parse, so no
    encoding trick (UTF-16, UTF-7, a lying label) can hide a DOCTYPE from it.
    """
    data, notes = _to_utf8(data, _charset(content_type))
    prolog = _scan_prolog(data)
    _refuse_html(prolog)
    data = _without_spans(data, prolog.removed)
    if prolog.declarations:
        notes.append(ENTITY_NOTE)
    if not data.strip():
        raise FeedParseError("no feed found: nothing but XML declarations in the body")
    return _Prepared(data, tuple(notes), prolog.root.decode("ascii", "replace"))


# --------------------------------------------------------------------------- encodings

# Labels that mean windows-1252 in practice (WHATWG), and GB2312's superset.
_LABEL_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}


def _to_utf8(data: bytes, http_charset: str | None) -> tuple[bytes, list[str]]:
    """The body as UTF-8, with its XML declaration saying so.

    Valid UTF-8 wins over any label (other encodings are practically never
    valid UTF-8 by accident); otherwise the XML declaration beats the HTTP
    charset (server defaults lie more often than documents).
    """
    wide = _wide_encoding(data)
    if wide:
        return _transcode_wide(data, *wide)
    data = _trim_start(data)
    label = next((x for x in (_declared_encoding(data), http_charset) if _usable_label(x)), None)
    declared = _usable_label(label)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        text, notes = _decode_non_utf8(data, declared, e)
        return _set_declared_utf8(text.encode("utf-8")), notes
    if declared in (None, "utf-8") or data.isascii():
        return _set_declared_utf8(data), []
    return _set_declared_utf8(data), [
        f"declared {label} but the body is valid UTF-8; read as UTF-8"
    ]


def _transcode_wide(data: bytes, codec: str, bom: int) -> tuple[bytes, list[str]]:
    try:
        text = data[bom:].decode(codec)
    except UnicodeDecodeError as e:
        raise FeedParseError(f"body is not valid {codec}: {e.reason}") from e
    return _set_declared_utf8(text.encode("utf-8").lstrip()), [f"transcoded from {codec}"]


def _usable_label(label: str | None) -> str | None:
    """Canonical codec for a label; wide encodings are only believed from their bytes."""
    name = _codec_name(label)
    if name is None or name.startswith(("utf-16", "utf-32")):
        return None
    return _LABEL_ALIASES.get(name, name)


def _decode_non_utf8(
    data: bytes, declared: str | None, error: UnicodeDecodeError
) -> tuple[str, list[str]]:
    """Mostly-UTF-8 gets U+FFFD for its broken bytes; the rest tries its label, then cp1252."""
    if declared in (None, "utf-8") and _mostly_utf8(data):
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        return text, [
            f"invalid UTF-8 (first at byte {error.start}): {bad} bad sequence(s) replaced with U+FFFD"
        ]
    for codec in (declared, "cp1252"):
        if codec and codec != "utf-8":
            try:
                return data.decode(codec), _fallback_note(declared, codec)
            except UnicodeDecodeError:
                continue
    return data.decode("latin-1"), _fallback_note(declared, "latin-1")


def _mostly_utf8(data: bytes) -> bool:
    """More valid multi-byte characters than broken bytes: UTF-8 with a few errors."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    return len(text) - len(text.encode("ascii", "ignore")) - bad > bad


def _fallback_note(declared: str | None, used: str) -> list[str]:
    if declared == used:
        return []
    return [f"body is not valid {declared or 'UTF-8'}; decoded as {used}"]


def _refuse_html(prolog: _Prolog) -> None:
    """An HTML page (captcha, login wall, error page) is not a feed: say so early."""
    if prolog.root in _HTML_ROOTS or prolog.doctype_name == b"html":
        raise _html_error()


def _html_error() -> FeedParseError:
    return FeedParseError(
        "the body is an HTML page, not a feed",
        looks_like_html=True,
        hint="the site may be serving a captcha, login wall or error page instead of the feed",
    )


# --------------------------------------------------------------------------- XML via feedparser

_FORMATS = {"rss090": "rss09x", "rss091n": "rss09x", "rss091u": "rss09x", "rss092": "rss09x"}
_FORMATS |= {"rss093": "rss09x", "rss094": "rss09x"}


#: Well-formed RSS 0.9x/2.0 and Atom 1.0 skip feedparser (see :mod:`aggregator.parse.fast`).
#: Set to False, or start with AGGREGATOR_FEEDPARSER_ONLY=1, to send every XML feed through it.
FAST_PATH = os.environ.get("AGGREGATOR_FEEDPARSER_ONLY", "").strip().lower() not in {"1", "true"}


def _parse_xml_feed(data: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    prepared = _prepare_xml(data, content_type)
    result = _fast_result(prepared, url) or _run_feedparser(prepared, url)
    entries = tuple(_xml_entry(e, url, result) for e in result.get("entries", ()))
    if not result.get("version") and not entries:
        raise _no_feed_error(data, content_type, prepared.root)
    warnings = prepared.warnings + _bozo_warnings(result, len(entries))
    return _xml_feed(result, url, entries, warnings)


def _fast_result(prepared: _Prepared, url: str) -> Any:
    """feedparser's result computed by the fast path, or None when feedparser must run."""
    return fastparse.feedparser_result(prepared.data, url) if FAST_PATH else None


def _run_feedparser(prepared: _Prepared, url: str) -> Any:
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


def _no_feed_error(data: bytes, content_type: str | None, root: str) -> FeedParseError:
    """Distinguish an HTML page (served as text/html, or <html> after junk) from the rest."""
    if _mime(content_type) == "text/html" or _HTML_HINT.search(data[:4096]):
        return _html_error()
    what = f"an XML document with root <{root}>" if root else "not XML"
    return FeedParseError(
        f"no feed found: the body is {what}, neither RSS, Atom nor JSON Feed",
        hint="check the URL; the server may be returning something else",
    )


def _xml_feed(
    result: Any, url: str, entries: tuple[ParsedEntry, ...], warnings: tuple[str, ...]
) -> ParsedFeed:
    feed = result.get("feed", {})
    version = result.get("version") or "unknown"
    return ParsedFeed(
        format=_FORMATS.get(version, version),
        title=_detail_title(feed),
        link=_http_url(feed.get("link"), url),
        language=_one_line(feed.get("language")),
        ttl_minutes=_to_int(feed.get("ttl")),
        entries=entries,
        warnings=warnings,
    )


def _bozo_warnings(result: Any, recovered: int) -> tuple[str, ...]:
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
    return _one_line(text_of(value) if "html" in mime else value)


def _xml_entry(entry: Mapping[str, Any], url: str, result: Any) -> ParsedEntry:
    return ParsedEntry(
        id=_one_line(_own(entry, "id")),
        url=_http_url(entry.get("link"), url),
        title=_detail_title(entry),
        author=_xml_author(entry) or _inherited_author(result),
        published=_struct_to_utc(_own(entry, "published_parsed")),
        updated=_struct_to_utc(_own(entry, "updated_parsed")),
        summary=_xml_summary(entry),
        content=_xml_content(entry),
        tags=_unique(t.get("term") or t.get("label") for t in entry.get("tags") or ()),
        enclosures=_xml_enclosures(entry, url),
    )


def _own(node: Mapping[str, Any], key: str) -> Any:
    """A key's own value: FeedParserDict.get("updated") silently answers with "published"."""
    return dict.get(node, key) if isinstance(node, dict) else node.get(key)


def _xml_author(node: Mapping[str, Any]) -> str | None:
    detail = node.get("author_detail") or {}
    return _one_line(detail.get("name") or node.get("author"))


def _inherited_author(result: Any) -> str | None:
    """Atom entries without an author inherit the feed's (RFC 4287 4.2.1); RSS ones don't."""
    if not str(result.get("version") or "").startswith("atom"):
        return None
    return _xml_author(result.get("feed", {}))


def _struct_to_utc(value: time.struct_time | None) -> datetime | None:
    """feedparser's *_parsed fields are UTC struct_times; impossible dates become None."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def _xml_summary(entry: Mapping[str, Any]) -> str | None:
    """The entry's own summary; feedparser's copy of the content (no summary_detail) is not one."""
    detail = entry.get("summary_detail")
    return _as_html(detail.get("value"), detail.get("type")) if detail else None


def _xml_content(entry: Mapping[str, Any]) -> str | None:
    """The longest content, HTML versions preferred over plain text ones."""
    candidates = [c for c in entry.get("content") or () if (c.get("value") or "").strip()]
    if not candidates:
        return None
    best = max(candidates, key=lambda c: ("html" in (c.get("type") or ""), len(c["value"])))
    return _as_html(best["value"], best.get("type"))


def _xml_enclosures(entry: Mapping[str, Any], base: str) -> tuple[Enclosure, ...]:
    links = (link for link in entry.get("links") or () if link.get("rel") == "enclosure")
    return _enclosures(((x.get("href"), x.get("type"), x.get("length")) for x in links), base)


def _enclosures(raw: Iterable[tuple[object, object, object]], base: str) -> tuple[Enclosure, ...]:
    """Enclosures with absolute http(s) URLs, first occurrence of each URL kept."""
    seen: dict[str, Enclosure] = {}
    for href, mime, length in raw:
        url = _http_url(href, base)
        if url and url not in seen:
            seen[url] = Enclosure(
                url, _one_line(mime) if isinstance(mime, str) else None, _to_int(length)
            )
    return tuple(seen.values())


# --------------------------------------------------------------------------- JSON Feed


def _parse_json_feed(data: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
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
        title=_one_line(text_of(_json_str(doc.get("title")))),
        link=_http_url(doc.get("home_page_url"), url),
        language=_json_str(doc.get("language")),
        ttl_minutes=None,
        entries=entries,
        warnings=tuple(warnings + version_warnings + notes),
    )


def _load_json(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """The top-level object; broken UTF-8 is replaced rather than fatal."""
    warnings: list[str] = []
    try:
        text = _trim_start(data).decode("utf-8")
    except UnicodeDecodeError as e:
        text = _trim_start(data).decode("utf-8", "replace")
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
    if _mime(content_type) in _JSON_TYPES and isinstance(doc.get("items"), list):
        return "json11", ["JSON Feed without a version; read as 1.1"]
    raise FeedParseError("JSON document is not a JSON Feed (no jsonfeed.org version)")


def _json_str(value: object) -> str | None:
    """Stripped string (numbers accepted, as ids often are), None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def _json_entry(item: Mapping[str, Any], url: str, feed_author: str | None) -> ParsedEntry:
    return ParsedEntry(
        id=_json_str(item.get("id")),
        url=_http_url(item.get("url"), url) or _http_url(item.get("external_url"), url),
        title=_one_line(text_of(_json_str(item.get("title")))),
        author=_json_author(item) or feed_author,
        published=_rfc3339(item.get("date_published")),
        updated=_rfc3339(item.get("date_modified")),
        summary=_as_html(_json_str(item.get("summary")), "text/plain"),
        content=_json_content(item, url),
        tags=_unique(t for t in _list(item.get("tags")) if isinstance(t, str)),
        enclosures=_enclosures(map(_json_attachment, _list(item.get("attachments"))), url),
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_author(node: Mapping[str, Any]) -> str | None:
    """1.1 ``authors`` (joined), else 1.0 ``author``; names only."""
    people = _list(node.get("authors")) or [node.get("author")]
    names = _unique(_json_str(p.get("name")) for p in people if isinstance(p, dict))
    return ", ".join(names) or None


def _json_content(item: Mapping[str, Any], base: str) -> str | None:
    """content_html sanitised like feedparser's, else content_text as HTML paragraphs."""
    markup = item.get("content_html")
    if isinstance(markup, str) and markup.strip():
        return _sanitise_html(markup, base) or None
    return _as_html(_json_str(item.get("content_text")), "text/plain")


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
        return _struct_to_utc(feedparser.datetimes._parse_date(value))
    return _aware_utc(parsed)


def _aware_utc(moment: datetime) -> datetime | None:
    """Naive means UTC; a time zone pushing year 1 or 9999 out of range means no date."""
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return None
