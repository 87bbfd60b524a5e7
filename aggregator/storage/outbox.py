"""The outbox table's queries (``OutboxQueries``, part of the Store): what the
dispatcher's OutboxStore needs, plus replay for the CLI.

Claims come back as :class:`OutboxClaim` records whose payload is still the
stored JSON: decoding it into an alert event is the alerts package's business
(``alerts.dispatch.StoreOutbox``), so storage imports nothing above it.

Rows are claimed with a lease (SELECT … FOR UPDATE SKIP LOCKED on
PostgreSQL), and marked sent only after the receiver accepted: a crash in
between leaves the lease to expire, and the row is sent again with the same
alert id (at-least-once, deduplicated by receivers on webhook-id/Message-ID).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from aggregator.exceptions import NotFoundError, UsageError
from aggregator.storage.base import StoreBase
from aggregator.storage.models import OutboxRow
from aggregator.storage.records import OutboxClaim
from aggregator.storage.sql import chunks as _chunks
from aggregator.testhooks import pause_point

RETRYABLE = ("pending", "failed")
#: A folded row is a copy of a story that went out as another alert (`mark_folded`).
DONE = ("sent", "folded")


class OutboxQueries(StoreBase):
    """The outbox on the real database (SQLite or PostgreSQL)."""

    def claim_due_alerts(
        self,
        now: datetime,
        *,
        limit: int,
        worker: str,
        lease: timedelta,
        ids: Collection[int] | None = None,
        channels: Collection[str] | None = None,
        early: Collection[str] = (),
    ) -> list[OutboxClaim]:
        """Pending rows with not_before <= now and no live lease, leased to `worker`
        (only those of `ids` when given: `alerts retry ID` sends exactly those; only
        those of `channels` when given: the daemon's delivery lane per channel). Rows of
        the `early` channels never tried yet are due whatever their hold (`run --once`)."""
        due = col(OutboxRow.next_attempt_at) <= now
        if early:
            held = and_(
                col(OutboxRow.status) == "pending",
                col(OutboxRow.attempts) == 0,
                col(OutboxRow.channel).in_(list(early)),
            )
            due = or_(due, held)
        with self.session() as s:
            q = (
                select(OutboxRow)
                .where(col(OutboxRow.status).in_(RETRYABLE), due)
                .where(or_(col(OutboxRow.lease_until).is_(None), col(OutboxRow.lease_until) < now))
                .order_by(col(OutboxRow.id))
                .limit(limit)
            )
            if ids is not None:
                q = q.where(col(OutboxRow.id).in_(list(ids)))
            if channels is not None:
                q = q.where(col(OutboxRow.channel).in_(list(channels)))
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.exec(q))
            for r in rows:
                r.lease_owner, r.lease_until = worker, now + lease
                r.first_attempt_at = r.first_attempt_at or now
                s.add(r)
            s.commit()
            return [_claim(r) for r in rows]

    def _set_outbox(self, ids: Sequence[int], **values: Any) -> None:
        with self.session() as s:
            for chunk in _chunks(list(ids)):
                s.exec(update(OutboxRow).where(col(OutboxRow.id).in_(chunk)).values(**values))
            s.commit()

    def renew_alerts(self, ids: Sequence[int], worker: str, until: datetime) -> list[int]:
        """Extend the lease `worker` still holds on these rows; returns their ids."""
        kept: list[int] = []
        with self.session() as s:
            for chunk in _chunks(list(ids)):
                mine = (
                    col(OutboxRow.id).in_(chunk),
                    col(OutboxRow.lease_owner) == worker,
                    col(OutboxRow.status).in_(RETRYABLE),
                )
                s.exec(update(OutboxRow).where(*mine).values(lease_until=until))
                kept += [i for i in s.exec(select(OutboxRow.id).where(*mine)) if i is not None]
            s.commit()
        return kept

    def release_alerts(self, ids: Sequence[int], worker: str) -> None:
        """Hand back rows claimed but not tried: due again at once, no attempt counted."""
        with self.session() as s:
            for chunk in _chunks(list(ids)):
                s.exec(
                    update(OutboxRow)
                    .where(col(OutboxRow.id).in_(chunk), col(OutboxRow.lease_owner) == worker)
                    .values(lease_owner=None, lease_until=None)
                )
            s.commit()

    def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
        pause_point("before-mark-sent")
        self._set_outbox(
            ids,
            status="sent",
            sent_at=now,
            detail=detail,
            lease_owner=None,
            lease_until=None,
            attempts=OutboxRow.attempts + 1,
        )

    def mark_retry(self, ids: Sequence[int], next_at: datetime, error: str, now: datetime) -> None:
        self._set_outbox(
            ids,
            status="failed",
            next_attempt_at=next_at,
            not_before=next_at,
            last_error=error,
            lease_owner=None,
            lease_until=None,
            attempts=OutboxRow.attempts + 1,
        )

    def recent_matches(self, since: datetime, channels: Collection[str]) -> list[OutboxClaim]:
        """Match rows of `channels` raised at `since` or later, neither dead nor folded.

        Filtered on the indexed next_attempt_at first: a row is never due before it
        was raised (its hold and retries only push it later, a replay resets both), so
        this reads the recent rows only, however long the outbox has grown.
        """
        with self.session() as s:
            q = select(OutboxRow).where(
                col(OutboxRow.next_attempt_at) >= since, col(OutboxRow.created_at) >= since
            )
            wanted, alive = set(channels), {*RETRYABLE, "sent"}
            rows = [
                r
                for r in s.exec(q)  # status and channel in Python: their indexes span all time
                if r.event == "match" and r.status in alive and r.channel in wanted
            ]
            return [_claim(r) for r in sorted(rows, key=lambda r: r.id or 0)]

    def mark_folded(self, ids: Sequence[int], into: int, now: datetime, detail: str) -> None:
        """Copies that went out as alert `into`: never sent themselves, never retried."""
        self._set_outbox(
            ids, status="folded", sent_at=None, detail=detail, lease_owner=None, lease_until=None
        )

    def mark_dead(self, ids: Sequence[int], error: str, now: datetime) -> None:
        self._set_outbox(
            ids,
            status="dead",
            last_error=error,
            lease_owner=None,
            lease_until=None,
            attempts=OutboxRow.attempts + 1,
        )

    # -------------------------------------------------------------- CLI support

    def retry_alerts(
        self, ids: Sequence[int] | None, now: datetime, *, resend: bool = False
    ) -> int:
        """Replay alerts (by id, or every dead one): pending again, a fresh retry window.

        An alert already sent is replayed only with ``resend``: the receiver got it once,
        and sending it again is a decision, not a retry.
        """
        with self.session() as s:
            q = select(OutboxRow)
            q = (
                q.where(col(OutboxRow.id).in_(list(ids)))
                if ids
                else q.where(OutboxRow.status == "dead")
            )
            rows = list(s.exec(q))
            if ids and len(rows) != len(set(ids)):
                missing = set(ids) - {r.id for r in rows}
                raise NotFoundError(
                    f"no alert with id {', '.join(map(str, sorted(missing)))}",
                    hint="see `aggregator alerts list`",
                )
            sent = sorted(r.id for r in rows if r.status in DONE and r.id is not None)
            if sent and not resend:
                raise UsageError(
                    f"alert {', '.join(map(str, sent))} {'was' if len(sent) == 1 else 'were'} "
                    "already sent (or folded into an alert sent for the same story)",
                    hint="pass --resend to send it again (same webhook-id / Message-ID)",
                )
            for r in rows:
                r.status, r.next_attempt_at, r.not_before = "pending", now, now
                r.first_attempt_at, r.created_at = None, now
                r.lease_owner = r.lease_until = None
                s.add(r)
            s.commit()
            return len(rows)

    def oldest_queued_alert(self) -> datetime | None:
        """Creation time of the oldest undelivered alert (for /readyz)."""
        with self.session() as s:
            q = (
                select(OutboxRow.created_at)
                .where(col(OutboxRow.status).in_(RETRYABLE))
                .order_by(col(OutboxRow.created_at))
                .limit(1)
            )
            return s.exec(q).first()

    def outbox_counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self.session() as s:
            q = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            return {status: n for status, n in s.exec(q)}


def _claim(r: OutboxRow) -> OutboxClaim:
    """A claimed row as a record; the store always sets these columns."""
    assert r.id is not None and r.created_at is not None and r.not_before is not None
    return OutboxClaim(r.id, dict(r.payload), r.attempts, r.created_at, r.not_before)
