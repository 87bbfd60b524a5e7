"""``extract: auto``: fetch an entry's page only when the feed gave a teaser.

Many feeds carry the whole story (``content:encoded``, Atom ``content``); fetching and
extracting its page then costs a request, a worker's CPU and the host's patience for the
same text. Others give a line or two, or cut the text off with "…" or "Read more".
The rule is judged per entry and learned per feed from the document at hand: an entry is
a teaser when it is short or ends in a cut-off marker; in a feed whose entries are mostly
teasers, an entry below full-story length is treated as one too. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

#: Below this many characters of text an entry is a teaser (a headline and a line or two).
SHORT_CHARS = 500
#: At or above this, an entry is a full story even in a feed of teasers.
FULL_CHARS = 1500

#: Cut-off markers at the end of an entry, in the languages the desk reads.
_CUT = re.compile(
    r"(?:…|\.\.\.|\[…\]|\[\.\.\.\]|\(…\)|»|→|"
    r"read more|read the full (?:story|article)|continue reading|full story|"
    r"lire la suite|la suite|weiterlesen|mehr lesen|leer más|seguir leyendo|"
    r"leggi tutto|continua a leggere|ler mais|continuar lendo|lees meer|verder lezen|"
    r"czytaj dalej|devamını oku|подробнее|читать далее|читать полностью|"
    r"続きを読む|阅读全文|閱讀全文|더 보기|اقرأ المزيد)\W{0,3}$",
    re.IGNORECASE,
)

ExtractMode = Literal["auto"] | bool


def is_teaser(text: str) -> bool:
    """Whether one entry's own text is a teaser: short, or cut off."""
    t = text.strip()
    return len(t) < SHORT_CHARS or bool(_CUT.search(t[-60:]))


def feed_gives_teasers(texts: Sequence[str]) -> bool:
    """Whether most entries of this document are teasers (the feed's habit)."""
    return bool(texts) and sum(is_teaser(t) for t in texts) * 2 >= len(texts)


def wants_page(mode: ExtractMode, text: str, teaser_feed: bool) -> bool:
    """Whether to fetch and extract this entry's page under ``mode``."""
    if mode is True or mode is False:
        return mode
    return is_teaser(text) or (teaser_feed and len(text.strip()) < FULL_CHARS)
