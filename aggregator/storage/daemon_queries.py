"""Queries the daemon needs beyond ``Store``: outbox inserts for source-health
events, queue depths for /metrics, the oldest pending alert for /readyz, lease
release on shutdown and host cool-downs shared between workers.

A query class of the Store (``DaemonQueries``), kept in its own module so the
daemon's needs stay apart from the core queries; each is one short transaction,
like the Store's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from aggregator.storage.base import StoreBase
from aggregator.storage.models import ArticleRow, FeedRow, HostWaitRow, OutboxRow
from aggregator.storage.records import AlertDraft
from aggregator.types import COOL_DOWN_STATUSES, QueueDepths

#: Outbox rows still to be delivered (a failed row is retried; sent and dead are final).
UNDELIVERED = ("pending", "failed")


def _unleased(lease_until: Any, now: datetime) -> Any:
    return or_(col(lease_until).is_(None), col(lease_until) < now)


class DaemonQueries(StoreBase):
    """The daemon's queries (part of :class:`~aggregator.storage.store.Store`)."""

    def insert_outbox(self, drafts: Sequence[AlertDraft]) -> int:
        """Queue alert drafts not tied to an article; returns how many were new.

        ON CONFLICT DO NOTHING on alert_id: a stable id makes a repeated event
        (every tick, every worker) one row.
        """
        dialect: Any = postgresql if self.dialect == "postgresql" else sqlite
        added = 0
        with self.session() as s:
            for a in drafts:
                stmt = (
                    dialect.insert(OutboxRow)
                    .values(
                        alert_id=a.alert_id,
                        channel=a.channel,
                        event=a.event,
                        topic=a.topic,
                        article_id=None,
                        payload=a.payload,
                        status="pending",
                        attempts=0,
                        created_at=a.not_before,
                        not_before=a.not_before,
                        next_attempt_at=a.not_before,
                    )
                    .on_conflict_do_nothing(index_elements=["alert_id"])
                    .returning(OutboxRow.id)
                )
                added += len(list(s.exec(stmt)))
            s.commit()
        return added

    def count_due_feeds(self, names: Sequence[str], now: datetime) -> int:
        """Enabled feeds that are due and not being polled by anyone."""
        if not names:
            return 0
        q = (
            select(func.count())
            .select_from(FeedRow)
            .where(col(FeedRow.name).in_(list(names)))
            .where(or_(col(FeedRow.next_due_at).is_(None), col(FeedRow.next_due_at) <= now))
            .where(col(FeedRow.disabled_reason).is_(None))
            .where(_unleased(FeedRow.lease_until, now))
        )
        with self.session() as s:
            return int(s.exec(q).one())

    def count_pending_alerts(self) -> int:
        """Alerts not delivered yet (held for a digest, due, or failed and awaiting a retry)."""
        with self.session() as s:
            q = (
                select(func.count())
                .select_from(OutboxRow)
                .where(col(OutboxRow.status).in_(UNDELIVERED))
            )
            return int(s.exec(q).one())

    def count_due_rechecks(self, now: datetime) -> int:
        q = (
            select(func.count())
            .select_from(ArticleRow)
            .where(col(ArticleRow.next_check_at).is_not(None), col(ArticleRow.next_check_at) <= now)
            .where(_unleased(ArticleRow.lease_until, now))
        )
        with self.session() as s:
            return int(s.exec(q).one())

    def queue_depths(self, names: Sequence[str], now: datetime) -> QueueDepths:
        return QueueDepths(
            self.count_due_feeds(names, now),
            self.count_pending_alerts(),
            self.count_due_rechecks(now),
        )

    def oldest_pending_alert(self, now: datetime) -> datetime | None:
        """Since when the longest-waiting undelivered alert has been due, or None.

        Due since its first attempt (kept across retries, whose not_before moves
        on), else its not_before: an alert held for a digest window is not late,
        and a channel failing for an hour is, however often it was retried.
        """
        due = func.coalesce(
            col(OutboxRow.first_attempt_at), col(OutboxRow.not_before), col(OutboxRow.created_at)
        )
        q = select(func.min(due)).where(col(OutboxRow.status).in_(UNDELIVERED)).where(due <= now)
        with self.session() as s:
            return s.exec(q).one()

    def pending_channels(self) -> set[str]:
        """Channels that have alerts still to deliver (some may be gone from feeds.yaml)."""
        q = select(OutboxRow.channel).where(col(OutboxRow.status).in_(UNDELIVERED)).distinct()
        with self.session() as s:
            return set(s.exec(q))

    def release_leases(self, worker: str) -> int:
        """Hand back every claim `worker` holds (feeds, re-checks, deliveries).

        Called on a graceful stop after abandoning in-flight work, so other
        workers need not wait for the leases to expire.
        """
        released = 0
        with self.session() as s:
            for model in (FeedRow, ArticleRow, OutboxRow):
                stmt = (
                    update(model)
                    .where(col(model.lease_owner) == worker)
                    .values(lease_owner=None, lease_until=None)
                )
                released += s.exec(stmt).rowcount or 0
            s.commit()
        return released

    def host_cool_downs(self, now: datetime) -> list[tuple[str, datetime]]:
        """(URL, until) for every 429/503 Retry-After still running: feeds told to wait,
        and origins a re-check or a story page was told to wait by (`record_host_wait`).

        Read by every worker each cycle, so a cool-down one worker met is honoured
        by all of them, and survives a restart.
        """
        q = (
            select(FeedRow.url, FeedRow.retry_after_until)
            .where(col(FeedRow.retry_after_until) > now)
            .where(col(FeedRow.last_status).in_(COOL_DOWN_STATUSES))
        )
        hosts = select(HostWaitRow.origin, HostWaitRow.wait_until).where(
            col(HostWaitRow.wait_until) > now
        )
        with self.session() as s:
            found = [(url, until) for url, until in s.exec(q) if until is not None]
            return found + [(origin, until) for origin, until in s.exec(hosts)]

    def record_host_wait(self, origin: str, until: datetime, status: int | None) -> None:
        """Keep a Retry-After met outside a feed's poll, for its origin (the later wins:
        several workers may meet it at once)."""
        table = HostWaitRow.__table__  # type: ignore[attr-defined]
        stmt = self._insert(HostWaitRow).values(origin=origin, wait_until=until, status=status)
        later = case(
            (table.c.wait_until < stmt.excluded.wait_until, stmt.excluded.wait_until),
            else_=table.c.wait_until,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["origin"], set_={"wait_until": later, "status": status}
        )
        with self.session() as s:
            s.exec(stmt)
            s.commit()
