"""Plain text of an HTML fragment: the definition (html.parser) behind a fast path.

``text_of`` feeds titles, topic matching and hashing; ``parse.htmltext`` computes the
same string cheaply for the fragments it understands.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from aggregator.parse.htmltext import BLOCK_TAGS as _HT_BLOCK_TAGS
from aggregator.parse.htmltext import fast_text

__all__ = ["text_of"]

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
