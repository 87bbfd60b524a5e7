"""Sniffing and making bytes safe before any parser sees them.

JSON or XML; the encoding (BOM and UTF-16/32 sniffing, valid UTF-8 first, then the XML
declaration, the HTTP charset, windows-1252), re-encoded to UTF-8 so the prolog check
runs on exactly the bytes the parser will read; and the prolog cleared of every DOCTYPE,
comment, processing instruction and stray declaration, so no entity declaration (billion
laughs, external entities) ever reaches expat, lxml or feedparser.  Pure.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from aggregator.parse.records import FeedParseError

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


def trim_start(data: bytes) -> bytes:
    """Without a UTF-8 BOM and leading whitespace (expat rejects both before <?xml)."""
    return (data[3:] if data.startswith(codecs.BOM_UTF8) else data).lstrip()


def is_json(data: bytes) -> bool:
    """A body that opens an object can only be JSON, whatever the server calls it.

    Whether it is a JSON Feed is decided after decoding (``_json_format``):
    the version key may come last, and its slashes may be escaped.
    """
    return trim_start(data[:1024]).startswith(b"{")


def mime_type(content_type: str | None) -> str:
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
HTML_HINT = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)


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
class PreparedXML:
    """UTF-8 bytes safe to hand to feedparser, warnings so far, and the root element."""

    data: bytes
    warnings: tuple[str, ...]
    root: str


#: The warning recorded when a DOCTYPE with entity declarations was removed (bomb/XXE attempt).
ENTITY_NOTE = "DOCTYPE with entity declarations removed; entities were not expanded"


def prepare_xml(data: bytes, content_type: str | None) -> PreparedXML:
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
    return PreparedXML(data, tuple(notes), prolog.root.decode("ascii", "replace"))


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
    data = trim_start(data)
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
        raise html_error()


def html_error() -> FeedParseError:
    return FeedParseError(
        "the body is an HTML page, not a feed",
        looks_like_html=True,
        hint="the site may be serving a captcha, login wall or error page instead of the feed",
    )
