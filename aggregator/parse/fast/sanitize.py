"""HTML in summaries and contents: nh3 configured with feedparser's allow-lists.

Before sanitising, the few constructs sgmllib (feedparser) and an HTML5 parser (ammonia)
read differently are rewritten, so the text comes out the same and at least as safe.
"""

from __future__ import annotations

import functools
import html.entities
import re
from collections.abc import Callable, Iterable
from typing import Any

import feedparser.datetimes
import feedparser.html
import feedparser.mixin
import feedparser.sanitizer
import feedparser.urls
import nh3

from aggregator.parse.fast.tree import _CP1252, _MIXIN, _fix, _safe_uri, _Unsupported

#: Key of a content value's (raw text, base URI), kept to rank contents the way feedparser does.
_RAW = "_raw"


def _pick_contents(entries: Iterable[Any]) -> None:
    """``parse.xmlfeed._xml_content`` picks the longest content, HTML first.

    With nh3's output lengths that choice is only certain when a single value is in the
    running; otherwise (podcasts: itunes:summary turned content next to content:encoded) the
    candidates are ranked by the length feedparser's own sanitiser gives them, and only the
    winner is kept.
    """
    for entry in entries:
        contents = entry.get("content") or ()
        candidates = [c for c in contents if c["value"].strip()]
        best = any("html" in c["type"] for c in candidates)
        if len({c["value"] for c in candidates if ("html" in c["type"]) == best}) > 1:
            ranked = [(_feedparser_rank(c), c) for c in contents]
            ranked = [(rank, c) for rank, c in ranked if rank[1]]
            entry["content"] = [max(ranked, key=lambda pair: pair[0])[1]] if ranked else []


def _feedparser_rank(content: Any) -> tuple[bool, int]:
    """(is HTML, length of the value feedparser would have produced); 0 means empty."""
    if "html" not in content["type"]:
        return False, len(content["value"].strip() and content["value"])
    raw, base = content[_RAW]
    resolved = feedparser.urls.resolve_relative_uris(raw, base, "utf-8", content["type"])
    value = _fix(feedparser.sanitizer._sanitize_html(resolved, "utf-8", content["type"]))
    return True, len(value.strip() and value)


_TAGS = frozenset(feedparser.sanitizer._HTMLSanitizer.acceptable_elements)
#: Dropped with their content, like feedparser's ``unacceptable_elements_with_end_tag``.
_CLEAN_CONTENT = frozenset({"script", "style", "applet"})
#: Tags of elements an HTML5 parser reads as raw text (an ``<iframe/>`` would swallow the rest
#: of the fragment) while feedparser (sgmllib) just drops the tag and keeps parsing what is
#: inside.  Removed before sanitising, so their content is sanitised as ordinary markup.
_RAW_TEXT_TAGS = re.compile(  # quoted values bounded: unclosed quotes cannot go quadratic
    r"""</?(?:iframe|noembed|noframes|xmp|title|plaintext)(?![-_.:\w])"""
    r"""(?:[^<>"']++|"[^"]{0,4096}+"|'[^']{0,4096}+')*+>""",
    re.IGNORECASE,
)
#: Inline SVG and MathML: feedparser keeps them (and their text), ammonia drops them.
_FOREIGN = re.compile(r"<(?:svg|math)(?![-_.:\w])", re.IGNORECASE)
#: sgmllib's tokenisation where it changes the text: "<!" that opens no comment, doctype or
#: marked section is text; marked sections (<![CDATA[...]]>, Word's <![if ...]>) vanish;
#: <tag/> without attributes; entity references, which need no ";" but must be HTML 4 names.
_LONE_DECLARATION = re.compile(r"<!((?!DOCTYPE|--|\[))", re.IGNORECASE)
_MARKED_SECTION = re.compile(
    r"<!\[(?:(cdata|temp|ignore|include|rcdata)|(if|else|endif))(?![-_.:\w])", re.IGNORECASE
)
_SECTION_END = re.compile(r"\]\s*+\]\s*+>")
_CONDITION_END = re.compile(r"\]\s*+>")
_SHORT_TAG = re.compile(r"<([^<>\s]+?)\s*/>")
_ENTITY_REF = re.compile(  # the everyday references are left alone without a callback
    r"&(?!(?:amp|lt|gt|quot|nbsp);)([a-zA-Z][-.a-zA-Z0-9]*)(?:;|(?=[^a-zA-Z0-9])|$)"
)
_ENTITY_NAMES = frozenset(html.entities.name2codepoint) | {"apos"}
_VOID_TAGS = frozenset(feedparser.html._BaseHTMLProcessor.elements_no_end_tag)


