"""The dispatcher's OutboxStore over the real database.

Storage hands back claimed rows with their JSON payload (``OutboxClaim``); the
event is decoded here, in alerts, which owns its shape.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from aggregator.alerts.dispatch import OutboxItem
from aggregator.alerts.plan import decode_event
from aggregator.storage.records import OutboxClaim
from aggregator.storage.store import Store


class StoreOutbox:
    """OutboxStore (see ``alerts.dispatch``) over one Store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        worker: str,
        lease: timedelta,
        ids: Collection[int] | None = None,
        channels: Collection[str] | None = None,
        early: Collection[str] = (),
    ) -> list[OutboxItem]:
        claims = self.store.claim_due_alerts(
            now, limit=limit, worker=worker, lease=lease, ids=ids, channels=channels, early=early
        )
        return [_item(c) for c in claims]

    def recent_matches(self, since: datetime, channels: Collection[str]) -> list[OutboxItem]:
        return [_item(c) for c in self.store.recent_matches(since, channels)]

    def mark_folded(self, ids: Sequence[int], into: int, now: datetime, detail: str) -> None:
        self.store.mark_folded(ids, into, now, detail)

    def renew(self, ids: Sequence[int], worker: str, until: datetime) -> list[int]:
        return self.store.renew_alerts(ids, worker, until)

    def release(self, ids: Sequence[int], worker: str) -> None:
        self.store.release_alerts(ids, worker)

    def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
        self.store.mark_sent(ids, now, detail)

    def mark_retry(self, ids: Sequence[int], next_at: datetime, error: str, now: datetime) -> None:
        self.store.mark_retry(ids, next_at, error, now)

    def mark_dead(self, ids: Sequence[int], error: str, now: datetime) -> None:
        self.store.mark_dead(ids, error, now)


def _item(c: OutboxClaim) -> OutboxItem:
    return OutboxItem(c.id, decode_event(c.payload), c.attempts, c.created_at, c.not_before)
