"""Snippets around topic hits and their highlighting for terminals, HTML and plain text.

An alert shows a reader *why* an article matched: about 200 characters around
the matched words, cut on word boundaries, with the hits marked.  Offsets of
hits point into the original field text; snippets collapse runs of white
space (line breaks between paragraphs) so the offsets are remapped.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SNIPPET_WIDTH = 200
MAX_SNIPPETS = 3
ELLIPSIS = "\u2026"
_SPACE_RE = re.compile(r"\s+")

#: (field index, start, end): a hit's character range in one field's original text.
Hit = tuple[int, int, int]


@dataclass(frozen=True)
class Snippet:
    """About 200 characters around hits; ``highlights`` are offsets into ``text``."""

    text: str
    highlights: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Window:
    field: int
    start: int
    end: int
    hits: tuple[tuple[int, int], ...]


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ranges: overlapping or touching ranges are joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def collapse_space(text: str) -> str:
    """Runs of white space as one space, ends stripped: how surfaces and snippets read."""
    return " ".join(text.split())


def _snap_start(text: str, start: int, limit: int) -> int:
    """Move a window start forward to a word start, never past ``limit`` (the first hit)."""
    while 0 < start < limit and not text[start - 1].isspace():
        start += 1
    return start


def _snap_end(text: str, end: int, limit: int) -> int:
    """Move a window end back to a word end, never before ``limit`` (the last hit's end)."""
    while limit < end < len(text) and not text[end].isspace():
        end -= 1
    return end


def _frame(text: str, start: int, end: int, width: int) -> tuple[int, int]:
    """A window of about ``width`` characters centred on [start, end), on word boundaries."""
    span = max(width, end - start)
    ws = max(0, start - (span - (end - start)) // 2)
    we = min(len(text), ws + span)
    ws = _snap_start(text, max(0, we - span), start)
    we = _snap_end(text, we, end)
    while ws < start and text[ws].isspace():
        ws += 1
    while we > end and text[we - 1].isspace():
        we -= 1
    return ws, we


def _groups(hits: list[tuple[int, int]], width: int) -> list[tuple[int, int]]:
    """Greedy runs of hits (first, last index) that fit in ``width`` characters."""
    groups: list[tuple[int, int]] = []
    i = 0
    while i < len(hits):
        j = i
        while j + 1 < len(hits) and hits[j + 1][1] - hits[i][0] <= width:
            j += 1
        groups.append((i, j))
        i = j + 1
    return groups


def _window(field: int, text: str, hits: list[tuple[int, int]], group: tuple[int, int],
            width: int) -> _Window:  # fmt: skip
    """Frame a group on word boundaries; hits that end up inside are highlighted too."""
    ws, we = _frame(text, hits[group[0]][0], hits[group[1]][1], width)
    starts = [h[0] for h in hits]
    lo, hi = bisect_left(starts, ws), bisect_right(starts, we)
    inside = tuple(h for h in hits[lo:hi] if h[1] <= we)
    return _Window(field, ws, we, inside)


def _rank(text: str, hits: list[tuple[int, int]], group: tuple[int, int]) -> tuple[int, int]:
    """Sort key, best first: most distinct matched words (a window showing why
    beats one repeating "Nvidia" four times), then most hits."""
    inside = hits[group[0] : group[1] + 1]
    distinct = {collapse_space(text[s:e]).casefold() for s, e in inside}
    return (-len(distinct), -len(inside))


def _remap(segment: str, offsets: list[int]) -> tuple[str, list[int]]:
    """Collapse white space in ``segment`` and move ``offsets`` (into it) accordingly.

    Offsets sit on word boundaries, never inside a run of spaces, so the new
    offset is simply the length of the collapsed text before it.
    """
    collapse = _SPACE_RE.sub
    return collapse(" ", segment), [len(collapse(" ", segment[:o])) for o in offsets]


def _render(text: str, window: _Window) -> Snippet:
    """The window's text, white space collapsed, "…" where cut, highlights remapped."""
    segment = text[window.start : window.end]
    flat = [o - window.start for h in window.hits for o in h]
    body, moved = _remap(segment, flat)
    prefix = ELLIPSIS if text[: window.start].strip() else ""
    suffix = ELLIPSIS if text[window.end :].strip() else ""
    shift = len(prefix)
    pairs = [(moved[k] + shift, moved[k + 1] + shift) for k in range(0, len(moved), 2)]
    return Snippet(prefix + body + suffix, tuple(merge_ranges(pairs)))


def make_snippets(
    texts: Sequence[str],
    hits: Sequence[Hit],
    width: int = SNIPPET_WIDTH,
    limit: int = MAX_SNIPPETS,
) -> tuple[Snippet, ...]:
    """Up to ``limit`` snippets, the most telling groups of hits, shown in reading order.

    Groups are ranked on hit offsets alone; only the chosen few are framed and
    rendered, so a word found 50 times costs little.
    """
    candidates: list[tuple[tuple[int, int], int, int, tuple[int, int]]] = []
    per_field: list[list[tuple[int, int]]] = []
    for field, text in enumerate(texts):
        field_hits = merge_ranges([(s, e) for f, s, e in hits if f == field])
        per_field.append(field_hits)
        for group in _groups(field_hits, width):
            start = field_hits[group[0]][0]
            candidates.append((_rank(text, field_hits, group), field, start, group))
    best = sorted(candidates)[:limit]
    best.sort(key=lambda c: (c[1], c[2]))
    windows = [_window(f, texts[f], per_field[f], g, width) for _, f, _, g in best]
    return tuple(_render(texts[w.field], w) for w in windows)


HighlightStyle = Literal["ansi", "html", "brackets"]

_MARKS: dict[HighlightStyle, tuple[str, str]] = {
    "ansi": ("\x1b[1;33m", "\x1b[0m"),
    "html": ("<mark>", "</mark>"),
    "brackets": ("[", "]"),
}


def highlight(snippet: Snippet, style: HighlightStyle) -> str:
    """The snippet with its highlights marked; html mode escapes the text itself."""
    opening, closing = _MARKS[style]
    escape = html.escape if style == "html" else (lambda s: s)
    size = len(snippet.text)
    ranges = merge_ranges([(max(0, s), min(size, e)) for s, e in snippet.highlights if s < e])
    out: list[str] = []
    pos = 0
    for start, end in ranges:
        out += [escape(snippet.text[pos:start]), opening, escape(snippet.text[start:end]), closing]
        pos = end
    out.append(escape(snippet.text[pos:]))
    return "".join(out)