def _sgml_like(fragment: str) -> str:
    """Rewrite what sgmllib and an HTML5 parser read differently into unambiguous markup."""
    if "<!" in fragment:
        fragment = _LONE_DECLARATION.sub(r"&lt;!\1", fragment)
    if "/>" in fragment:
        fragment = _SHORT_TAG.sub(_short_tag, fragment)
    if "<![" in fragment:
        fragment = _without_marked_sections(fragment)
    if "&" in fragment:
        fragment = _ENTITY_REF.sub(_entity_ref, fragment)
    return _RAW_TEXT_TAGS.sub("", fragment)


#: Anything sgmllib (or an HTML5 parser) could read as markup; other "<" are plain text to both.
_TAG_LIKE = re.compile(r"<[A-Za-z/!?>]|<[^<>\s]+?\s*/>")
#: sgmllib's character and entity references (which need no ";", just a non-alphanumeric
#: character after the name).
_SGML_REF = re.compile(
    r"&(?:#([0-9]+|[xX][0-9a-fA-F]+);|([a-zA-Z][-.a-zA-Z0-9]*)(?:;|(?=[^a-zA-Z0-9])))"
)


def _sgml_text(text: str) -> str:
    """What feedparser's resolver and sanitiser make of text without markup (idempotent).

    sgmllib passes it through but for its reading of references: unknown names lose their
    ";" and gain an escaped "&", known ones gain a ";", C1 character references are remapped.
    """
    text = _SGML_REF.sub(_sgml_ref, text.replace("&#39;", "'").replace("&#34;", '"'))
    return text.strip().replace("\r\n", "\n")


def _sgml_ref(match: re.Match[str]) -> str:
    number, name = match.group(1), match.group(2)
    if number is None:
        return f"&{name};" if name in _ENTITY_NAMES else f"&amp;{name}"
    number = number.lower()
    value = int(number[1:], 16) if number.startswith("x") else int(number)
    return f"&#{hex(ord(_CP1252[value]))[1:]};" if value in _CP1252 else f"&#{number};"


def _without_marked_sections(fragment: str) -> str:
    """sgmllib drops <![CDATA[...]]> and Word's <![if ...]>; an unclosed one ends its parsing."""
    kept, pos = [], 0
    while (start := _MARKED_SECTION.search(fragment, pos)) is not None:
        end_of = _SECTION_END if start.group(1) else _CONDITION_END
        end = end_of.search(fragment, start.end())
        if end is None:
            break
        kept.append(fragment[pos : start.start()])
        pos = end.end()
    return "".join(kept) + fragment[pos:]


def _short_tag(match: re.Match[str]) -> str:
    tag = match.group(1)
    return f"<{tag} />" if tag in _VOID_TAGS else f"<{tag}></{tag}>"


def _entity_ref(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"&{name};" if name in _ENTITY_NAMES else f"&amp;{name}"


#: Attributes holding URLs that ammonia checks (scheme allow-list, relative ones resolved).
_CHECKED_URLS = {"*": {"href", "src"}, "form": {"action"}, "video": {"poster"}}
#: feedparser's allow-list minus ``style`` (feedparser filters CSS itself; ammonia cannot), the
#: XML namespace plumbing that means nothing in HTML, and every other attribute that can hold a
#: URL (``background``, ``cite``, ``longdesc``...): ammonia would not check their scheme.
_ATTRIBUTES = (
    frozenset(feedparser.sanitizer._HTMLSanitizer.acceptable_attributes)
    - {"style", "xml:base", "xml:lang", "xml:space", "xmlns", "xmlns:xlink"}
    - {attr for _, attr in feedparser.urls.RelativeURIResolver.relative_uris}
    - {"action", "background", "cite", "data", "datasrc", "dynsrc", "lowsrc", "poster"}
) | _CHECKED_URLS["*"]


@functools.lru_cache(maxsize=64)
def _cleaner(base: str) -> Callable[[str], str]:
    """An HTML sanitiser mirroring feedparser's allow-lists, resolving links against ``base``."""

    def resolve(relative: str) -> str | None:
        return _safe_uri(base, relative.strip()) or None

    attributes = {tag: set(names) for tag, names in _CHECKED_URLS.items()}
    attributes["*"] = set(_ATTRIBUTES)
    cleaner = nh3.Cleaner(
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT),
        attributes=attributes,
        url_relative=resolve,
        url_schemes=set(feedparser.urls.ACCEPTABLE_URI_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )

    def clean(fragment: str) -> str:
        if _FOREIGN.search(fragment):
            raise _Unsupported
        return str(cleaner.clean(_sgml_like(fragment))).strip()

    return clean


class _Shim:
    """Just enough of a feedparser parser object to run its author and tag bookkeeping."""

    _sync_author_detail = _MIXIN._sync_author_detail
    _save_author = _MIXIN._save_author
    _add_tag = _MIXIN._add_tag

    def __init__(self, context: Any) -> None:
        self.context = context

    def _get_context(self) -> Any:
        return self.context
