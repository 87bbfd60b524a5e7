"""Low-level helpers the storage modules share: values as the full-text index and
SQLite's driver want them, chunking of long IN lists, and the driver cursor the
SQLite hot paths use to skip SQLAlchemy's per-value processing."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

#: Keys per IN list: well under every driver's bound-parameter limit.
CHUNK = 500

_COMBINING = re.compile(
    "[{}]".format(
        "".join(re.escape(chr(c)) for c in range(0x300, 0x20D0) if unicodedata.combining(chr(c)))
    )
)


def search_text(*parts: str | None) -> str:
    """Text as the full-text index stores it: case-folded, accents stripped."""
    joined = " ".join(p for p in parts if p)
    if joined.isascii():
        return joined.casefold()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", joined)).casefold()


def fts_body(summary: str | None, text: str) -> str:
    """What the full-text index holds besides the title: the text, and the summary
    when it says something the text does not (for an article built from its feed
    item the two are the same, and indexing both doubled the index's work)."""
    if not summary or summary in text:
        return text
    return f"{summary}\n{text}"


#: A full-text document: article id, title, body.
FtsDoc = tuple[int, str | None, str | None]


def cursor(conn: Any) -> Any:
    """A driver cursor in `conn`'s transaction (SQLite hot paths skip SQLAlchemy)."""
    return conn.connection.dbapi_connection.cursor()


def marks(n: int) -> str:
    """`n` positional placeholders: "?,?,?"."""
    return ",".join("?" * n)


#: SQLite's default limit on bound parameters per statement (3.32+).
SQLITE_MAX_VARS = 32766


def sqlite_rows(model: Any, cols: list[str], rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Rows as SQLAlchemy would bind them on SQLite, converting only the columns
    whose type needs it (a third of the write cost was converting every value)."""
    convert = _converters(model, tuple(cols))
    out = []
    for r in rows:
        values = [r[c] for c in cols]
        for i, fn in convert:
            if values[i] is not None:
                values[i] = fn(values[i])
        out.append(values)
    return out


@functools.lru_cache(maxsize=64)
def _converters(model: Any, cols: tuple[str, ...]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    table = model.__table__
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for i, c in enumerate(cols):
        kind = type(table.c[c].type).__name__
        if kind in ("UTCDateTime", "DateTime"):
            out.append((i, sqlite_datetime))
        elif kind == "Boolean":
            out.append((i, int))
        elif kind == "JSON":
            out.append((i, json.dumps))
    return tuple(out)


def sqlite_when(v: str | None) -> datetime | None:
    """A stored SQLite DATETIME back as aware UTC (what UTCDateTime gives the ORM)."""
    return datetime.fromisoformat(v).replace(tzinfo=UTC) if v else None


@functools.lru_cache(maxsize=4096)  # a batch repeats its `now` in five columns per row
def sqlite_datetime(v: datetime) -> str:
    """SQLAlchemy's SQLite storage format for DATETIME, in naive UTC."""
    return naive(v).isoformat(" ", "microseconds")  # type: ignore[union-attr]


def naive(v: datetime | None) -> datetime | None:
    """Core inserts bypass nothing: UTCDateTime converts too, but be explicit for executemany."""
    if v is None or v.tzinfo is None:
        return v
    return v.astimezone(UTC).replace(tzinfo=None)


def signed64(v: int | None) -> int | None:
    """Store a 64-bit simhash in a signed BIGINT."""
    if v is None:
        return None
    return v - (1 << 64) if v >= (1 << 63) else v


def unsigned64(v: int | None) -> int | None:
    if v is None:
        return None
    return v + (1 << 64) if v < 0 else v


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def pg_prefix(p: str) -> str:
    word = "".join(c for c in p if c.isalnum())
    return f"{word}:*" if word else ""


def ids_in(conn: Any, col: Any, ids: Sequence[int]) -> Any:
    """``col IN ids``; on PostgreSQL ``col = ANY(:ids)``, one array parameter: psycopg
    parses again, on every execution, a query too long for its cache (an IN list of
    500 placeholders, each with its cast), which was 70 ms of a 1,000-item reader page."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy import Integer, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return col == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return col.in_(list(ids))
