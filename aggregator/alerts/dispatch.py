"""The outbox dispatcher: claim due alerts, group them, send, record each outcome.

Delivery is at-least-once. An item is marked sent only after the receiver
accepted it, and as soon as it did, so only a crash between the two re-sends it
later under the same alert id (webhook-id, Message-ID), which receivers use to
drop the duplicate. A claim is renewed while its items wait their turn, so a
slow receiver does not let another worker send them a second time.
The store is a Protocol so the same dispatcher runs on the real database and
on the in-memory store the tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from aggregator.alerts.policy import is_dead, next_attempt
from aggregator.alerts.registry import Channel, ChannelConfig
from aggregator.alerts.types import AlertEvent, Delivery, SourceRef
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
        channels: Collection[str] | None = None,
        early: Collection[str] = (),
    ) -> list[OutboxItem]:
        """Pending items with not_before <= now and no live lease, leased to `worker`
        (only those of `ids` when given: `alerts retry ID` sends exactly those; only
        those of `channels` when given: the daemon's lane per channel). Items of the
        `early` channels never tried yet are due whatever their not_before: `run --once`
        sends what it held for grouping instead of leaving it to the next cron run."""
        ...

    def recent_matches(self, since: datetime, channels: Collection[str]) -> list[OutboxItem]:
        """Match alerts of `channels` raised at `since` or later that are neither dead nor
        folded (in any state, leased or not): what a later copy may be folded into."""
        ...

    def mark_folded(self, ids: Sequence[int], into: int, now: datetime, detail: str) -> None:
        """These copies went out as alert `into` (already sent or on its way): never sent."""
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

    def renew(self, ids: Sequence[int], worker: str, until: datetime) -> list[int]:
        """Extend `worker`'s lease on these items; returns those it still holds."""
        ...

    def release(self, ids: Sequence[int], worker: str) -> None:
        """Give `worker`'s claim on these items back, untried (no attempt counted)."""
        ...


@dataclass
class DispatchReport:
    """What one `deliver_due` pass did, counted in outbox items (not messages)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    folded: int = 0  # copies of a story already alerted: recorded, not sent again
    errors: list[str] = field(default_factory=list)

    def merge(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.folded += other.folded
        self.retried += other.retried
        self.dead += other.dead
        self.errors += other.errors


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
    clock: Callable[[], datetime] | None = None,
    only: Collection[str] | None = None,
    ids: Collection[int] | None = None,
    flush: bool = False,
) -> DispatchReport:
    """One dispatcher pass: send everything due, recording each outcome as it comes.

    Channels send concurrently, one channel's batches in order. Each batch's
    outcome is written as soon as its receiver answered (in a thread: store
    calls block), so a slow receiver never leaves accepted alerts unrecorded
    while the rest of the pass runs. While any claimed item is still unsent, the
    claim is renewed every third of `lease` (another worker would otherwise take
    the items over and send them too); a batch whose claim was lost anyway (this
    worker stalled past its lease) is not sent. A lane stops at its channel's
    first transient failure and releases the rest of its claims: a receiver that
    is down or hanging costs one timeout per pass, not one per queued alert.
    `only` restricts the pass to those channels (the daemon runs one per channel),
    `ids` to those alerts. A copy of a story already alerted on its channel within
    `group_window` is folded into that alert, never sent (see `fold_targets`). `flush`
    also sends what is still held for grouping (not digests): `run --once` leaves
    nothing to the next cron run.
    """
    clock = clock or _elapsed_from(now)
    report = DispatchReport()
    early = [n for n, c in configs.items() if flush and c.digest is None]
    items = await asyncio.to_thread(
        store.claim_due,
        now,
        limit=limit,
        worker=worker,
        lease=lease,
        ids=ids,
        channels=only,
        early=early,
    )
    known = await asyncio.to_thread(_drop_orphans, store, items, channels, configs, now, report)
    known = await asyncio.to_thread(_fold_copies, store, known, configs, now, report)
    lanes: dict[str, list[Batch]] = {}
    for batch in plan(known, configs):
        lanes.setdefault(batch.channel, []).append(batch)
    claim = _Claim(store, worker, lease, clock, {i.id for i in known})
    renewing = asyncio.create_task(claim.keep_renewed())
    try:
        results = await asyncio.gather(
            *(
                _run_lane(channels[name], configs[name], lane, claim, now, rng, report)
                for name, lane in lanes.items()
            ),
            return_exceptions=True,
        )
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
    return report


def _elapsed_from(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at `start` and follows the wall clock's pace."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


@dataclass
class _Claim:
    """This pass's claimed, not yet recorded items, and the renewal of their lease."""

    store: OutboxStore
    worker: str
    lease: timedelta
    clock: Callable[[], datetime]
    open: set[int]
    lost: set[int] = field(default_factory=set)

    def settle(self, ids: Iterable[int]) -> None:
        self.open.difference_update(ids)

    def held(self, batch: Batch) -> bool:
        return not self.lost.intersection(batch.ids)

    async def keep_renewed(self) -> None:
        """Extend the lease of the open items every third of the lease, until cancelled."""
        every = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            ids = sorted(self.open)
            if not ids:
                continue
            try:
                kept = await asyncio.to_thread(
                    self.store.renew, ids, self.worker, self.clock() + self.lease
                )
            except Exception as e:  # noqa: BLE001 - a failed renewal is retried, never fatal
                log.warning("could not renew the lease of %d alerts: %s", len(ids), e)
                continue
            gone = set(ids) - set(kept) - self.lost
            if gone & self.open:
                log.warning(
                    "lost the claim on %d alerts (another worker took them over): not sent here",
                    len(gone & self.open),
                )
            self.lost |= gone & self.open


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


def _fold_copies(
    store: OutboxStore,
    items: list[OutboxItem],
    configs: Mapping[str, ChannelConfig],
    now: datetime,
    report: DispatchReport,
) -> list[OutboxItem]:
    """Fold the claimed copies of stories already alerted; returns the items to send."""
    windows = {n: c.group_window for n, c in configs.items() if c.group_window > timedelta(0)}
    copies = [i for i in items if i.event.event == "match" and i.event.channel in windows]
    if not copies:
        return items
    since = min(i.created_at - windows[i.event.channel] for i in copies)
    claimed = {i.id for i in items}
    earlier = [
        r
        for r in store.recent_matches(since, sorted({i.event.channel for i in copies}))
        if r.id not in claimed
    ]
    targets = fold_targets(copies, earlier, windows)
    for into in sorted({t.id for t in targets.values()}):
        target = next(t for t in targets.values() if t.id == into)
        ids = sorted(i for i, t in targets.items() if t.id == into)
        detail = f"folded into alert #{into} ({target.event.alert_id}): a copy of the same story"
        store.mark_folded(ids, into, now, detail)
        report.folded += len(ids)
        log.info("alerts %s via %s %s", ids, target.event.channel, detail)
    return [i for i in items if i.id not in targets]


async def _run_lane(
    channel: Channel,
    config: ChannelConfig,
    batches: list[Batch],
    claim: _Claim,
    now: datetime,
    rng: random.Random,
    report: DispatchReport,
) -> None:
    """One channel's batches, in order, each recorded as soon as it is answered."""
    for n, batch in enumerate(batches):
        if not claim.held(batch):
            claim.settle(batch.ids)
            continue
        outcome = await _attempt(channel, batch)
        mine = DispatchReport()  # filled in the thread, merged here on the event loop
        try:
            await asyncio.to_thread(_record, claim.store, config, batch, outcome, now, rng, mine)
        finally:
            claim.settle(batch.ids)
        report.merge(mine)
        if isinstance(outcome, DeliveryError) and not outcome.permanent:
            await _release_rest(claim, batches[n + 1 :])
            return


async def _release_rest(claim: _Claim, rest: list[Batch]) -> None:
    """The channel is failing: hand the lane's other claims back for a later pass."""
    ids = [i for batch in rest for i in batch.ids if claim.held(batch)]
    claim.settle(i for batch in rest for i in batch.ids)
    if ids:
        await asyncio.to_thread(claim.store.release, ids, claim.worker)


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


def fold_targets(
    items: Sequence[OutboxItem], earlier: Sequence[OutboxItem], windows: Mapping[str, timedelta]
) -> dict[int, OutboxItem]:
    """For each item that copies a story already queued or sent, the alert it folds into.

    An item folds into the oldest (lowest row id) copy on its channel and topic with
    near-duplicate text raised within the channel's window of it, that is neither dead
    nor itself folded (`earlier`). Row ids follow commit order, so of two copies being
    claimed at once by two workers, only the later one folds: one of them is always sent.
    """
    found: dict[int, OutboxItem] = {}
    ranked = sorted(earlier, key=lambda r: r.id)
    for item in items:
        window = windows.get(item.event.channel)
        if window is None:
            continue
        home = next(
            (
                r
                for r in ranked
                if r.id < item.id
                and r.event.channel == item.event.channel
                and same_story(r, item, window)
            ),
            None,
        )
        if home is not None:
            found[item.id] = home
    return found


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
