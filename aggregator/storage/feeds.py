"""Feed rows: sync with feeds.yaml, fetch state, leases for due polls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, update
from sqlmodel import col, select

from aggregator.exceptions import NotFoundError
from aggregator.storage import sql
from aggregator.storage.base import StoreBase
from aggregator.storage.convert import feed_state_of, feed_update_values, reset_url
from aggregator.storage.models import FeedRow
from aggregator.storage.records import FeedState, FeedUpdate


class FeedQueries(StoreBase):
    """The feed table's queries (part of :class:`~aggregator.storage.store.Store`)."""

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
                            created_at=sql.naive(now),
                            next_due_at=sql.naive(now),
                            error_count=0,
                        )
                        .on_conflict_do_nothing()
                    )
                elif row.url != url:
                    reset_url(row, url)
                    s.add(row)
            s.commit()

    def feed_state(self, name: str) -> FeedState:
        with self.session() as s:
            row = s.exec(select(FeedRow).where(FeedRow.name == name)).first()
            if row is None:
                raise NotFoundError(f"no feed named {name!r}", hint="see `aggregator feeds list`")
            return feed_state_of(row)

    def update_feed(self, update: FeedUpdate) -> None:
        """One feed's fetch state (etag, errors, next_due_at ...) after a poll."""
        self.update_feeds([update])

    def update_feeds(self, updates: Sequence[FeedUpdate]) -> None:
        """Many feeds' state in one transaction; rows with the same columns in one executemany."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for u in updates:
            values = feed_update_values(u)
            cols = tuple(sorted(values))
            groups.setdefault(cols, []).append({"_fid": u.feed_id, **values})
        table = FeedRow.__table__  # type: ignore[attr-defined]
        with self.begin() as conn:
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

    def defer_feeds(self, names: Sequence[str], until: datetime, *, worker: str) -> None:
        """Claimed feeds whose host asked to wait: due again at `until`, claim handed back.

        Nothing else changes (no error counted, no fetch state): they were not polled.
        """
        with self.session() as s:
            s.exec(
                update(FeedRow)
                .where(col(FeedRow.name).in_(list(names)))
                .where(col(FeedRow.lease_owner) == worker)
                .values(next_due_at=until, lease_owner=None, lease_until=None)
            )
            s.commit()
