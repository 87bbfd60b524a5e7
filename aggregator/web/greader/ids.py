"""Item ids as Google Reader clients expect them: 64-bit, shown in two forms.

A story's item id is ``prefix << 40 | article id``. The 23-bit prefix is derived
from the database's installation id, so ids stay the same across restarts (the
article id and the installation id are both stored) and differ between
databases (a staging copy or a rebuilt database has another installation id:
two installations share a prefix with odds of one in eight million). Bit 63 is
never set, so the decimal form is positive for clients that keep a signed long.

Clients name an item in either form:

* long: ``tag:google.com,2005:reader/item/`` + 16 hex digits, zero-padded;
* short: the decimal number.

Views. newsboat keeps one copy of an item per id, whichever feed it came from,
so a story that is in its feed's stream and in a topic's stream would appear
under only one of them. The Atom form of a topic's stream therefore names its
entries with a per-topic prefix (derived from the installation id and the
topic's name); those ids resolve to the same story when a client marks them read.
The JSON API always uses the canonical id.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

LONG_PREFIX = "tag:google.com,2005:reader/item/"
ARTICLE_BITS = 40
PREFIX_BITS = 23
_ARTICLE_MASK = (1 << ARTICLE_BITS) - 1
_PREFIX_MASK = (1 << PREFIX_BITS) - 1


@functools.lru_cache(maxsize=4096)
def _prefix(*parts: str) -> int:
    """The id prefix of an installation (and topic view); cached, since a page of 1,000
    items encodes 2,000 ids and a SHA-256 each was a tenth of the page's time."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return (int.from_bytes(digest[:4], "big") & _PREFIX_MASK) or 1


def long_form(item_id: int) -> str:
    return f"{LONG_PREFIX}{item_id:016x}"


def parse_item_id(value: str) -> int | None:
    """The number behind either form (or 16 bare hex digits); None when it is neither."""
    text = value.strip()
    if text.startswith(LONG_PREFIX):
        text = text[len(LONG_PREFIX) :]
        return _hex(text)
    if text.isdigit() and not (len(text) == 16 and text.startswith("0")):
        number = int(text)
        return number if number < 1 << 64 else None
    if text.startswith("-") and text[1:].isdigit():  # a signed long from a client
        number = int(text)
        return number + (1 << 64) if number >= -(1 << 63) else None
    return _hex(text) if len(text) == 16 else None


def _hex(text: str) -> int | None:
    if not 0 < len(text) <= 16:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


@dataclass(frozen=True)
class ItemIds:
    """Encode and decode item ids for one installation (and its topics' views)."""

    installation_id: str
    topics: tuple[str, ...] = ()
    _views: dict[int, str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        views: dict[int, str | None] = {_prefix(self.installation_id): None}
        for name in self.topics:
            views.setdefault(_prefix(self.installation_id, "topic", name), name)
        object.__setattr__(self, "_views", views)

    @classmethod
    def of(cls, installation_id: str, topics: Iterable[str] = ()) -> ItemIds:
        return cls(installation_id, tuple(topics))

    def encode(self, article_id: int, view: str | None = None) -> int:
        if not 0 < article_id <= _ARTICLE_MASK:
            raise ValueError(f"article id {article_id} out of range")
        prefix = (
            _prefix(self.installation_id, "topic", view) if view else _prefix(self.installation_id)
        )
        return prefix << ARTICLE_BITS | article_id

    def long(self, article_id: int, view: str | None = None) -> str:
        return long_form(self.encode(article_id, view))

    def short(self, article_id: int) -> str:
        return str(self.encode(article_id))

    def article_id(self, value: str) -> int | None:
        """The story an id names, in any form or view; None for ids of another database."""
        number = parse_item_id(value)
        if number is None or number >> (ARTICLE_BITS + PREFIX_BITS):
            return None
        if (number >> ARTICLE_BITS) not in self._views:
            return None
        return (number & _ARTICLE_MASK) or None
