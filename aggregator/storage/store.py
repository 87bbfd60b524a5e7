"""Queries. The only module that touches rows; everything returned is a record.

Every method is one short transaction. Writes that must be atomic together (an
article, its version, its feed link, its matches and the alerts they cause) go
through one call, so the outbox is transactional.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, or_, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, col, select

from aggregator import types as t
from aggregator.exceptions import NotFoundError, StorageError
from aggregator.storage import db
from aggregator.storage.models import (
    ArticleRow,
    ChangeRow,
    FeedEntryRow,
    FeedRow,
    MatchRow,
    OutboxRow,
    SiteBoilerplateRow,
    VersionRow,
)
from aggregator.storage.records import (
    AlertDraft,
    ArticleDraft,
    CheckTarget,
    FeedState,
    IngestBatch,
    KnownEntry,
    MatchDraft,
)

log = logging.getLogger(__name__)

AlertFactory = Callable[[int, ArticleDraft, Sequence[MatchDraft]], Sequence[AlertDraft]]
_CHUNK = 500


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


class Store:
    """Repository over one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        engine = db.make_engine(url)
        if migrate:
            db.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def ping(self) -> bool:
        """True when the database answers (for /readyz)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def _insert(self, model: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(model)

    # ------------------------------------------------------------------ feeds

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: datetime) -> None:
        """Make a row for every configured feed; follow URL edits in feeds.yaml.

        ON CONFLICT: several daemons starting together on PostgreSQL race here.
        """
        wanted = dict(feeds)
        with self.session() as s:
            rows = {r.name: r for r in s.exec(select(FeedRow))}
            for name, url in wanted.items():
                row = rows.get(name)
                if row is None:
                    s.exec(
                        self._insert(FeedRow)
                        .values(
                            name=name,
                            url=url,
                            created_at=_naive(now),
                            next_due_at=_naive(now),
                            error_count=0,
                        )
                        .on_conflict_do_nothing()
                    )
                elif row.url != url:
                    _reset_url(row, url)
                    s.add(row)
            s.commit()

    def feed_state(self, name: str) -> FeedState:
        with self.session() as s:
            row = s.exec(select(FeedRow).where(FeedRow.name == name)).first()
            if row is None:
                raise NotFoundError(f"no feed named {name!r}", hint="see `aggregator feeds list`")
            return _feed_state(row)

    def feed_states(self, names: Sequence[str] | None = None) -> dict[str, FeedState]:
        """Every feed's state, or those of `names` (a daemon polling 100 of 10,000
        feeds at a time must not load all 10,000 each time)."""
        with self.session() as s:
            if names is None:
                return {r.name: _feed_state(r) for r in s.exec(select(FeedRow))}
            out: dict[str, FeedState] = {}
            for chunk in _chunks(list(names)):
                q = select(FeedRow).where(col(FeedRow.name).in_(chunk))
                out.update({r.name: _feed_state(r) for r in s.exec(q)})
            return out

    def feed_article_counts(self) -> dict[int, int]:
        with self.session() as s:
            q = select(FeedEntryRow.feed_id, func.count()).group_by(col(FeedEntryRow.feed_id))
            return {fid: n for fid, n in s.exec(q)}

    def update_feed(self, feed_id: int, **values: Any) -> None:
        """Set fetch-state columns (etag, errors, next_due_at ...) on one feed."""
        with self.session() as s:
            s.exec(update(FeedRow).where(col(FeedRow.id) == feed_id).values(**values))
            s.commit()

    def update_feeds(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Many feeds' state in one transaction; rows with the same columns in one executemany."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for feed_id, values in updates:
            cols = tuple(sorted(values))
            groups.setdefault(cols, []).append({"_fid": feed_id, **values})
        table = FeedRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            for cols, rows in groups.items():
                stmt = (
                    update(table)
                    .where(table.c.id == bindparam("_fid"))
                    .values({c: bindparam(c) for c in cols})
                )
                conn.execute(stmt, rows)

    def clear_disabled(self, name: str) -> None:
        """`feeds enable` after a 410: the user says the feed is back."""
        with self.session() as s:
            s.exec(
                update(FeedRow)
                .where(col(FeedRow.name) == name)
                .values(disabled_reason=None, error_count=0, failing_since=None)
            )
            s.commit()

    def claim_due_feeds(
        self, names: Sequence[str], now: datetime, *, worker: str, lease_until: datetime, limit: int
    ) -> list[str]:
        """Lease due feeds to this worker (SKIP LOCKED on PostgreSQL)."""
        with self.session() as s:
            q = (
                select(FeedRow)
                .where(col(FeedRow.name).in_(names))
                .where(or_(col(FeedRow.next_due_at).is_(None), col(FeedRow.next_due_at) <= now))
                .where(col(FeedRow.disabled_reason).is_(None))
                .where(or_(col(FeedRow.lease_until).is_(None), col(FeedRow.lease_until) < now))
                .order_by(col(FeedRow.next_due_at))
                .limit(limit)
            )
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.exec(q))
            for r in rows:
                r.lease_owner, r.lease_until = worker, lease_until
                s.add(r)
            s.commit()
            return [r.name for r in rows]

    # ------------------------------------------------------------ entries

    def feed_entries(self, feed_id: int, keys: Sequence[str]) -> dict[str, KnownEntry]:
        """The feed's entries under `keys`, plus every entry it still lists (gone_at
        unset): all a poll compares against, in one query per chunk of keys."""
        fe = FeedEntryRow.__table__  # type: ignore[attr-defined]
        art = ArticleRow.__table__  # type: ignore[attr-defined]
        out: dict[str, KnownEntry] = {}
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                return self._sqlite_feed_entries(conn, feed_id, keys)
            cols = (
                fe.c.entry_key,
                fe.c.article_id,
                fe.c.fingerprint,
                fe.c.gone_at,
                fe.c.first_seen_at,
                art.c.published,
            )
            base = core_select(*cols).join(art, art.c.id == fe.c.article_id, isouter=True)
            # two index lookups, not one OR that reads every entry the feed ever had
            queries = [base.where(fe.c.feed_id == feed_id, fe.c.gone_at.is_(None))]
            queries += [
                base.where(fe.c.feed_id == feed_id, fe.c.entry_key.in_(chunk))
                for chunk in _chunks(list(keys))
            ]
            for q in queries:
                out.update(
                    {
                        k: KnownEntry(a, fp, gone is not None, pub or first)
                        for k, a, fp, gone, first, pub in conn.execute(q)
                    }
                )
        return out

    def articles_by_key(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        with self.engine.connect() as conn:
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
        try:
            with self.engine.begin() as conn:
                written = [self._ingest_one(conn, b, a) for b, a in batches]
                # full-text rows last, in one statement: SQLite's FTS5 writes its pending
                # terms out at the start of every later statement of the transaction
                # (a savepoint), so per feed they cost a segment each, and slowed every
                # other insert (23 µs per article, half of a cold poll's writes)
                self._fts_rows(conn, [doc for _, docs in written for doc in docs], fresh=True)
                return [ids for ids, _ in written]
        except OperationalError as e:
            raise StorageError(
                f"database write failed: {e.orig}",
                hint="is the database locked by another program?",
            ) from e

    def _ingest_one(
        self, conn: Any, batch: IngestBatch, alerts_for: AlertFactory | None
    ) -> tuple[list[int], list[FtsDoc]]:
        """One feed's rows, but for its full-text documents, returned to be indexed last."""
        ids, fresh = self._insert_articles(conn, batch)
        self._link_entries(conn, batch, ids)
        return ids, self._write_new(conn, batch, ids, fresh, alerts_for)

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
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except OperationalError as e:  # harmless: the next checkpoint copies these pages
            log.debug("checkpoint skipped: %s", e)

    @property
    def checkpoints(self) -> bool:
        """Whether this store has a write-ahead log to checkpoint (a SQLite file)."""
        return self.dialect == "sqlite" and self.shares_threads

    @property
    def shares_threads(self) -> bool:
        """Whether another thread may write through this store (an in-memory SQLite
        database is one connection of one thread)."""
        return not (self.dialect == "sqlite" and self.engine.url.database in (None, "", ":memory:"))

    def _insert_articles(self, conn: Any, batch: IngestBatch) -> tuple[list[int], set[int]]:
        """Insert drafts whose key is new; ON CONFLICT covers a concurrent worker."""
        if not batch.drafts:
            return [], set()
        keys = [d.key for d in batch.drafts]
        rows = [_article_values(d, batch.now) for d in batch.drafts]
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
        per = max(1, _SQLITE_MAX_VARS // len(cols))
        out: list[tuple[int, str]] = []
        cur = _cursor(conn)
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            values = ",".join([f"({_marks(len(cols))})"] * len(chunk))
            cur.execute(
                f"INSERT INTO article ({','.join(cols)}) VALUES {values} "
                "ON CONFLICT DO NOTHING RETURNING id, key",
                [v for row in _sqlite_rows(ArticleRow, cols, chunk) for v in row],
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
        sql = (
            f"INSERT INTO {model.__table__.name} ({','.join(cols)}) "
            f"VALUES ({_marks(len(cols))}) ON CONFLICT DO NOTHING"
        )
        _cursor(conn).executemany(sql, _sqlite_rows(model, cols, rows))

    def _sqlite_feed_entries(
        self, conn: Any, feed_id: int, keys: Sequence[str]
    ) -> dict[str, KnownEntry]:
        """feed_entries through the driver: this runs once per feed per poll, and
        SQLAlchemy's statement and row processing cost more than SQLite's work."""
        cur = _cursor(conn)
        out: dict[str, KnownEntry] = {}
        select_ = (
            "SELECT fe.entry_key, fe.article_id, fe.fingerprint, fe.gone_at, "
            "coalesce(a.published, fe.first_seen_at) FROM feed_entry fe "
            "LEFT OUTER JOIN article a ON a.id = fe.article_id WHERE fe.feed_id = ? "
        )
        # two index lookups (UNION ALL), not one OR that reads every entry the feed ever had
        for chunk in list(_chunks(list(keys))) or [[]]:
            marks = _marks(len(chunk)) or "NULL"
            cur.execute(
                f"{select_} AND fe.gone_at IS NULL UNION ALL "
                f"{select_} AND fe.entry_key IN ({marks})",
                [feed_id, feed_id, *chunk],
            )
            out.update(
                {
                    k: KnownEntry(a, fp, gone is not None, _sqlite_when(when))
                    for k, a, fp, gone, when in cur.fetchall()
                }
            )
        return out

    def _ids_for(self, conn: Any, keys: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.dialect == "sqlite":
            cur = _cursor(conn)
            for chunk in _chunks(list(keys)):
                cur.execute(
                    f"SELECT key, id FROM article WHERE key IN ({_marks(len(chunk))})", list(chunk)
                )
                out.update(cur.fetchall())
            return out
        table = ArticleRow.__table__  # type: ignore[attr-defined]
        for chunk in _chunks(list(keys)):
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
                "first_seen_at": _naive(now),
                "last_seen_at": _naive(now),
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
        for chunk in _chunks(list(keys)):
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
                    "fetched_at": _naive(batch.now),
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
                        "created_at": _naive(batch.now),
                    }
                    for aid, m in matches
                ],
            )
        if alerts_for:
            for i, aid, d in new:
                if batch.matches.get(i):
                    self._alert_rows(conn, aid, alerts_for(aid, d, batch.matches[i]))
        return [(aid, d.title, fts_body(d.summary, d.text)) for _, aid, d in new]

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
                "created_at": _naive(a.created_at or a.not_before),
                "not_before": _naive(a.not_before),
                "next_attempt_at": _naive(a.not_before),
            }
            for a in alerts
        ]
        if rows:
            conn.execute(self._insert(OutboxRow).on_conflict_do_nothing(), rows)

    def _fts_rows(self, conn: Any, docs: Sequence[FtsDoc], *, fresh: bool = False) -> None:
        """Keep the full-text index in step with the articles' current text (`fresh`:
        articles created in this transaction, which have no row to replace yet)."""
        params = [
            {"id": aid, "title": search_text(title), "body": search_text(body)}
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
            _cursor(conn).executemany(
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

    # Session-based variants used by change monitoring (storage/checks.py).

    def _index_fts(self, s: Session, aid: int, title: str | None, body: str | None) -> None:
        self._fts_rows(s.connection(), [(aid, title, body)])

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
                    created_at=now,
                )
            )

    def _add_alerts(self, s: Session, aid: int | None, alerts: Sequence[AlertDraft]) -> None:
        self._alert_rows(s.connection(), aid, alerts)

    def fts_candidates(self, prefixes: Sequence[str] | None, limit: int) -> list[int]:
        """Article ids whose text has any of the prefixes (newest first); all when None."""
        with self.session() as s:
            if not prefixes:
                q = select(ArticleRow.id).order_by(col(ArticleRow.id).desc()).limit(limit)
                return [i for i in s.exec(q) if i is not None]
            if self.dialect == "sqlite":
                match = " OR ".join(f'"{p.replace(chr(34), "")}"*' for p in prefixes)
                sql = (
                    "SELECT rowid FROM article_fts WHERE article_fts MATCH :m "
                    "ORDER BY rowid DESC LIMIT :n"
                )
                rows = s.exec(text(sql).bindparams(m=match, n=limit))  # type: ignore[call-overload]
            else:
                tsq = " | ".join(_pg_prefix(p) for p in prefixes if _pg_prefix(p))
                sql = (
                    "SELECT article_id FROM article_fts WHERE tsv @@ to_tsquery('simple', :q) "
                    "ORDER BY article_id DESC LIMIT :n"
                )
                rows = s.exec(text(sql).bindparams(q=tsq, n=limit))  # type: ignore[call-overload]
            return [r[0] for r in rows]

    def mark_changed_entries(self, feed_id: int, keys: Sequence[str], now: datetime) -> None:
        """A feed item whose title/summary/content changed: re-check its page at once."""
        with self.session() as s:
            for chunk in _chunks(keys):
                ids = select(FeedEntryRow.article_id).where(
                    FeedEntryRow.feed_id == feed_id, col(FeedEntryRow.entry_key).in_(chunk)
                )
                s.exec(
                    update(ArticleRow).where(col(ArticleRow.id).in_(ids)).values(next_check_at=now)
                )
            s.commit()

    # ------------------------------------------------------------ reading

    def list_articles(
        self,
        *,
        feed: str | None = None,
        since: datetime | None = None,
        topic: str | None = None,
        limit: int = 50,
        ids: Sequence[int] | None = None,
    ) -> list[t.Article]:
        with self.session() as s:
            q = select(ArticleRow)
            if feed:
                q = q.where(
                    col(ArticleRow.id).in_(
                        select(FeedEntryRow.article_id).join(FeedRow).where(FeedRow.name == feed)
                    )
                )
            if topic:
                q = q.where(
                    col(ArticleRow.id).in_(
                        select(MatchRow.article_id).where(MatchRow.topic == topic)
                    )
                )
            if since:
                q = q.where(col(ArticleRow.first_seen_at) >= since)
            if ids is not None:
                q = q.where(col(ArticleRow.id).in_(list(ids)))
            q = q.order_by(col(ArticleRow.first_seen_at).desc(), col(ArticleRow.id).desc())
            rows = list(s.exec(q.limit(limit)))
            feeds = self._feeds_of(s, [r.id for r in rows if r.id is not None])
            return [_article(r, feeds.get(r.id or 0, ())) for r in rows]

    def get_article(self, article_id: int) -> t.Article:
        with self.session() as s:
            row = s.get(ArticleRow, article_id)
            if row is None:
                raise NotFoundError(
                    f"no article with id {article_id}", hint="see `aggregator items list`"
                )
            feeds = self._feeds_of(s, [article_id]).get(article_id, ())
            matches = tuple(
                _match(m)
                for m in s.exec(
                    select(MatchRow)
                    .where(MatchRow.article_id == article_id)
                    .order_by(col(MatchRow.version), col(MatchRow.topic))
                )
            )
            return _article(row, feeds, full=True, matches=matches)

    def _feeds_of(self, s: Session, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for chunk in _chunks(ids):
            q = (
                select(FeedEntryRow.article_id, FeedRow.name)
                .join(FeedRow)
                .where(col(FeedEntryRow.article_id).in_(chunk))
                .order_by(col(FeedRow.name))
            )
            for aid, name in s.exec(q):
                if name not in out.setdefault(aid, []):
                    out[aid].append(name)
        return {k: tuple(v) for k, v in out.items()}

    def versions(self, article_id: int) -> list[t.Version]:
        with self.session() as s:
            q = (
                select(VersionRow)
                .where(VersionRow.article_id == article_id)
                .order_by(col(VersionRow.number))
            )
            return [_version(r) for r in s.exec(q)]

    def count_articles(self) -> int:
        with self.session() as s:
            return int(s.exec(select(func.count()).select_from(ArticleRow)).one())

    # ------------------------------------------------------------ outbox (reads)

    def list_alerts(self, status: str | None = None, limit: int = 100) -> list[t.Alert]:
        with self.session() as s:
            q = select(OutboxRow, ArticleRow.title).join(
                ArticleRow, col(ArticleRow.id) == col(OutboxRow.article_id), isouter=True
            )
            if status:
                q = q.where(OutboxRow.status == status)
            q = q.order_by(col(OutboxRow.id).desc()).limit(limit)
            return [_alert(r, title) for r, title in s.exec(q)]

    def outbox_payloads(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Queued alert events (JSON payloads), oldest first."""
        with self.session() as s:
            q = select(OutboxRow.payload)
            if status:
                q = q.where(OutboxRow.status == status)
            # dict(): SQLModel's select() types a dict column as Mapping
            return [dict(p) for p in s.exec(q.order_by(col(OutboxRow.id)).limit(limit))]


# ---------------------------------------------------------------- row → record


def _reset_url(row: FeedRow, url: str) -> None:
    row.url = url
    row.etag = row.last_modified = row.body_hash = None
    row.permanent_redirect = None


def _feed_state(r: FeedRow) -> FeedState:
    assert r.id is not None
    return FeedState(
        r.id,
        r.name,
        r.url,
        r.etag,
        r.last_modified,
        r.body_hash,
        r.identity_rule,
        r.disabled_reason,
        r.error_count,
        r.next_due_at,
        r.last_success_at,
        r.last_new_at,
        r.avg_new_interval_s,
        r.failing_since,
        r.health,
        r.last_status,
        r.last_error,
        r.last_polled_at,
        r.permanent_redirect,
        r.title,
    )


def _article_values(d: ArticleDraft, now: datetime | None) -> dict[str, Any]:
    """Column values of a new article row (Core insert: times as naive UTC)."""
    return {
        "key": d.key,
        "url": d.url,
        "site": d.site,
        "title": d.title,
        "author": d.author,
        "summary": d.summary,
        "text": d.text,
        "published": _naive(d.published),
        "updated": _naive(d.updated),
        "language": d.language,
        "extracted": d.extracted,
        "extract_error": d.extract_error,
        "content_hash": d.content_hash,
        "fingerprint": _signed64(d.fingerprint),
        "version_count": 1,
        "first_seen_at": _naive(now),
        "last_checked_at": _naive(now),
        "monitor": d.monitor,
        "watch": d.watch,
        "check_etag": d.check_etag,
        "check_last_modified": d.check_last_modified,
        "next_check_at": _naive(d.next_check_at) if d.monitor else None,
        "check_errors": 0,
        "retracted": None,
        "lease_owner": None,
        "lease_until": None,
    }


def _cursor(conn: Any) -> Any:
    """A driver cursor in `conn`'s transaction (SQLite hot paths skip SQLAlchemy)."""
    return conn.connection.dbapi_connection.cursor()


def _marks(n: int) -> str:
    """`n` positional placeholders: "?,?,?"."""
    return ",".join("?" * n)


#: SQLite's default limit on bound parameters per statement (3.32+).
_SQLITE_MAX_VARS = 32766


def _sqlite_rows(model: Any, cols: list[str], rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
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
            out.append((i, _sqlite_datetime))
        elif kind == "Boolean":
            out.append((i, int))
        elif kind == "JSON":
            out.append((i, json.dumps))
    return tuple(out)


def _sqlite_when(v: str | None) -> datetime | None:
    """A stored SQLite DATETIME back as aware UTC (what UTCDateTime gives the ORM)."""
    return datetime.fromisoformat(v).replace(tzinfo=UTC) if v else None


@functools.lru_cache(maxsize=4096)  # a batch repeats its `now` in five columns per row
def _sqlite_datetime(v: datetime) -> str:
    """SQLAlchemy's SQLite storage format for DATETIME, in naive UTC."""
    return _naive(v).isoformat(" ", "microseconds")  # type: ignore[union-attr]


def _naive(v: datetime | None) -> datetime | None:
    """Core inserts bypass nothing: UTCDateTime converts too, but be explicit for executemany."""
    if v is None or v.tzinfo is None:
        return v
    return v.astimezone(UTC).replace(tzinfo=None)


def _signed64(v: int | None) -> int | None:
    """Store a 64-bit simhash in a signed BIGINT."""
    if v is None:
        return None
    return v - (1 << 64) if v >= (1 << 63) else v


def unsigned64(v: int | None) -> int | None:
    if v is None:
        return None
    return v + (1 << 64) if v < 0 else v


def _article(
    r: ArticleRow, feeds: tuple[str, ...], *, full: bool = False, matches: tuple[t.Match, ...] = ()
) -> t.Article:
    assert r.id is not None and r.first_seen_at is not None
    return t.Article(
        id=r.id,
        url=r.url,
        title=r.title,
        feeds=feeds,
        published=r.published,
        language=r.language,
        extracted=r.extracted,
        versions=r.version_count,
        first_seen_at=r.first_seen_at,
        author=r.author,
        summary=r.summary if full else None,
        text=r.text if full else None,
        extract_error=r.extract_error,
        last_checked_at=r.last_checked_at,
        retracted=r.retracted,
        matches=matches,
    )


def _match(m: MatchRow) -> t.Match:
    assert m.created_at is not None
    snippets = tuple(
        t.Snippet(s.get("text", ""), tuple(tuple(h) for h in s.get("highlights", ())))
        for s in m.snippets
    )
    return t.Match(m.topic, m.article_id, m.version, tuple(m.terms), snippets, m.created_at)


def _version(r: VersionRow) -> t.Version:
    assert r.fetched_at is not None
    return t.Version(
        r.article_id,
        r.number,
        r.title,
        r.text,
        r.content_hash,
        r.extractor_version,
        r.fetched_at,
        r.kind,
        r.revert_of,
    )


def _alert(r: OutboxRow, title: str | None) -> t.Alert:
    assert r.id is not None and r.created_at is not None
    return t.Alert(
        r.id,
        r.alert_id,
        r.channel,
        r.event,
        r.topic,
        r.article_id,
        r.status,
        r.attempts,
        r.created_at,
        r.next_attempt_at,
        r.sent_at,
        r.last_error,
        title,
    )


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _pg_prefix(p: str) -> str:
    word = "".join(c for c in p if c.isalnum())
    return f"{word}:*" if word else ""


__all__ = [
    "ChangeRow",
    "CheckTarget",
    "SiteBoilerplateRow",
    "Store",
    "and_",
    "search_text",
    "unsigned64",
]
