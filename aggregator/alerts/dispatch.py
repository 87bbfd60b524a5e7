"""The outbox dispatcher: claim due alerts, group them, send, then record the outcome.

Delivery is at-least-once. An item is marked sent only after the receiver
accepted it, so a crash between the two re-sends it later under the same
alert id (webhook-id, Message-ID), which receivers use to drop the duplicate.
The store is a Protocol so the same dispatcher runs on the real database and
on the in-memory store the tests use.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from aggregator.alerts.policy import is_dead, next_attempt
from aggregator.alerts.registry import Channel
from aggregator.alerts.types import AlertEvent, Delivery, SourceRef
from aggregator.config.alerts import ChannelConfig
from aggregator.config.durations import format_duration
from aggregator.exceptions import DeliveryError

log = logging.getLogger(__name__)

NEAR_DUPLICATE_BITS = 3
_MASK64 = (1 << 64) - 1

Outcome = Delivery | DeliveryError


@dataclass(frozen=True)
class OutboxItem:
    """One queued alert; `attempts` counts the failed attempts made so far."""

    id: int
    event: AlertEvent
    attempts: int
    created_at: datetime
    not_before: datetime


class OutboxStore(Protocol):
    """What the dispatcher needs from storage (the database implements it for real)."""

    def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        worker: str,
        lease: timedelta,
        ids: Collection[int] | None = None,
    ) -> list[OutboxItem]:
        """Pending items with not_before <= now and no live lease, leased to `worker`
        (only those of `ids` when given: `alerts retry ID` sends exactly those)."""
        ...

    def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
        """The receiver accepted these; `detail` is its answer."""
        ...

    def mark_retry(self, ids: Sequence[int], next_at: datetime, error: str, now: datetime) -> None:
        """One more failed attempt: attempts += 1, not_before = next_at, lease released."""
        ...

    def mark_dead(self, ids: Sequence[int], error: str, now: datetime) -> None:
        """Never retried again (permanent failure or retry window exhausted)."""
        ...


@dataclass
class DispatchReport:
    """What one `deliver_due` pass did, counted in outbox items (not messages)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """Outbox items that go out as one message, and the events `Channel.send` receives."""

    channel: str
    items: tuple[OutboxItem, ...]
    events: tuple[AlertEvent, ...]

    @property
    def ids(self) -> list[int]:
        return [item.id for item in self.items]


async def deliver_due(
    store: OutboxStore,
    channels: Mapping[str, Channel],
    configs: Mapping[str, ChannelConfig],
    *,
    now: datetime,
    worker: str,
    rng: random.Random,
    limit: int = 100,
    lease: timedelta = timedelta(minutes=5),
    ids: Collection[int] | None = None,
) -> DispatchReport:
    """One dispatcher pass: send everything due, then record every outcome.

    Channels send concurrently (one channel's batches in order). The store is
    written only after all sends of the pass returned: its calls are blocking,
    and a write in the middle would stall the other channels' requests in
    flight. Each pass must finish within `lease` (sends are bounded by their
    timeouts, claims by `limit`), or another worker may claim the same items.
    """
    report = DispatchReport()
    items = store.claim_due(now, limit=limit, worker=worker, lease=lease, ids=ids)
    known = _drop_orphans(store, items, channels, configs, now, report)
    lanes: dict[str, list[Batch]] = {}
    for batch in plan(known, configs):
        lanes.setdefault(batch.channel, []).append(batch)
    results = await asyncio.gather(
        *(_run_lane(channels[name], lane) for name, lane in lanes.items())
    )
    for batch, outcome in (pair for lane in results for pair in lane):
        _record(store, configs[batch.channel], batch, outcome, now, rng, report)
    return report


def _drop_orphans(
    store: OutboxStore,
    items: list[OutboxItem],
    channels: Mapping[str, Channel],
    configs: Mapping[str, ChannelConfig],
    now: datetime,
    report: DispatchReport,
) -> list[OutboxItem]:
    """Items for a channel removed from feeds.yaml can never be sent: dead-letter them."""
    orphans = [
        i for i in items if i.event.channel not in channels or i.event.channel not in configs
    ]
    for name in sorted({i.event.channel for i in orphans}):
        ids = [i.id for i in orphans if i.event.channel == name]
        store.mark_dead(ids, f"channel {name!r} is no longer configured", now)
        report.dead += len(ids)
        report.errors.append(f"{name}: channel is no longer configured")
    dropped = {i.id for i in orphans}
    return [i for i in items if i.id not in dropped]


async def _run_lane(channel: Channel, batches: list[Batch]) -> list[tuple[Batch, Outcome]]:
    """One channel's batches, in order; failures are values so the lane carries on."""
    return [(batch, await _attempt(channel, batch)) for batch in batches]


async def _attempt(channel: Channel, batch: Batch) -> Outcome:
    try:
        return await channel.send(batch.events)
    except DeliveryError as e:
        return e
    except Exception as e:  # a channel bug must not stall the whole outbox
        log.exception("alert channel %s crashed", batch.channel)
        return DeliveryError(f"internal error: {type(e).__name__}: {e}")


