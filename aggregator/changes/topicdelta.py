"""How an edit moved a story in or out of the desk's topics.

Topic matching itself runs elsewhere on each version; this module only
compares its results.  A topic that matched before and after can still matter:
when the edit touched the very words it matched on ("context changed"), the
story may now say something different about the topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aggregator.changes.diff import DiffOp


@dataclass(frozen=True)
class TopicDelta:
    """Topics gained, lost, or still matching with edits around their terms (names sorted)."""

    introduced: tuple[str, ...]
    removed: tuple[str, ...]
    context_changed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.introduced or self.removed or self.context_changed)


def topic_delta(
    old_matches: Mapping[str, Sequence[str]],
    new_matches: Mapping[str, Sequence[str]],
    diff: Sequence[DiffOp],
) -> TopicDelta:
    """Compare topic → matched terms before and after; ``diff`` is the word diff between."""
    before = _matching(old_matches)
    after = _matching(new_matches)
    edited = edited_texts(diff)
    touched = (
        t for t in before & after if terms_occur(set(old_matches[t]) | set(new_matches[t]), edited)
    )
    return TopicDelta(
        introduced=tuple(sorted(after - before)),
        removed=tuple(sorted(before - after)),
        context_changed=tuple(sorted(touched)),
    )


def _matching(matches: Mapping[str, Sequence[str]]) -> set[str]:
    """Topics that actually matched (an empty term list means no match)."""
    return {topic for topic, terms in matches.items() if terms}


def edited_texts(diff: Sequence[DiffOp]) -> tuple[str, ...]:
    """The inserted and deleted runs of a diff, each searched on its own."""
    return tuple(op.text for op in diff if op.op != "equal")


def terms_occur(terms: Iterable[str], texts: Sequence[str]) -> bool:
    """True when any term occurs as a whole word or phrase (any case) in any text."""
    return any(_term_pattern(term).search(text) for term in terms if term.strip() for text in texts)


def _term_pattern(term: str) -> re.Pattern[str]:
    words = (re.escape(w) for w in term.split())
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
