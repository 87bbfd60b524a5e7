"""The sentences an edit removed and added: what a change alert shows the desk.

Counts ("Words: +28 / −3") say that a story moved, not how. An editor reading
an alert wants the passages themselves: the sentence that was taken out, the
one that replaced it. Sentences are compared on their comparable form (stamps
masked, the site's furniture and stamp lines left out, see :mod:`.normalize`),
so a new "Updated 14:32" never shows up as a change, but they are shown as the
reader sees them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from aggregator.changes.normalize import line_key, paragraphs
from aggregator.changes.volatile import is_volatile_line, mask_volatile

#: A sentence ends at . ! ? or … (with closing quotes or brackets) followed by space.
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)\]]*\s+")
_OPENERS = "\"'«“‘(¿¡[-–—"


@dataclass(frozen=True)
class Passage:
    """One place in the story where sentences were removed, added, or both (a rewrite)."""

    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


def sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences.

    A boundary needs the next sentence to start like one (a capital letter,
    a digit or an opening quote), so "U.S. officials" or "3.5 per cent" stay whole.
    """
    out, start = [], 0
    for m in _SENTENCE_END.finditer(paragraph):
        nxt = paragraph[m.end() : m.end() + 1]
        if nxt and (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
            out.append(paragraph[start : m.end()].strip())
            start = m.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


def _units(text: str, boilerplate: frozenset[str]) -> list[tuple[str, str]]:
    """(comparison key, shown text) for each sentence that counts in a comparison."""
    units = []
    for para in paragraphs(text):
        if line_key(para) in boilerplate or is_volatile_line(para):
            continue
        units += [(mask_volatile(s).casefold(), s) for s in sentences(para)]
    return units


def changed_passages(
    old_text: str, new_text: str, boilerplate: frozenset[str] = frozenset()
) -> list[Passage]:
    """Every run of removed and/or added sentences, in story order."""
    old, new = _units(old_text, boilerplate), _units(new_text, boilerplate)
    matcher = SequenceMatcher(None, [k for k, _ in old], [k for k, _ in new], autojunk=False)
    return [
        Passage(tuple(s for _, s in old[i1:i2]), tuple(s for _, s in new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def title_passage(old_title: str | None, new_title: str | None) -> Passage | None:
    """The headline as a passage of its own, when it changed."""
    old, new = (old_title or "").strip(), (new_title or "").strip()
    if mask_volatile(old).casefold() == mask_volatile(new).casefold():
        return None
    return Passage((old,) if old else (), (new,) if new else ())


def passage_lines(passages: Sequence[Passage], more: int = 0, *, width: int = 300) -> str:
    """Text form: ``- removed`` / ``+ added`` lines, then "… and N more changes"."""
    lines = []
    for p in passages:
        lines += [f"- {clip(s, width)}" for s in p.removed]
        lines += [f"+ {clip(s, width)}" for s in p.added]
    if more:
        lines.append(f"… and {more} more change{'s' if more != 1 else ''}")
    return "\n".join(lines)


def clip(sentence: str, width: int) -> str:
    """A sentence cut at a word boundary when it is longer than ``width``."""
    if len(sentence) <= width:
        return sentence
    cut = sentence[: width - 1].rsplit(" ", 1)[0] or sentence[: width - 1]
    return cut.rstrip() + "…"


def cap(passages: Sequence[Passage], limit: int) -> tuple[tuple[Passage, ...], int]:
    """The first ``limit`` passages and how many were left out."""
    kept = tuple(passages[:limit])
    return kept, max(0, len(passages) - limit)
