"""Plain text of an HTML fragment, fast: regular expressions over the whole string
instead of html.parser's tag-by-tag callbacks (2-3× less CPU on feed summaries).

``parse.text_of`` is the definition; this computes the same string for the
fragments it understands and answers None for the rest (raw-text elements such
as <script>, comments, declarations, odd closing tags, quotes in odd places),
which ``text_of`` then hands to html.parser. tests/parse/test_htmltext.py checks the
two agree on generated markup; scripts/compare_text.py on every corpus fragment.

How: one pass turns each tag into a private-use marker (block → paragraph break,
<br> → line break, any other tag → a cut that keeps entities from joining across it),
the character references are decoded, whitespace collapses, then the runs of markers
become newlines as text_of's paragraph tidying would leave them. Regular-expression
scans cost about 5 ns per character each, so the passes are few and the rest is str
methods (this was a fifth of a feed item's parsing CPU).
"""

from __future__ import annotations

import html
import re

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
        "tfoot", "tr", "ul",
    }
)  # fmt: skip

_PARA, _LINE, _CUT = "\ue000", "\ue001", "\ue002"
#: A tag's attributes, with quotes only around values (`name="v"`): a quote anywhere
#: else is where html.parser's leniency differs, and such a tag is left unmatched, so
#: the fragment goes to html.parser (see _LEFT_TAG).
_ATTRS = r"""(?:[^>"'=]|=\s*"[^"]*"|=\s*'[^']*'|=)*"""
#: Any tag, in one pass (a '<' inside one is never reached: _NESTED sends those fragments
#: to html.parser): "/" if closing, then the name.
_TAG = re.compile(r"<(/?)([a-zA-Z][^\t\n\r\f />\x00]*)" + _ATTRS + ">")
_LEFT_TAG = re.compile(r"<[a-zA-Z/]")
#: A '<' opened again before the first was closed: html.parser may read the whole run
#: as one tag name ("<a<p>"), which a tag pattern cannot reproduce.
_NESTED = re.compile(r"<[^>]*<")
_BAD_CLOSE = re.compile(r"</(?![a-zA-Z])")
#: Raw-text elements, comments, declarations and processing instructions, in one pass
#: (IGNORECASE also takes a few non-ASCII look-alikes: those go to html.parser too).
_RAW = re.compile(
    r"<(?:(?i:script|style|template|noscript|head|textarea|title|xmp|iframe|noembed|noframes"
    r"|plaintext)|!|\?)"
)
#: A run of paragraph and line markers: one newline, or a blank line if it holds a
#: paragraph marker.
_MARKER_RUN = re.compile(f"[{_PARA}{_LINE}]+")


def fast_text(fragment: str) -> str | None:
    """text_of(fragment), or None when the fragment needs html.parser."""
    if _PARA in fragment or _LINE in fragment or _CUT in fragment:  # our markers
        return None
    if "<" in fragment:
        if _needs_parser(fragment):
            return None
        fragment = _TAG.sub(_marker, fragment)
        if _LEFT_TAG.search(fragment):  # a tag our patterns could not delimit
            return None
    if "&" in fragment:
        fragment = html.unescape(fragment)
    flat = " ".join(fragment.replace(_CUT, "").split())  # str.split's whitespace is \s's
    if _PARA in flat or _LINE in flat:
        flat = _breaks(flat)
    return flat.strip(" \n")


def _marker(m: re.Match[str]) -> str:
    """What a tag leaves in the text: a paragraph break (block tags), a line break (<br>)
    or a cut."""
    slash, name = m.groups()
    low = name.lower()
    if low in BLOCK_TAGS:
        return _PARA
    return _LINE if low == "br" and not slash else _CUT


def _needs_parser(fragment: str) -> bool:
    return (
        "\x00" in fragment
        or _RAW.search(fragment) is not None
        or _BAD_CLOSE.search(fragment) is not None
        or _NESTED.search(fragment) is not None
    )


def _breaks(flat: str) -> str:
    """Markers to newlines, the way text_of ends a run of whitespace that holds newlines:
    a blank line if two newlines touch in it, else one newline. Spaces are single here,
    so two line markers touch only when nothing is between them (a blank line), and a
    space beside a marker belongs to its run."""
    flat = flat.replace(_LINE + _LINE, _PARA)
    for marker in (_PARA, _LINE):
        flat = flat.replace(" " + marker, marker).replace(marker + " ", marker)
    return _MARKER_RUN.sub(_newlines, flat)


def _newlines(m: re.Match[str]) -> str:
    return "\n\n" if _PARA in m.group() else "\n"
