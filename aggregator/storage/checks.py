"""Queries for change monitoring: due re-checks, new versions, changes, watches.

A query class of the Store (``CheckQueries``), kept apart from the ingest
queries so each file stays readable. A new version, its matches, its change row and the
alerts it causes are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from aggregator import types as t
from aggregator.storage.base import StoreBase
from aggregator.storage.models import (
    ArticleRow,
    ChangeRow,
    FeedEntryRow,
    FeedRow,
    MatchRow,
    VersionRow,
)
from aggregator.storage.records import AlertDraft, CheckTarget, MatchDraft
from aggregator.storage.sql import chunks as _chunks


@dataclass(frozen=True)
class NewVersion:
    """A re-check found different text: everything to write with it."""

    article_id: int
    title: str | None
    text: str
    content_hash: str
    comparable_hash: str
    extractor_version: str | None
    kind: str  # edit | revert
    revert_of: int | None
    summary: dict[str, Any]
    topics: dict[str, Any]
    matches: tuple[MatchDraft, ...]
    alerts: tuple[AlertDraft, ...]
    next_check_at: datetime | None
    etag: str | None = None
    last_modified: str | None = None


def _origins(s: Any, ids: list[int]) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Feed names and feed ids carrying each article (for topic scopes)."""
    out: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        q = (
            select(FeedEntryRow.article_id, FeedRow.name)
            .join(FeedRow)
            .where(col(FeedEntryRow.article_id).in_(chunk))
        )
        for aid, name in s.exec(q):
            out.setdefault(aid, []).append(name)
    return {k: (tuple(sorted(set(v))), ()) for k, v in out.items()}


def _target(r: ArticleRow, feeds: tuple[str, ...], tags: tuple[str, ...]) -> CheckTarget:
    assert r.id is not None and r.url is not None and r.first_seen_at is not None
    return CheckTarget(
        r.id,
        r.url,
        r.site,
        r.title,
        r.text or "",
        r.language,
        r.first_seen_at,
        r.last_checked_at,
        r.version_count,
        r.check_etag,
        r.check_last_modified,
        r.watch,
        feeds,
        tags,
        r.check_errors,
        r.retracted,
        r.key,
        r.published,
    )


def _update_article(art: ArticleRow, v: NewVersion, number: int, now: datetime) -> None:
    art.version_count = number
    art.title, art.text = v.title or art.title, v.text
    art.content_hash = v.content_hash
    art.last_checked_at, art.next_check_at = now, v.next_check_at
    art.lease_owner = art.lease_until = None
    art.retracted = None
    if v.etag or v.last_modified:
        art.check_etag, art.check_last_modified = v.etag, v.last_modified


def _change(r: ChangeRow, title: str | None, url: str | None) -> t.Change:
    assert r.created_at is not None
    return t.Change(
        r.article_id,
        r.from_version,
        r.to_version,
        r.kind,
        title,
        url,
        dict(r.summary),
        dict(r.topics),
        r.created_at,
    )


