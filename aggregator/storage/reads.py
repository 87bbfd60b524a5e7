"""Reads for the CLI, the web app and the library: articles, versions, alerts, and
the full-text candidates topic tests start from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from aggregator import types as t
from aggregator.exceptions import NotFoundError
from aggregator.storage import sql
from aggregator.storage.base import StoreBase
from aggregator.storage.convert import alert_of, article_of, match_of, version_of
from aggregator.storage.models import (
    ArticleRow,
    MatchRow,
    OutboxRow,
    VersionRow,
)


class ReadQueries(StoreBase):
    """Read models (part of :class:`~aggregator.storage.store.Store`)."""

    def fts_candidates(self, prefixes: Sequence[str] | None, limit: int) -> list[int]:
        """Article ids whose text has any of the prefixes (newest first); all when None."""
        with self.session() as s:
            if not prefixes:
                q = select(ArticleRow.id).order_by(col(ArticleRow.id).desc()).limit(limit)
                return [i for i in s.exec(q) if i is not None]
            if self.dialect == "sqlite":
                match = " OR ".join(f'"{p.replace(chr(34), "")}"*' for p in prefixes)
                query = (
                    "SELECT rowid FROM article_fts WHERE article_fts MATCH :m "
                    "ORDER BY rowid DESC LIMIT :n"
                )
                rows = s.exec(text(query).bindparams(m=match, n=limit))  # type: ignore[call-overload]
            else:
                tsq = " | ".join(sql.pg_prefix(p) for p in prefixes if sql.pg_prefix(p))
                query = (
                    "SELECT article_id FROM article_fts WHERE tsv @@ to_tsquery('simple', :q) "
                    "ORDER BY article_id DESC LIMIT :n"
                )
                rows = s.exec(text(query).bindparams(q=tsq, n=limit))  # type: ignore[call-overload]
            return [r[0] for r in rows]

    def get_article(self, article_id: int) -> t.Article:
        with self.session() as s:
            row = s.get(ArticleRow, article_id)
            if row is None:
                raise NotFoundError(
                    f"no article with id {article_id}", hint="see `aggregator items list`"
                )
            feeds = self._feeds_of(s, [article_id]).get(article_id, ())
            matches = tuple(
                match_of(m)
                for m in s.exec(
                    select(MatchRow)
                    .where(MatchRow.article_id == article_id)
                    .order_by(col(MatchRow.version), col(MatchRow.topic))
                )
            )
            return article_of(row, feeds, full=True, matches=matches)

    def _feeds_of(self, s: Session, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return self.feeds_of(ids)

    def versions(self, article_id: int) -> list[t.Version]:
        with self.session() as s:
            q = (
                select(VersionRow)
                .where(VersionRow.article_id == article_id)
                .order_by(col(VersionRow.number))
            )
            return [version_of(r) for r in s.exec(q)]

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
            return [alert_of(r, title) for r, title in s.exec(q)]

    def outbox_payloads(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Queued alert events (JSON payloads), oldest first."""
        with self.session() as s:
            q = select(OutboxRow.payload)
            if status:
                q = q.where(OutboxRow.status == status)
            # dict(): SQLModel's select() types a dict column as Mapping
            return [dict(p) for p in s.exec(q.order_by(col(OutboxRow.id)).limit(limit))]
