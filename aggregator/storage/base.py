"""What every part of the Store shares: the engine, its dialect, and the sessions,
connections and transactions, each of which translates database errors (the one
place that does, see ``storage.errors``). The engine, the Core connections and the
listing reads come from :class:`~aggregator.storage.light.EngineReads` (a read-only
command opens only those, `storage.light.open_reads`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from aggregator.storage import sql
from aggregator.storage.errors import translated
from aggregator.storage.light import EngineReads
from aggregator.storage.models import MatchRow, OutboxRow
from aggregator.storage.records import AlertDraft, MatchDraft
from aggregator.storage.sql import FtsDoc


class StoreBase(EngineReads):
    """One engine (SQLite or PostgreSQL); the query classes of the Store build on it."""

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session; any database error in the block becomes a StorageError."""
        with translated(self.where), Session(self.engine, expire_on_commit=False) as s:
            yield s

    def _insert(self, model: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(model)

    @property
    def checkpoints(self) -> bool:
        """Whether this store has a write-ahead log to checkpoint (a SQLite file)."""
        return self.dialect == "sqlite" and self.shares_threads

    @property
    def shares_threads(self) -> bool:
        """Whether another thread may write through this store (an in-memory SQLite
        database is one connection of one thread)."""
        return not (self.dialect == "sqlite" and self.engine.url.database in (None, "", ":memory:"))

    # ------------------------------------------------------------ shared writes

    def _alert_rows(self, conn: Any, aid: int | None, alerts: Sequence[AlertDraft]) -> None:
        """Outbox rows; a second alert for the same (event, channel) key is a no-op."""
        rows = [
            {
                "alert_id": a.alert_id,
                "channel": a.channel,
                "event": a.event,
                "topic": a.topic,
                "article_id": aid,
                "payload": a.payload,
                "status": "pending",
                "attempts": 0,
                "created_at": sql.naive(a.created_at or a.not_before),
                "not_before": sql.naive(a.not_before),
                "next_attempt_at": sql.naive(a.not_before),
            }
            for a in alerts
        ]
        if rows:
            conn.execute(self._insert(OutboxRow).on_conflict_do_nothing(), rows)

    def _fts_rows(self, conn: Any, docs: Sequence[FtsDoc], *, fresh: bool = False) -> None:
        """Keep the full-text index in step with the articles' current text (`fresh`:
        articles created in this transaction, which have no row to replace yet)."""
        params = [
            {"id": aid, "title": sql.search_text(title), "body": sql.search_text(body)}
            for aid, title, body in docs
        ]
        if not params:
            return
        if self.dialect == "sqlite":
            if not fresh:
                conn.execute(
                    text("DELETE FROM article_fts WHERE rowid = :id"),
                    [{"id": p["id"]} for p in params],
                )
            sql.cursor(conn).executemany(
                "INSERT INTO article_fts(rowid, title, body) VALUES (?, ?, ?)",
                [(p["id"], p["title"], p["body"]) for p in params],
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO article_fts(article_id, tsv) VALUES "
                    "(:id, to_tsvector('simple', :title || ' ' || :body)) "
                    "ON CONFLICT (article_id) DO UPDATE SET tsv = EXCLUDED.tsv"
                ),
                params,
            )

    def _index_fts(self, s: Session, aid: int, title: str | None, body: str | None) -> None:
        self._fts_rows(s.connection(), [(aid, title, body)])

    def _add_alerts(self, s: Session, aid: int | None, alerts: Sequence[AlertDraft]) -> None:
        self._alert_rows(s.connection(), aid, alerts)

    def _add_matches(
        self,
        s: Session,
        aid: int,
        version: int,
        matches: Sequence[MatchDraft],
        now: datetime | None,
    ) -> None:
        for m in matches:
            s.add(
                MatchRow(
                    article_id=aid,
                    version=version,
                    topic=m.topic,
                    terms=list(m.terms),
                    snippets=list(m.snippets),
                    explanation=m.explanation,
                    created_at=now,
                )
            )