def _record(
    store: OutboxStore,
    config: ChannelConfig,
    batch: Batch,
    outcome: Outcome,
    now: datetime,
    rng: random.Random,
    report: DispatchReport,
) -> None:
    if isinstance(outcome, DeliveryError):
        _failed(store, config, batch, outcome, now, rng, report)
        return
    store.mark_sent(batch.ids, now, outcome.detail)
    report.sent += len(batch.items)
    log.info("alert %s sent via %s: %s", batch.events[0].alert_id, batch.channel, outcome.detail)


def _failed(
    store: OutboxStore,
    config: ChannelConfig,
    batch: Batch,
    error: DeliveryError,
    now: datetime,
    rng: random.Random,
    report: DispatchReport,
) -> None:
    """Dead-letter a permanent failure or an exhausted window; otherwise schedule a retry."""
    message = error.message + (f" (hint: {error.hint})" if error.hint else "")
    report.errors.append(f"{batch.channel}: {message}")
    verdict = _retry_time(config, batch, error, now, rng)
    if isinstance(verdict, str):
        store.mark_dead(batch.ids, f"{verdict}: {message}", now)
        report.dead += len(batch.items)
        log.warning("alert via %s dead-lettered: %s: %s", batch.channel, verdict, message)
        return
    store.mark_retry(batch.ids, verdict, message, now)
    report.retried += len(batch.items)
    log.info("alert via %s failed, retry at %s: %s", batch.channel, verdict.isoformat(), message)


def _retry_time(
    config: ChannelConfig, batch: Batch, error: DeliveryError, now: datetime, rng: random.Random
) -> datetime | str:
    """When to try again, or why not to (a string)."""
    attempts = max(item.attempts for item in batch.items) + 1
    if error.permanent:
        return "permanent failure"
    started = min(item.created_at for item in batch.items) + config.hold()
    if is_dead(started, now, config.retry_window):
        return f"gave up after {attempts} attempts in {format_duration(now - started)}"
    deadline = started + config.retry_window
    if error.retry_after is not None and now + timedelta(seconds=error.retry_after) > deadline:
        return "receiver asked to wait past the retry window"
    wanted = next_attempt(attempts, now, retry_after=error.retry_after, rng=rng)
    return min(wanted, deadline)


# --- planning (pure) ---------------------------------------------------------------------------


def plan(items: Iterable[OutboxItem], configs: Mapping[str, ChannelConfig]) -> list[Batch]:
    """Batches per channel: wire copies merged; a digest channel's items in one message."""
    ordered = sorted(items, key=lambda i: (i.created_at, i.id))
    batches: list[Batch] = []
    for name in dict.fromkeys(i.event.channel for i in ordered):
        config = configs[name]
        members = [i for i in ordered if i.event.channel == name]
        groups = [
            Batch(name, tuple(g), (merge(g),)) for g in wire_groups(members, config.group_window)
        ]
        batches += digest(groups) if config.digest is not None else groups
    return batches


def digest(groups: list[Batch]) -> list[Batch]:
    """All of a digest channel's due alerts in one message; a test alert still goes alone."""
    tests = [g for g in groups if g.events[0].event == "test"]
    rest = [g for g in groups if g.events[0].event != "test"]
    if not rest:
        return tests
    combined = Batch(
        rest[0].channel,
        tuple(i for g in rest for i in g.items),
        tuple(e for g in rest for e in g.events),
    )
    return [combined, *tests]


def wire_groups(items: Sequence[OutboxItem], window: timedelta) -> list[list[OutboxItem]]:
    """Cluster copies of one wire story: each item joins the first group whose head it matches."""
    groups: list[list[OutboxItem]] = []
    for item in items:
        home = next((g for g in groups if same_story(g[0], item, window)), None)
        if home is None:
            groups.append([item])
        else:
            home.append(item)
    return groups


def same_story(head: OutboxItem, item: OutboxItem, window: timedelta) -> bool:
    """Match alerts on one topic whose texts are near-duplicates, raised within `window`."""
    a, b = head.event, item.event
    if a.event != "match" or b.event != "match" or a.topic != b.topic:
        return False
    if a.article is None or b.article is None or abs(head.created_at - item.created_at) > window:
        return False
    return near_duplicate(a.article.fingerprint, b.article.fingerprint)


def near_duplicate(a: int | None, b: int | None, bits: int = NEAR_DUPLICATE_BITS) -> bool:
    """Simhash Hamming distance <= `bits`; masked because a database may store them signed."""
    if a is None or b is None:
        return False
    return ((a ^ b) & _MASK64).bit_count() <= bits


def merge(items: Sequence[OutboxItem]) -> AlertEvent:
    """One event for a group: the first item's, listing every copy's source."""
    first = items[0].event
    if len(items) == 1 or first.article is None:
        return first
    refs = _unique(ref for i in items if i.event.article for ref in i.event.article.source_refs())
    feeds = tuple(dict.fromkeys(ref.feed for ref in refs))
    return replace(first, article=replace(first.article, feeds=feeds, sources=refs))


def _unique(refs: Iterable[SourceRef]) -> tuple[SourceRef, ...]:
    seen: dict[tuple[str, str], SourceRef] = {}
    for ref in refs:
        seen.setdefault((ref.feed, ref.url), ref)
    return tuple(seen.values())
