"""The engine, its connections, and the reads `feeds list` and `items list` make, in
SQLAlchemy Core: no ORM models, so a read-only command starts without loading them.

The ORM models (SQLModel: pydantic and ``sqlalchemy.orm`` behind every table class)
cost a command most of its start-up (issue 14, point 10), while these reads need a
few columns of four tables by name. :class:`LightStore` is the base of
:class:`~aggregator.storage.base.StoreBase`, so the full Store runs the very same
reads: there is one implementation of each, whichever way the database was opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Engine, column, func, select, table, text

from aggregator import types as t
from aggregator.exceptions import StorageError
from aggregator.storage import db, sql
from aggregator.storage.coltypes import UTCDateTime
from aggregator.storage.convert import article_of, feed_state_of
from aggregator.storage.errors import translated
from aggregator.storage.records import FeedState

_TIME = UTCDateTime()

#: The columns these reads use, by name (the tables themselves: storage.models).
FEED = table(
    "feed",
    *(column(c) for c in ("id", "name", "url", "title", "etag", "last_modified", "body_hash")),
    *(column(c) for c in ("identity_rule", "disabled_reason", "error_count", "health")),
    *(column(c) for c in ("avg_new_interval_s", "last_status", "last_error")),
    column("permanent_redirect"),
    *(column(c, _TIME) for c in ("next_due_at", "last_success_at", "last_new_at")),
    *(column(c, _TIME) for c in ("failing_since", "last_polled_at")),
    column("last_warnings", JSON()),
)
ARTICLE = table(
    "article",
    *(column(c) for c in ("id", "url", "title", "author", "published_source", "language")),
    *(column(c) for c in ("version_count", "extract_error", "retracted")),
    column("extracted", Boolean()),
    *(column(c, _TIME) for c in ("published", "first_seen_at", "last_checked_at")),
)
FEED_ENTRY = table("feed_entry", column("feed_id"), column("article_id"))
MATCH = table("match", column("article_id"), column("topic"))


class LightStore:
    """One engine (SQLite or PostgreSQL), its connections, and the listing reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.where = db.redact(engine.url.render_as_string(hide_password=False))

    @classmethod
    def open_current(cls, url: str) -> LightStore:
        """The database of `url` for reading only: neither created nor migrated; a new,
        behind or newer one is a SchemaError saying what to run (one query, no Alembic)."""
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
        try:
            with self.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except StorageError:
            return False

    # ------------------------------------------------------------ the listing reads

    def feed_states(self, names: Sequence[str] | None = None) -> dict[str, FeedState]:
        """Every feed's state, or those of `names` (a daemon polling 100 of 10,000
        feeds at a time must not load all 10,000 each time)."""
        with self.connect() as conn:
            if names is None:
                return {r.name: feed_state_of(r) for r in conn.execute(select(FEED))}
            out: dict[str, FeedState] = {}
            for chunk in sql.chunks(list(names)):
                q = select(FEED).where(FEED.c.name.in_(chunk))
                out.update({r.name: feed_state_of(r) for r in conn.execute(q)})
            return out

    def feed_article_counts(self) -> dict[int, int]:
        with self.connect() as conn:
            q = select(FEED_ENTRY.c.feed_id, func.count()).group_by(FEED_ENTRY.c.feed_id)
            return {fid: n for fid, n in conn.execute(q)}

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
        a = ARTICLE.c
        q = select(ARTICLE)
        if feed:
            carried = select(FEED_ENTRY.c.article_id).join(FEED, FEED.c.id == FEED_ENTRY.c.feed_id)
            q = q.where(a.id.in_(carried.where(FEED.c.name == feed)))
        if topic:
            q = q.where(a.id.in_(select(MATCH.c.article_id).where(MATCH.c.topic == topic)))
        if since:
            q = q.where(a.first_seen_at >= since)
        if published_since:
            q = q.where(a.published >= published_since)
        if ids is not None:
            q = q.where(a.id.in_(list(ids)))
        q = q.order_by(a.first_seen_at.desc(), a.id.desc()).limit(limit)
        with self.connect() as conn:
            rows = list(conn.execute(q))
            feeds = self.feeds_of(conn, [r.id for r in rows])
        return [article_of(r, feeds.get(r.id, ())) for r in rows]

    def feeds_of(self, conn: Any, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The names of the feeds carrying each article (sorted, each once)."""
        out: dict[int, list[str]] = {}
        for chunk in sql.chunks(ids):
            q = (
                select(FEED_ENTRY.c.article_id, FEED.c.name)
                .join(FEED, FEED.c.id == FEED_ENTRY.c.feed_id)
                .where(FEED_ENTRY.c.article_id.in_(chunk))
                .order_by(FEED.c.name)
            )
            for aid, name in conn.execute(q):
                if name not in out.setdefault(aid, []):
                    out[aid].append(name)
        return {k: tuple(v) for k, v in out.items()}
