"""An in-memory OutboxStore with the semantics the database store must have.

Rows are pending until marked sent or dead; ``claim_due`` leases due rows to a
worker so two workers cannot send the same row at once, and an expired lease
(a crashed worker) makes the row claimable again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from aggregator.alerts.dispatch import OutboxItem
from aggregator.alerts.types import (
    AlertArticle,
    AlertChange,
    AlertEvent,
    Passage,
    Snippet,
    SourceHealth,
)


@dataclass
class Row:
    item: OutboxItem
    status: str = "pending"  # pending | sent | dead
    worker: str | None = None
    lease_until: datetime | None = None
    detail: str | None = None
    last_error: str | None = None
    history: list[str] = field(default_factory=list)


class MemoryOutbox:
    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}

    def add(self, event: AlertEvent, *, hold: timedelta = timedelta(0)) -> int:
        """Queue an event; it becomes due `hold` after its created_at (group/digest window)."""
        row_id = len(self.rows) + 1
        item = OutboxItem(row_id, event, 0, event.created_at, event.created_at + hold)
        self.rows[row_id] = Row(item)
        return row_id

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
        due = [
            r
            for r in self.rows.values()
            if (ids is None or r.item.id in ids)
            and r.status == "pending"
            and (channels is None or r.item.event.channel in channels)
            and (
                r.item.not_before <= now or (r.item.event.channel in early and r.item.attempts == 0)
            )
            and (r.lease_until is None or r.lease_until <= now)
        ]
        due.sort(key=lambda r: (r.item.not_before, r.item.id))
        for row in due[:limit]:
            row.worker, row.lease_until = worker, now + lease
        return [r.item for r in due[:limit]]

    def renew(self, ids: Sequence[int], worker: str, until: datetime) -> list[int]:
        mine = [
            i for i in ids if self.rows[i].status == "pending" and self.rows[i].worker == worker
        ]
        for i in mine:
            self.rows[i].lease_until = until
        return mine

    def release(self, ids: Sequence[int], worker: str) -> None:
        for i in ids:
            row = self.rows[i]
            if row.worker == worker:
                row.worker, row.lease_until = None, None
                row.history.append("released")

    def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
        for i in ids:
            self._settle(i, "sent", f"sent: {detail}")
            self.rows[i].detail = detail

    def mark_retry(self, ids: Sequence[int], next_at: datetime, error: str, now: datetime) -> None:
        for i in ids:
            row = self.rows[i]
            row.item = replace(row.item, attempts=row.item.attempts + 1, not_before=next_at)
            self._settle(i, "pending", f"retry at {next_at.isoformat()}: {error}")
            row.last_error = error

    def recent_matches(self, since: datetime, channels: Collection[str]) -> list[OutboxItem]:
        return [
            r.item
            for r in self.rows.values()
            if r.item.event.event == "match"
            and r.item.event.channel in channels
            and r.item.created_at >= since
            and r.status in ("pending", "sent")
        ]

    def mark_folded(self, ids: Sequence[int], into: int, now: datetime, detail: str) -> None:
        for i in ids:
            self._settle(i, "folded", f"folded into {into}")
            self.rows[i].detail = detail

    def mark_dead(self, ids: Sequence[int], error: str, now: datetime) -> None:
        for i in ids:
            self._settle(i, "dead", f"dead: {error}")
            self.rows[i].last_error = error

    def _settle(self, row_id: int, status: str, note: str) -> None:
        row = self.rows[row_id]
        row.status, row.worker, row.lease_until = status, None, None
        row.history.append(note)

    def status(self, row_id: int) -> str:
        return self.rows[row_id].status


# --- factories for alert tests ----------------------------------------------------------------

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def article(
    article_id: int = 1,
    *,
    title: str = "EU tightens export controls on chips",
    feed: str = "reuters",
    url: str | None = None,
    fingerprint: int | None = 0xF0F0,
    terms: tuple[str, ...] = ("export controls",),
) -> AlertArticle:
    text = "Brussels said on Tuesday that new export controls on advanced chips take effect."
    start = text.index("export controls")
    return AlertArticle(
        id=article_id,
        url=url or f"https://news.example.org/{feed}/{article_id}",
        title=title,
        feeds=(feed,),
        language="en",
        published=T0 - timedelta(minutes=30),
        terms=terms,
        snippets=(Snippet(text, ((start, start + len("export controls")),)),),
        fingerprint=fingerprint,
    )


def match_event(
    alert_id: str = "match-1",
    *,
    channel: str = "desk",
    topic: str = "export-controls",
    created_at: datetime = T0,
    art: AlertArticle | None = None,
) -> AlertEvent:
    return AlertEvent(alert_id, "match", channel, topic, created_at, article=art or article())


def change_event(
    alert_id: str = "change-1",
    *,
    channel: str = "desk",
    thread_id: str = "match-1",
    created_at: datetime = T0,
) -> AlertEvent:
    change = AlertChange(
        version=2,
        previous_version=1,
        headline_changed=True,
        old_title="EU tightens export controls on chips",
        new_title="EU delays export controls on chips",
        words_added=42,
        words_removed=17,
        reasons=("headline", "min_words"),
        correction="An earlier version misstated the date.",
        topic_change="context",
        diff_summary="- The rules take effect in May.\n+ The rules take effect in July.",
        passages=(
            Passage(("The rules take effect in May.",), ("The rules take effect in July.",)),
        ),
    )
    return AlertEvent(
        alert_id,
        "change",
        channel,
        "export-controls",
        created_at,
        article=article(title="EU delays export controls on chips"),
        change=change,
        thread_id=thread_id,
    )


def source_event(
    alert_id: str = "source-1", *, channel: str = "desk", created_at: datetime = T0
) -> AlertEvent:
    health = SourceHealth(
        "reuters", "https://feeds.example.org/reuters.xml", "failing", "HTTP 503 for 6 hours"
    )
    return AlertEvent(alert_id, "source", channel, None, created_at, source=health)
