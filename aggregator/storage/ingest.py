"""The ingest writes: what a poll compares against, and one poll's (or a group's)
articles, versions, feed links, matches, alerts and full-text rows in one transaction.

This is the benchmarks' hot path (see benchmarks/hotspots.md): bulk statements, and
on SQLite straight through the driver cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col, select

from aggregator.exceptions import StorageError
from aggregator.storage import sql
from aggregator.storage.base import StoreBase
from aggregator.storage.convert import article_values
from aggregator.storage.models import ArticleRow, ChangeRow, FeedEntryRow, MatchRow, VersionRow
from aggregator.storage.records import (
    AlertDraft,
    ArticleDraft,
    IngestBatch,
    KnownEntry,
    MatchDraft,
    PollReads,
    Retraction,
)
from aggregator.storage.sql import FtsDoc

log = logging.getLogger(__name__)

AlertFactory = Callable[[int, ArticleDraft, Sequence[MatchDraft]], Sequence[AlertDraft]]


class IngestWrites(StoreBase):
    """Ingest reads and writes (part of :class:`~aggregator.storage.store.Store`)."""

    def poll_reads(self, feed_id: int, listed: Sequence[tuple[str, str]]) -> PollReads:
        """Everything a poll compares against, on one connection: the feed's entries
        (see feed_entries) for the (entry key, article key) pairs it lists, and the
        stored article of each article key whose entry is new to the feed (another
        feed's copy of the story)."""
        with self.connect() as conn:
            entries = self._feed_entries(conn, feed_id, [k for k, _ in listed])
            new = [a for k, a in listed if k not in entries]
            return PollReads(entries, self._ids_for(conn, new) if new else {})

    def feed_entries(self, feed_id: int, keys: Sequence[str]) -> dict[str, KnownEntry]:
        """The feed's entries under `keys`, plus every entry it still lists (gone_at
        unset): all a poll compares against, in one query per chunk of keys."""
        with self.connect() as conn:
            return self._feed_entries(conn, feed_id, keys)

    def _feed_entries(self, conn: Any, feed_id: int, keys: Sequence[str]) -> dict[str, KnownEntry]:
        fe = FeedEntryRow.__table__  # type: ignore[attr-defined]
        art = ArticleRow.__table__  # type: ignore[attr-defined]
        out: dict[str, KnownEntry] = {}
        if self.dialect == "sqlite":
            return self._sqlite_feed_entries(conn, feed_id, keys)
        cols = (
            fe.c.entry_key,
            fe.c.article_id,
            fe.c.fingerprint,
            fe.c.gone_at,
            fe.c.first_seen_at,
            art.c.published,
            art.c.title,
        )
        base = core_select(*cols).join(art, art.c.id == fe.c.article_id, isouter=True)
        # two index lookups, not one OR that reads every entry the feed ever had
        queries = [base.where(fe.c.feed_id == feed_id, fe.c.gone_at.is_(None))]
        queries += [
            base.where(fe.c.feed_id == feed_id, fe.c.entry_key.in_(chunk))
            for chunk in sql.chunks(list(keys))
        ]
        for q in queries:
            out.update(
                {
                    k: KnownEntry(a, fp, gone is not None, pub or first, title)
                    for k, a, fp, gone, first, pub, title in conn.execute(q)
                }
            )
        return out

    def articles_by_key(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        with self.connect() as conn:
            return self._ids_for(conn, keys)

    def ingest(self, batch: IngestBatch, alerts_for: AlertFactory | None = None) -> list[int]:
        """Write one poll's articles, links, matches and alerts atomically.

        Bulk statements (one per table), not one ORM round trip per row: a cold
        poll of a thousand feeds writes tens of thousands of rows. Returns the
        article id of each draft (an existing id when another feed stored the
        same story meanwhile).
        """
        return self.ingest_many([(batch, alerts_for)])[0]

    def ingest_many(
        self, batches: Sequence[tuple[IngestBatch, AlertFactory | None]]
    ) -> list[list[int]]:
        """Several feeds' batches in one transaction (group commit): a commit, and the
        full-text index's segment flush with it, costs more than a feed's rows."""
        with self.begin() as conn:
            written = [self._ingest_one(conn, b, a) for b, a in batches]
            # full-text rows last, in one statement: SQLite's FTS5 writes its pending
            # terms out at the start of every later statement of the transaction
            # (a savepoint), so per feed they cost a segment each, and slowed every
            # other insert (23 µs per article, half of a cold poll's writes)
            self._fts_rows(conn, [doc for _, docs in written for doc in docs], fresh=True)
            return [ids for ids, _ in written]

    def _ingest_one(
        self, conn: Any, batch: IngestBatch, alerts_for: AlertFactory | None
    ) -> tuple[list[int], list[FtsDoc]]:
        """One feed's rows, but for its full-text documents, returned to be indexed last."""
        ids, fresh = self._insert_articles(conn, batch)
        self._link_entries(conn, batch, ids)
        docs = self._write_new(conn, batch, ids, fresh, alerts_for)
        if batch.recheck:
            self._recheck_now(conn, batch.recheck, batch.now)
        for r in batch.retractions:
            self._retract(conn, r, batch.now)
        return ids, docs

    def checkpoint(self) -> None:
        """Copy committed write-ahead-log pages into the SQLite database file, beside the
        writers rather than inside one of their commits (no-op on PostgreSQL).

        PASSIVE: it takes no lock a writer needs, and gives up on pages a reader still
        uses. Each commit would otherwise checkpoint the log itself once it passes 1,000
        pages, and wait there for its fsyncs (4-5% of a cold poll's wall time).
        """
        if not self.checkpoints:
            return
        try:
            with self.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except StorageError as e:  # harmless: the next checkpoint copies these pages
            log.debug("checkpoint skipped: %s", e)

    def _insert_articles(self, conn: Any, batch: IngestBatch) -> tuple[list[int], set[int]]:
        """Insert drafts whose key is new; ON CONFLICT covers a concurrent worker."""
        if not batch.drafts:
            return [], set()
        keys = [d.key for d in batch.drafts]
        rows = [article_values(d, batch.now) for d in batch.drafts]
        # RETURNING yields only the rows this transaction really inserted; a key stored
        # meanwhile (another feed, another worker) is looked up instead
        created = {key: aid for aid, key in self._insert_returning(conn, rows)}
        lost = [k for k in keys if k not in created]
        ids = {**self._ids_for(conn, lost), **created} if lost else created
        return [ids[k] for k in keys], set(created.values())

    def _insert_returning(self, conn: Any, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """New article rows; (id, key) of those really inserted (ON CONFLICT DO NOTHING)."""
        if self.dialect != "sqlite":
            table = ArticleRow.__table__  # type: ignore[attr-defined]
            stmt = (
                self._insert(ArticleRow).on_conflict_do_nothing().returning(table.c.id, table.c.key)
            )
            return [(aid, key) for aid, key in conn.execute(stmt, rows)]
        cols = list(rows[0])
        per = max(1, sql.SQLITE_MAX_VARS // len(cols))
        out: list[tuple[int, str]] = []
        cur = sql.cursor(conn)
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            values = ",".join([f"({sql.marks(len(cols))})"] * len(chunk))
            cur.execute(
                f"INSERT INTO article ({','.join(cols)}) VALUES {values} "
                "ON CONFLICT DO NOTHING RETURNING id, key",
                [v for row in sql.sqlite_rows(ArticleRow, cols, chunk) for v in row],
            )
            out += cur.fetchall()
        return out

    def _bulk(self, conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
        """Insert rows, skipping those that conflict. On SQLite straight through the
        driver: SQLAlchemy's per-value processing was a third of a cold poll's writes."""
        if self.dialect != "sqlite":
            conn.execute(self._insert(model).on_conflict_do_nothing(), rows)
            return
        cols = list(rows[0])
        stmt = (
            f"INSERT INTO {model.__table__.name} ({','.join(cols)}) "
            f"VALUES ({sql.marks(len(cols))}) ON CONFLICT DO NOTHING"
        )
        sql.cursor(conn).executemany(stmt, sql.sqlite_rows(model, cols, rows))

    def _sqlite_feed_entries(
        self, conn: Any, feed_id: int, keys: Sequence[str]
    ) -> dict[str, KnownEntry]:
        """feed_entries through the driver: this runs once per feed per poll, and
        SQLAlchemy's statement and row processing cost more than SQLite's work."""
        cur = sql.cursor(conn)
        out: dict[str, KnownEntry] = {}
        select_ = (
            "SELECT fe.entry_key, fe.article_id, fe.fingerprint, fe.gone_at, "
            "coalesce(a.published, fe.first_seen_at), a.title FROM feed_entry fe "
            "LEFT OUTER JOIN article a ON a.id = fe.article_id WHERE fe.feed_id = ? "
        )
        # two index lookups (UNION ALL), not one OR that reads every entry the feed ever had
        for chunk in list(sql.chunks(list(keys))) or [[]]:
            marks = sql.marks(len(chunk)) or "NULL"
            cur.execute(
                f"{select_} AND fe.gone_at IS NULL UNION ALL "
                f"{select_} AND fe.entry_key IN ({marks})",
                [feed_id, feed_id, *chunk],
            )
            out.update(
                {
                    k: KnownEntry(a, fp, gone is not None, sql.sqlite_when(when), title)
                    for k, a, fp, gone, when, title in cur.fetchall()
                }
            )
        return out

    def _ids_for(self, conn: Any, keys: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.dialect == "sqlite":
            cur = sql.cursor(conn)
            for chunk in sql.chunks(list(keys)):
                cur.execute(
                    f"SELECT key, id FROM article WHERE key IN ({sql.marks(len(chunk))})",
                    list(chunk),
                )
                out.update(cur.fetchall())
            return out
        table = ArticleRow.__table__  # type: ignore[attr-defined]
        for chunk in sql.chunks(list(keys)):
            q = select(table.c.key, table.c.id).where(table.c.key.in_(chunk))
            out.update({k: i for k, i in conn.execute(q)})
        return out

    def _link_entries(self, conn: Any, batch: IngestBatch, ids: Sequence[int]) -> None:
        now = batch.now
        rows = [
            {
                "feed_id": batch.feed_id,
                "entry_key": link.entry_key,
                "article_id": link.article_id
                if link.article_id is not None
                else ids[link.draft_index or 0],
                "fingerprint": link.fingerprint,
                "first_seen_at": sql.naive(now),
                "last_seen_at": sql.naive(now),
                "gone_at": None,
            }
            for link in batch.links
        ]
        if rows:
            self._bulk(conn, FeedEntryRow, rows)
        for key, fp in batch.touched:
            conn.execute(
                update(FeedEntryRow)
                .where(
                    col(FeedEntryRow.feed_id) == batch.feed_id, col(FeedEntryRow.entry_key) == key
                )
                .values(fingerprint=fp, last_seen_at=now)
            )
        self._set_gone(conn, batch.feed_id, batch.seen_keys, None)
        self._set_gone(conn, batch.feed_id, batch.gone_keys, now)

    def _set_gone(
        self, conn: Any, feed_id: int, keys: Sequence[str], when: datetime | None
    ) -> None:
        for chunk in sql.chunks(list(keys)):
            conn.execute(
                update(FeedEntryRow)
                .where(col(FeedEntryRow.feed_id) == feed_id, col(FeedEntryRow.entry_key).in_(chunk))
                .values(gone_at=when)
            )

    def _write_new(
        self,
        conn: Any,
        batch: IngestBatch,
        ids: Sequence[int],
        fresh: set[int],
        alerts_for: AlertFactory | None,
    ) -> list[FtsDoc]:
        """Version 1, matches and alerts of the articles just created; their full-text
        documents are returned, for the caller to index."""
        new = [(i, ids[i], d) for i, d in enumerate(batch.drafts) if ids[i] in fresh]
        if not new:
            return []
        self._bulk(
            conn,
            VersionRow,
            [
                {
                    "article_id": aid,
                    "number": 1,
                    "title": d.title,
                    "text": d.text,
                    "content_hash": d.content_hash,
                    "comparable_hash": d.comparable_hash or None,
                    "extractor_version": d.extractor_version,
                    "fetched_at": sql.naive(batch.now),
                    "kind": "initial",
                    "revert_of": None,
                }
                for _, aid, d in new
            ],
        )
        matches = [(aid, m) for i, aid, _ in new for m in batch.matches.get(i, ())]
        if matches:
            conn.execute(
                MatchRow.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "article_id": aid,
                        "version": 1,
                        "topic": m.topic,
                        "terms": list(m.terms),
                        "snippets": list(m.snippets),
                        "explanation": m.explanation,
                        "created_at": sql.naive(batch.now),
                    }
                    for aid, m in matches
                ],
            )
        if alerts_for:
            for i, aid, d in new:
                if batch.matches.get(i):
                    self._alert_rows(conn, aid, alerts_for(aid, d, batch.matches[i]))
        return [(aid, d.title, sql.fts_body(d.summary, d.text)) for _, aid, d in new]

    def _recheck_now(self, conn: Any, ids: Sequence[int], now: datetime | None) -> None:
        """A feed item whose title/summary/content changed: re-check its page at once."""
        art = ArticleRow.__table__  # type: ignore[attr-defined]
        for chunk in sql.chunks(list(ids)):
            conn.execute(update(art).where(art.c.id.in_(chunk)).values(next_check_at=now))

    def _retract(self, conn: Any, r: Retraction, now: datetime | None) -> None:
        """Mark an article possibly retracted, with a change row the first time only."""
        art = ArticleRow.__table__  # type: ignore[attr-defined]
        row = conn.execute(
            core_select(art.c.retracted, art.c.version_count).where(art.c.id == r.article_id)
        ).first()
        if row is None:
            return
        conn.execute(
            update(art)
            .where(art.c.id == r.article_id)
            .values(
                retracted=r.reason,
                last_checked_at=now,
                next_check_at=r.next_check_at,
                lease_owner=None,
                lease_until=None,
            )
        )
        if row.retracted is None:
            conn.execute(
                ChangeRow.__table__.insert(),  # type: ignore[attr-defined]
                {
                    "article_id": r.article_id,
                    "from_version": row.version_count,
                    "to_version": row.version_count,
                    "kind": "retraction",
                    "summary": r.summary,
                    "topics": {},
                    "created_at": now,
                },
            )
