"""What changed between two versions of a story, in the terms a news desk uses.

Everything is computed on comparable texts (see :mod:`.normalize`), so a
new timestamp or a rotated promo block counts as no change at all.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from aggregator.changes.corrections import find_correction
from aggregator.changes.diff import changed_words, word_diff
from aggregator.changes.normalize import clean_line, comparable_hash, comparable_lines
from aggregator.changes.volatile import mask_volatile

#: Edits of at least this many words (added + removed) are "substantial", smaller ones "light".
SUBSTANTIAL_WORDS = 20


@dataclass(frozen=True)
class ChangeSummary:
    """The facts about one version change that alerting and the desk care about."""

    headline_changed: bool
    old_title: str
    new_title: str
    words_added: int
    words_removed: int
    paragraphs_added: int
    paragraphs_removed: int
    paragraphs_changed: int
    correction: str | None
    is_revert: bool = False
    retracted: bool = False

    @property
    def words_changed(self) -> int:
        """Words added plus words removed (a replaced word counts twice)."""
        return self.words_added + self.words_removed

    def kind(self) -> str:
        """The one label a listing shows, most newsworthy first.

        retraction > revert > headline > correction > substantial > light > none.
        """
        if self.retracted:
            return "retraction"
        if self.is_revert:
            return "revert"
        if self.headline_changed:
            return "headline"
        if self.correction is not None:
            return "correction"
        if self.words_changed >= SUBSTANTIAL_WORDS:
            return "substantial"
        if self.words_changed or self._paragraphs_touched():
            return "light"
        return "none"

    def _paragraphs_touched(self) -> int:
        return self.paragraphs_added + self.paragraphs_removed + self.paragraphs_changed


@dataclass(frozen=True)
class ParagraphCounts:
    """Paragraphs added, removed and edited in place between two versions."""

    added: int
    removed: int
    changed: int
    new_lines: tuple[str, ...]  # paragraphs of the new version that were not in the old one


def summarize_change(
    old_title: str,
    old_text: str,
    new_title: str,
    new_text: str,
    boilerplate: frozenset[str] = frozenset(),
    *,
    earlier_hashes: Collection[str] = (),
) -> ChangeSummary:
    """Summarise the change from one version to the next.

    ``earlier_hashes`` are the :func:`comparable_hash` values (same boilerplate,
    text only) of the versions *before* the old one; the change is a revert when
    the new text matches one of them.
    """
    old_lines = comparable_lines(old_text, boilerplate)
    new_lines = comparable_lines(new_text, boilerplate)
    added, removed = changed_words(word_diff("\n".join(old_lines), "\n".join(new_lines)))
    paras = count_paragraphs(old_lines, new_lines)
    return ChangeSummary(
        headline_changed=comparable_title(old_title) != comparable_title(new_title),
        old_title=clean_line(old_title),
        new_title=clean_line(new_title),
        words_added=added,
        words_removed=removed,
        paragraphs_added=paras.added,
        paragraphs_removed=paras.removed,
        paragraphs_changed=paras.changed,
        correction=find_correction(paras.new_lines),
        is_revert=is_revert(old_text, new_text, earlier_hashes, boilerplate),
    )


def comparable_title(title: str) -> str:
    """A headline as compared: cleaned, with live-blog stamps ("updated 14:32") masked."""
    return mask_volatile(clean_line(title))


def count_paragraphs(old: Sequence[str], new: Sequence[str]) -> ParagraphCounts:
    """Align paragraphs; in a replaced stretch, pairs count as changed, the rest as added/removed."""
    added = removed = changed = 0
    fresh: list[str] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        n_old, n_new = i2 - i1, j2 - j1
        changed += min(n_old, n_new)
        added += max(0, n_new - n_old)
        removed += max(0, n_old - n_new)
        fresh.extend(new[j1:j2])
    known = set(old)
    return ParagraphCounts(added, removed, changed, tuple(p for p in fresh if p not in known))


def is_revert(
    old_text: str,
    new_text: str,
    earlier_hashes: Collection[str],
    boilerplate: frozenset[str] = frozenset(),
) -> bool:
    """True when the new text differs from the old but equals an earlier version's."""
    if not earlier_hashes:
        return False
    new_hash = comparable_hash(new_text, boilerplate)
    return new_hash in earlier_hashes and new_hash != comparable_hash(old_text, boilerplate)


def retraction_summary(title: str) -> ChangeSummary:
    """The summary recorded when a story is pulled (see :func:`retraction_signal`)."""
    clean = clean_line(title)
    return ChangeSummary(False, clean, clean, 0, 0, 0, 0, 0, None, retracted=True)
