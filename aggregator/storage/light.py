"""The reads `feeds list` and `items list` make, in plain SQL, and the two ways to run
them: over an engine (the Store's base, and a read-only PostgreSQL database), or over
Python's own sqlite3 for a read-only SQLite file, without loading SQLAlchemy at all.

A read-only command spent most of its start-up importing libraries it did not need
(issue 14, point 10): the ORM models (SQLModel: pydantic and ``sqlalchemy.orm``), then
SQLAlchemy itself, while these reads need a few columns of four tables. The SQL and
the conversion of what comes back (times as aware UTC, JSON, booleans) live once, in
:class:`ListingReads`; :class:`EngineReads` is the base of
:class:`~aggregator.storage.base.StoreBase`, so the Store runs the very same reads.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aggregator import types as t
from aggregator.exceptions import StorageError
from aggregator.storage import schema, sql
from aggregator.storage.convert import article_of, feed_state_of
from aggregator.storage.errors import translated
from aggregator.storage.records import FeedState
from aggregator.urls import redact_url

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: The columns read, by table; "time" ones come back aware UTC, "json" ones decoded,
#: "bool" ones as booleans, whatever the driver gave (the tables: storage.models).
FEED_COLUMNS: dict[str, str | None] = {
    **dict.fromkeys(("id", "name", "url", "title", "etag", "last_modified", "body_hash")),
    **dict.fromkeys(("identity_rule", "disabled_reason", "error_count", "health")),
    **dict.fromkeys(("avg_new_interval_s", "last_status", "last_error", "permanent_redirect")),
    **dict.fromkeys(("next_due_at", "last_success_at", "last_new_at"), "time"),
    **dict.fromkeys(("failing_since", "last_polled_at"), "time"),
    "last_warnings": "json",
}
ARTICLE_COLUMNS: dict[str, str | None] = {
    **dict.fromkeys(("id", "url", "title", "author", "published_source", "language")),
    **dict.fromkeys(("version_count", "extract_error", "retracted")),
    "extracted": "bool",
    **dict.fromkeys(("published", "first_seen_at", "last_checked_at"), "time"),
}


def _when(v: Any) -> datetime | None:
    """A stored time as aware UTC: SQLite gives text, PostgreSQL a naive datetime."""
    if v is None:
        return None
    when = datetime.fromisoformat(v) if isinstance(v, str) else v
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_DECODE: dict[str | None, Any] = {
    None: lambda v: v,
    "time": _when,
    "json": lambda v: json.loads(v) if isinstance(v, str) else v,
    "bool": lambda v: None if v is None else bool(v),
}


def _record(columns: dict[str, str | None], values: Sequence[Any]) -> SimpleNamespace:
    """One row by column name, each value as the ORM would have given it."""
    return SimpleNamespace(
        **{c: _DECODE[kind](v) for (c, kind), v in zip(columns.items(), values, strict=True)}
    )


def _in(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """`(:name0, :name1 ...)`, the values added to `params`."""
    params.update({f"{name}{i}": v for i, v in enumerate(values)})
    return "(" + ", ".join(f":{name}{i}" for i in range(len(values))) + ")"


class ListingReads:
    """The listing reads as SQL text with :named parameters, over `_fetch`."""

    dialect: str

    def _fetch(self, statement: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _time(self, v: datetime) -> Any:
        """A time parameter as stored: naive UTC (on SQLite, SQLAlchemy's text form)."""
        return sql.sqlite_datetime(v) if self.dialect == "sqlite" else sql.naive(v)

    def feed_states(self, names: Sequence[str] | None = None) -> dict[str, FeedState]:
        """Every feed's state, or those of `names` (a daemon polling 100 of 10,000
        feeds at a time must not load all 10,000 each time)."""
        select = f"SELECT {', '.join(FEED_COLUMNS)} FROM feed"
        chunks = [None] if names is None else sql.chunks(list(names))
        out: dict[str, FeedState] = {}
        for chunk in chunks:
            params: dict[str, Any] = {}
            where = "" if chunk is None else f" WHERE name IN {_in('n', chunk, params)}"
            for row in self._fetch(select + where, params):
                state = feed_state_of(_record(FEED_COLUMNS, row))
                out[state.name] = state
        return out

    def feed_article_counts(self) -> dict[int, int]:
        rows = self._fetch("SELECT feed_id, count(*) FROM feed_entry GROUP BY feed_id", {})
        return {fid: n for fid, n in rows}

    def list_articles(
        self,
        *,
        feed: str | None = None,
        since: datetime | None = None,
        topic: str | None = None,
        limit: int = 50,
        ids: Sequence[int] | None = None,
        published_since: datetime | None = None,
    ) -> list[t.Article]:
        """Stored articles, newest first seen first, each with the names of its feeds."""
        where: list[str] = ["1 = 1"]
        params: dict[str, Any] = {"limit": limit}
        if feed:
            where.append(
                "id IN (SELECT fe.article_id FROM feed_entry fe JOIN feed f ON f.id = fe.feed_id"
                " WHERE f.name = :feed)"
            )
            params["feed"] = feed
        if topic:
            where.append('id IN (SELECT article_id FROM "match" WHERE topic = :topic)')
            params["topic"] = topic
        if since:
            where.append("first_seen_at >= :since")
            params["since"] = self._time(since)
        if published_since:
            where.append("published >= :published_since")
            params["published_since"] = self._time(published_since)
        if ids is not None:
            where.append(f"id IN {_in('i', list(ids), params)}" if ids else "1 = 0")
        rows = [
            _record(ARTICLE_COLUMNS, row)
            for row in self._fetch(
                f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM article WHERE {' AND '.join(where)}"
                " ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
                params,
            )
        ]
        feeds = self.feeds_of([r.id for r in rows])
        return [article_of(r, feeds.get(r.id, ())) for r in rows]

    def feeds_of(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The names of the feeds carrying each article (sorted, each once)."""
        out: dict[int, list[str]] = {}
        for chunk in sql.chunks(ids):
            params: dict[str, Any] = {}
            rows = self._fetch(
                "SELECT fe.article_id, f.name FROM feed_entry fe JOIN feed f ON f.id = fe.feed_id"
                f" WHERE fe.article_id IN {_in('a', chunk, params)} ORDER BY f.name",
                params,
            )
            for aid, name in rows:
                if name not in out.setdefault(aid, []):
                    out[aid].append(name)
        return {k: tuple(v) for k, v in out.items()}


class EngineReads(ListingReads):
    """One SQLAlchemy engine (SQLite or PostgreSQL), its connections, the listing reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.where = redact_url(engine.url.render_as_string(hide_password=False))

    @classmethod
    def open_current(cls, url: str) -> EngineReads:
        """The database of `url` for reading only: neither created nor migrated; a new,
        behind or newer one is a SchemaError saying what to run (one query, no Alembic)."""
        from aggregator.storage import db

        engine = db.make_engine(url, create=False)
        try:
            db.require_current(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection (no transaction of its own), errors translated."""
        with translated(self.where), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction, committed at the end of the block, errors translated."""
        with translated(self.where), self.engine.begin() as conn:
            yield conn

    def ping(self) -> bool:
        """True when the database answers (for /readyz)."""
        from sqlalchemy import text

        try:
            with self.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except StorageError:
            return False

    def _fetch(self, statement: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        from sqlalchemy import text

        with self.connect() as conn:
            return [tuple(r) for r in conn.execute(text(statement), params)]


class SqliteReads(ListingReads):
    """A SQLite file opened with Python's sqlite3 for the listing reads alone: what a
    read-only command opens, so it loads neither SQLAlchemy nor the models."""

    dialect = "sqlite"

    def __init__(self, path: Path, timeout: float, where: str) -> None:
        self.path, self.where = path, where
        with translated(where):
            self._conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
            schema.sqlite_pragmas(self._conn, busy_ms=int(timeout * 1000), wal=False)

    @classmethod
    def open_current(cls, url: str) -> SqliteReads | None:
        """The SQLite file of a plain `sqlite:///PATH[?timeout=N]` URL, checked as
        `EngineReads.open_current` checks it; None for any other URL (PostgreSQL, in
        memory, URI file names), which goes through SQLAlchemy."""
        prefix = "sqlite:///"
        rest, _, query = url.partition("?")
        path = rest[len(prefix) :]
        params = parse_qs(query, keep_blank_values=True)
        if (
            not rest.startswith(prefix)
            or not path
            or path == ":memory:"
            or path.startswith("file:")
            or "%" in url
            or set(params) - {"timeout"}
        ):
            return None
        where = redact_url(rest)
        schema.require_existing(Path(path), where)
        busy = params.get("timeout")
        timeout = float(busy[-1]) if busy else schema.DEFAULT_BUSY_TIMEOUT
        reads = cls(Path(path), timeout, where)
        try:
            try:
                stored = [r[0] for r in reads._fetch("SELECT version_num FROM alembic_version", {})]
            except StorageError:  # no alembic_version table: no schema at all
                stored = []
            schema.require_revisions(map(str, stored), where)
        except BaseException:
            reads.close()
            raise
        return reads

    def close(self) -> None:
        self._conn.close()

    def _fetch(self, statement: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        with translated(self.where):
            return list(self._conn.execute(statement, params))


def open_reads(url: str) -> ListingReads:
    """The listing reads of the database at `url`, for a read-only command: neither
    created nor migrated (a new, behind or newer one is a SchemaError saying what to
    run); a SQLite file without SQLAlchemy, anything else through an engine."""
    return SqliteReads.open_current(url) or EngineReads.open_current(url)
