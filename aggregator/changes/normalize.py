"""Reduce an article's text to what an editor could have changed.

Two re-checks of the same page are compared on :func:`comparable_text`, never
on the raw extraction: whitespace, stamp lines, counters and the site's own
recurring furniture (promo blocks, "related" links, newsletter pitches) would
otherwise make every re-check look like an edit.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from aggregator.changes.volatile import is_volatile_line, mask_volatile

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_SPACES = re.compile(r"[^\S\n]+")
_DIGITS = re.compile(r"\d+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def clean_line(line: str) -> str:
    """One line with Unicode compatibility forms folded and runs of whitespace collapsed.

    NFKC turns no-break and other exotic spaces (and ligatures) into their
    plain forms, so a CMS switching to &nbsp; is not an edit.
    """
    folded = unicodedata.normalize("NFKC", line).translate(_INVISIBLE)
    return _SPACES.sub(" ", folded).strip()


def paragraphs(text: str) -> list[str]:
    """Non-empty cleaned lines: extraction puts one paragraph per line (blank lines between)."""
    cleaned = (clean_line(line) for line in text.splitlines())
    return [line for line in cleaned if line]


def line_key(line: str) -> str:
    """Key under which a line counts as "the same line" across a site's articles.

    Case, whitespace, edge punctuation and digits are ignored so that
    "Trusted by 5,000 professionals" and "trusted by 5,001 professionals." are
    one recurring line.
    """
    folded = clean_line(line).casefold()
    return _EDGE_PUNCT.sub("", _DIGITS.sub("0", folded))


def comparable_lines(text: str, boilerplate: frozenset[str] = frozenset()) -> list[str]:
    """The paragraphs that count in a comparison, stamps masked (see comparable_text)."""
    kept = (p for p in paragraphs(text) if line_key(p) not in boilerplate)
    return [mask_volatile(p) for p in kept if not is_volatile_line(p)]


def comparable_text(text: str, boilerplate: frozenset[str] = frozenset()) -> str:
    """Text reduced for comparison: one cleaned paragraph per line, noise removed.

    Removed: blank lines and whitespace runs, lines whose :func:`line_key` is in
    ``boilerplate``, short stamp/counter lines.  Masked inside longer lines:
    relative times, dated clock times, labelled stamps, comment counts.
    """
    return "\n".join(comparable_lines(text, boilerplate))


def comparable_hash(text: str, boilerplate: frozenset[str] = frozenset()) -> str:
    """SHA-256 (hex) of :func:`comparable_text`: equal hashes mean "no real change".

    Storage compares a re-check with the latest version (unchanged) and with
    earlier ones (a revert).  Hash the title separately, or pass
    ``title + "\\n" + text``, as long as every version is hashed the same way
    and with the same boilerplate set.
    """
    return hashlib.sha256(comparable_text(text, boilerplate).encode("utf-8")).hexdigest()


def learn_boilerplate(
    texts: Sequence[str], *, min_docs: int = 3, min_share: float = 0.5
) -> frozenset[str]:
    """Line keys that recur in many of one site's articles: its furniture, not its stories.

    ``texts`` are distinct recent articles of one site (one version each; several
    versions of one story would make its own paragraphs look recurrent).  A key
    is kept when it occurs in at least ``min_docs`` articles and in at least
    ``min_share`` of them, so a site with too few articles learns nothing.
    """
    if min_docs < 1:
        raise ValueError(f"min_docs must be at least 1, not {min_docs}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], not {min_share}")
    needed = max(min_docs, math.ceil(min_share * len(texts)))
    counts = Counter(key for text in texts for key in _doc_keys(text))
    return frozenset(key for key, n in counts.items() if n >= needed)


def _doc_keys(text: str) -> Iterable[str]:
    """The distinct non-empty line keys of one article (counted once per article)."""
    return {key for key in map(line_key, paragraphs(text)) if key}
