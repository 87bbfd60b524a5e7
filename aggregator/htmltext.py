"""Plain text of an HTML fragment, fast: regular expressions over the whole string
instead of html.parser's tag-by-tag callbacks (2-3× less CPU on feed summaries).

``parse.text_of`` is the definition; this computes the same string for the
fragments it understands and answers None for the rest (raw-text elements such
as <script>, comments, declarations, odd closing tags, quotes in odd places),
which ``text_of`` then hands to html.parser. tests/test_htmltext.py checks the
two agree on generated markup; scripts/compare_text.py on every corpus fragment.

How: tags become private-use markers (block → paragraph break, <br> → line
break, any other tag → a cut that keeps entities from joining across it), the
character references are decoded, whitespace collapses, then the markers turn
into newlines and the lines and paragraphs are tidied as text_of does.
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
_END = r"(?=[\t\n\r\f />])"
_BLOCK_TAG = re.compile(r"</?(?i:" + "|".join(sorted(BLOCK_TAGS, key=len, reverse=True))
                        + ")" + _END + _ATTRS + ">")
_BR_TAG = re.compile(r"<(?i:br)" + _END + _ATTRS + ">")
_ANY_TAG = re.compile(r"</?[a-zA-Z][^\t\n\r\f />\x00]*" + _ATTRS + ">")
_LEFT_TAG = re.compile(r"<[a-zA-Z/]")
#: A '<' opened again before the first was closed: html.parser may read the whole run
#: as one tag name ("<a<p>"), which per-kind passes cannot reproduce.
_NESTED = re.compile(r"<[^>]*<")
_BAD_CLOSE = re.compile(r"</(?![a-zA-Z])")
_RAW = ("<script", "<style", "<template", "<noscript", "<head", "<textarea", "<title", "<xmp",
        "<iframe", "<noembed", "<noframes", "<plaintext", "<!", "<?", _PARA, _LINE, _CUT)
_SPACES = re.compile(r"\s{2,}|[^\S ]")
_BREAKS = re.compile(r"[ \n]*\n[ \n]*")


def fast_text(fragment: str) -> str | None:
    """text_of(fragment), or None when the fragment needs html.parser."""
    if "<" in fragment:
        if _needs_parser(fragment):
            return None
        fragment = _BLOCK_TAG.sub(_PARA, fragment)
        fragment = _ANY_TAG.sub(_CUT, _BR_TAG.sub(_LINE, fragment))
        if _LEFT_TAG.search(fragment):  # a tag our patterns could not delimit
            return None
    elif _PARA in fragment or _LINE in fragment or _CUT in fragment:
        return None
    if "&" in fragment:
        fragment = html.unescape(fragment)
    flat = _SPACES.sub(" ", fragment.replace(_CUT, ""))
    flat = flat.replace(_LINE, "\n").replace(_PARA, "\n\n")
    return _BREAKS.sub(_break, flat).strip(" \n")


def _needs_parser(fragment: str) -> bool:
    low = fragment.lower()
    return (any(marker in low for marker in _RAW) or _BAD_CLOSE.search(fragment) is not None
            or _NESTED.search(fragment) is not None)


def _break(m: re.Match[str]) -> str:
    """A run of spaces and newlines: a paragraph break if two newlines touch, else a line
    break (text_of splits paragraphs on consecutive newlines only)."""
    return "\n\n" if "\n\n" in m.group() else "\n"
