"""Two versions side by side, as data: aligned paragraph pairs, each word-diffed.

``render.render_html`` makes an e-mail table with inline styles; the desk needs
the same alignment as data it can render with its own (CSP-safe) markup. A
paragraph added between two versions faces an empty cell; a changed paragraph
shows the removed words on the left and the added ones on the right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher

from aggregator.changes.diff import DiffOp, changed_words, token_diff, tokenize
from aggregator.changes.normalize import clean_line, paragraphs


@dataclass(frozen=True)
class PairRow:
    """One row: the old paragraph's runs and the new one's (either may be empty)."""

    old: tuple[DiffOp, ...]
    new: tuple[DiffOp, ...]
    changed: bool


def pair(old: str | None, new: str | None) -> PairRow:
    """A word diff of two paragraphs (or headlines); a missing side is all insert/delete."""
    if old is None or new is None:
        left = (DiffOp("delete", old),) if old else ()
        right = (DiffOp("insert", new),) if new else ()
        return PairRow(left, right, True)
    if old == new:
        return PairRow((DiffOp("equal", old),), (DiffOp("equal", new),), False)
    ops = list(token_diff(tokenize(old), tokenize(new)))
    return PairRow(
        tuple(o for o in ops if o.op != "insert"), tuple(o for o in ops if o.op != "delete"), True
    )


def rows(old_text: str, new_text: str) -> Iterator[PairRow]:
    """Aligned paragraph pairs; unchanged ones too, so the reader sees the context."""
    old, new = paragraphs(old_text), paragraphs(new_text)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                yield pair(old[i1 + k], new[j1 + k])
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            left = old[i1 + k] if i1 + k < i2 else None
            right = new[j1 + k] if j1 + k < j2 else None
            yield pair(left, right)


def headline(old: str | None, new: str | None) -> PairRow:
    return pair(clean_line(old or ""), clean_line(new or ""))


def word_counts(table: list[PairRow]) -> tuple[int, int]:
    """(words added, words removed) over the rows."""
    added = removed = 0
    for r in table:
        a, _ = changed_words([o for o in r.new if o.op == "insert"])
        _, d = changed_words([o for o in r.old if o.op == "delete"])
        added, removed = added + a, removed + d
    return added, removed