class CheckQueries(StoreBase):
    """Change monitoring's queries (part of :class:`~aggregator.storage.store.Store`)."""

    def claim_due_checks(
        self,
        now: datetime,
        *,
        worker: str,
        lease_until: datetime,
        limit: int,
        ids: Sequence[int] | None = None,
    ) -> list[CheckTarget]:
        """Lease articles due for a re-check (or exactly `ids`, whatever their schedule)."""
        with self.session() as s:
            q = select(ArticleRow).where(
                or_(col(ArticleRow.lease_until).is_(None), col(ArticleRow.lease_until) < now)
            )
            if ids is not None:
                q = q.where(col(ArticleRow.id).in_(list(ids)))
            else:
                q = q.where(
                    or_(col(ArticleRow.monitor).is_(True), col(ArticleRow.watch).is_not(None)),
                    col(ArticleRow.next_check_at) <= now,
                )
            q = q.where(col(ArticleRow.url).is_not(None)).order_by(col(ArticleRow.next_check_at))
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.exec(q.limit(limit)))
            for r in rows:
                r.lease_owner, r.lease_until = worker, lease_until
                s.add(r)
            s.commit()
            origins = _origins(s, [r.id for r in rows if r.id is not None])
            return [_target(r, *origins.get(r.id or 0, ((), ()))) for r in rows]

    def record_check(
        self,
        article_id: int,
        now: datetime,
        next_check_at: datetime | None,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        retracted: str | None = None,
        clear_retraction: bool = False,
    ) -> None:
        """A re-check that stored no new text: only the time (and any error/retraction)."""
        values: dict[str, Any] = {
            "last_checked_at": now,
            "next_check_at": next_check_at,
            "lease_owner": None,
            "lease_until": None,
        }
        if etag or last_modified:
            values.update(check_etag=etag, check_last_modified=last_modified)
        if retracted:
            values["retracted"] = retracted
        elif clear_retraction:
            values["retracted"] = None
        values["check_errors"] = ArticleRow.check_errors + 1 if error else 0
        with self.session() as s:
            s.exec(update(ArticleRow).where(col(ArticleRow.id) == article_id).values(**values))
            s.commit()

    def add_version(self, v: NewVersion, now: datetime) -> int:
        """Store a new version with its matches, change row and alerts; returns its number."""
        with self.session() as s:
            art = s.get(ArticleRow, v.article_id)
            assert art is not None
            number = art.version_count + 1
            s.add(
                VersionRow(
                    article_id=v.article_id,
                    number=number,
                    title=v.title,
                    text=v.text,
                    content_hash=v.content_hash,
                    comparable_hash=v.comparable_hash,
                    extractor_version=v.extractor_version,
                    fetched_at=now,
                    kind=v.kind,
                    revert_of=v.revert_of,
                )
            )
            _update_article(art, v, number, now)
            s.add(art)
            s.add(
                ChangeRow(
                    article_id=v.article_id,
                    from_version=number - 1,
                    to_version=number,
                    kind=str(v.summary.get("kind", "edit")),
                    summary=v.summary,
                    topics=v.topics,
                    created_at=now,
                )
            )
            self._index_fts(s, v.article_id, v.title, v.text)
            self._add_matches(s, v.article_id, number, v.matches, now)
            self._add_alerts(s, v.article_id, v.alerts)
            s.commit()
            return number

    def record_retraction(
        self,
        article_id: int,
        now: datetime,
        reason: str,
        next_check_at: datetime | None,
        alerts: Sequence[AlertDraft],
        summary: dict[str, Any],
    ) -> bool:
        """Mark an article possibly retracted (once) with a change row; False if already marked."""
        with self.session() as s:
            art = s.get(ArticleRow, article_id)
            assert art is not None
            already = art.retracted is not None
            art.retracted = reason
            art.last_checked_at, art.next_check_at = now, next_check_at
            art.lease_owner = art.lease_until = None
            s.add(art)
            if not already:
                s.add(
                    ChangeRow(
                        article_id=article_id,
                        from_version=art.version_count,
                        to_version=art.version_count,
                        kind="retraction",
                        summary=summary,
                        topics={},
                        created_at=now,
                    )
                )
                self._add_alerts(s, article_id, alerts)
            s.commit()
            return not already

    def version_hashes(self, article_id: int) -> list[tuple[int, str | None, str]]:
        """(number, title, text) of every version, oldest first (for revert detection)."""
        with self.session() as s:
            q = (
                select(VersionRow.number, VersionRow.title, VersionRow.text)
                .where(VersionRow.article_id == article_id)
                .order_by(col(VersionRow.number))
            )
            return [(n, ti, tx) for n, ti, tx in s.exec(q)]

    def latest_matches(self, article_id: int, version: int) -> dict[str, list[str]]:
        """topic → matched terms of one version."""
        with self.session() as s:
            q = select(MatchRow.topic, MatchRow.terms).where(
                MatchRow.article_id == article_id, MatchRow.version == version
            )
            return {topic: list(terms) for topic, terms in s.exec(q)}

    def site_texts(self, site: str, limit: int = 20) -> list[str]:
        """Recent article texts of one site, to learn its recurring boilerplate lines."""
        with self.session() as s:
            q = (
                select(ArticleRow.text)
                .where(ArticleRow.site == site)
                .order_by(col(ArticleRow.id).desc())
                .limit(limit)
            )
            return [tx for tx in s.exec(q) if tx]

    def defer_checks(self, ids: Sequence[int], until: datetime, *, worker: str) -> None:
        """Claimed re-checks whose host asked to wait: the claim is handed back, and one
        on a schedule is due again no sooner than `until` (no check or error recorded:
        nothing was fetched). An unscheduled story (`recheck ID`) stays unscheduled."""
        with self.session() as s:
            for chunk in _chunks(ids):
                mine = col(ArticleRow.id).in_(chunk), col(ArticleRow.lease_owner) == worker
                s.exec(
                    update(ArticleRow)
                    .where(*mine, col(ArticleRow.next_check_at) < until)
                    .values(next_check_at=until)
                )
                s.exec(update(ArticleRow).where(*mine).values(lease_owner=None, lease_until=None))
            s.commit()

    def set_next_check(self, ids: Sequence[int], when: datetime | None) -> None:
        with self.session() as s:
            for chunk in _chunks(ids):
                s.exec(
                    update(ArticleRow)
                    .where(col(ArticleRow.id).in_(chunk))
                    .values(next_check_at=when)
                )
            s.commit()

    def list_changes(
        self,
        *,
        since: datetime | None = None,
        topic: str | None = None,
        limit: int = 100,
        article_id: int | None = None,
    ) -> list[t.Change]:
        with self.session() as s:
            q = select(ChangeRow, ArticleRow.title, ArticleRow.url).join(
                ArticleRow, col(ArticleRow.id) == col(ChangeRow.article_id)
            )
            if since:
                q = q.where(col(ChangeRow.created_at) >= since)
            if article_id is not None:
                q = q.where(col(ChangeRow.article_id) == article_id)
            if topic:
                q = q.where(
                    col(ChangeRow.article_id).in_(
                        select(MatchRow.article_id).where(MatchRow.topic == topic)
                    )
                )
            q = q.order_by(col(ChangeRow.id).desc()).limit(limit)
            return [_change(r, title, url) for r, title, url in s.exec(q)]

    def ensure_watch(self, name: str, url: str, now: datetime) -> int:
        """The article row that holds a page watch's versions (key watch:<name>)."""
        key = f"watch:{name}"
        with self.session() as s:
            row = s.exec(select(ArticleRow).where(ArticleRow.key == key)).first()
            if row is None:
                row = ArticleRow(
                    key=key,
                    url=url,
                    title=name,
                    text="",
                    watch=name,
                    monitor=False,
                    first_seen_at=now,
                    version_count=0,
                    next_check_at=now,
                )
                s.add(row)
            elif row.url != url:
                row.url = url
                s.add(row)
            s.commit()
            assert row.id is not None
            return row.id

    def monitored_ids(self) -> list[int]:
        """Every article still under change monitoring (for `recheck --all`)."""
        with self.session() as s:
            q = select(ArticleRow.id).where(
                or_(col(ArticleRow.monitor).is_(True), col(ArticleRow.watch).is_not(None)),
                col(ArticleRow.url).is_not(None),
            )
            return [i for i in s.exec(q) if i is not None]
