"""The poll's decisions, in pure code: no database, no network, no clock.

`ingest.pipeline` reads what a poll needs once (the feed's state, the entries
it listed before, the articles other feeds already stored), calls these
functions, and hands storage one typed intent per feed: an ``IngestBatch``
(articles, links, gone and returning entries, re-checks, retractions) through
the group-commit writer, and a ``FeedUpdate`` for the fetch state. The shape
follows reader's update split (``_update``: decider and intents, learned from,
not copied): everything here is testable with plain values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aggregator.storage.records import FeedMeta, FeedState, FeedUpdate, KnownEntry, Retraction

if TYPE_CHECKING:
    from aggregator.http.fetcher import FetchResult

#: Why an item that vanished from its feed is flagged as a possible retraction.
VANISHED = "item vanished from its feed while neighbours remain"


@dataclass(frozen=True)
class PollOutcome:
    """What happened, for the scheduler's next-due decision."""

    ok: bool
    new: int = 0
    status: int | None = None
    retry_after: float | None = None
    max_age: float | None = None
    ttl_minutes: int | None = None
    error_count: int = 0


#: The next-due decision: (feed state, outcome, now) → when to poll again.
Schedule = Callable[[FeedState, PollOutcome, datetime], datetime]


# ------------------------------------------------------------------ identity


_RULE_RANK = {"id": 0, "url": 1, "hash": 2}


def pinned_rule(stored: str | None, chosen: str) -> Any:
    """Identity rules only ever degrade for a feed (id → url → hash): a feed whose ids
    went missing once must not see every entry re-keyed back and forth."""
    if stored in _RULE_RANK and _RULE_RANK[stored] > _RULE_RANK[chosen]:
        return stored
    return chosen


# ------------------------------------------------------------------ entries


@dataclass(frozen=True)
class EntryPlan:
    """What one poll does with the entries its feed lists, against those it listed before."""

    fresh: tuple[str, ...]  # keys never seen: to become articles (or links to stored ones)
    touched: tuple[tuple[str, str | None], ...]  # (key, new fingerprint): the item changed
    recheck: tuple[int, ...]  # articles of changed items: re-check their pages now
    seen: tuple[str, ...]  # listed again after having gone
    gone: tuple[str, ...]  # no longer listed
    retract: tuple[int, ...]  # possible retractions (see possible_retractions)


def plan_entries(listed: Mapping[str, str | None], stored: Mapping[str, KnownEntry]) -> EntryPlan:
    """Compare the entries listed now (key → fingerprint, in feed order) with those
    stored for the feed (see ``Store.poll_reads``)."""
    touched = tuple(
        (k, fp) for k, fp in listed.items() if k in stored and stored[k].fingerprint != fp
    )
    gone = vanished_keys(stored, listed.keys()) if listed else []
    return EntryPlan(
        fresh=tuple(k for k in listed if k not in stored),
        touched=touched,
        recheck=tuple(sorted({stored[k].article_id for k, _ in touched})),
        seen=tuple(k for k in listed if k in stored and stored[k].gone),
        gone=tuple(gone),
        retract=tuple(possible_retractions(stored, listed.keys())) if gone else (),
    )


def vanished_keys(stored: Mapping[str, KnownEntry], listed: Any) -> list[str]:
    """Entries still marked as listed that this poll no longer lists."""
    return [k for k, e in stored.items() if not e.gone and k not in listed]


def possible_retractions(stored: Mapping[str, KnownEntry], listed: Any) -> list[int]:
    """Articles that vanished while an older item is still listed: a possible retraction,
    not a feed's rolling window (whose oldest items drop off the end)."""
    live = {k: e for k, e in stored.items() if not e.gone}
    still = [e.when for k, e in live.items() if k in listed and e.when]
    if not still:
        return []
    oldest = min(still)
    return sorted(
        {e.article_id for k, e in live.items() if k not in listed and e.when and e.when > oldest}
    )


def retractions(
    article_ids: Sequence[int], titles: Mapping[int, str | None], now: datetime
) -> tuple[Retraction, ...]:
    """The retraction records to write: each re-checked at once (a 404/410 confirms)."""
    from aggregator.changes import retraction_summary

    out = []
    for aid in article_ids:
        summary = retraction_summary(titles.get(aid) or "")
        data = {**dataclasses.asdict(summary), "kind": "retraction", "reasons": [VANISHED]}
        out.append(Retraction(aid, VANISHED, now, data))
    return tuple(out)


# ------------------------------------------------------------------ fetch state


@dataclass(frozen=True)
class Rhythm:
    """When a feed last brought new items, and the usual gap between such polls."""

    last_new_at: datetime
    avg_new_interval_s: float | None


def rhythm(state: FeedState, now: datetime) -> Rhythm:
    """Exponential moving average of the gap between polls that found new items."""
    if state.last_new_at is None:
        return Rhythm(now, None)
    gap = (now - state.last_new_at).total_seconds()
    avg = gap if state.avg_new_interval_s is None else 0.7 * state.avg_new_interval_s + 0.3 * gap
    return Rhythm(now, avg)


def success_update(
    state: FeedState,
    fetched: FetchResult,
    meta: FeedMeta | None,
    now: datetime,
    *,
    new: int,
    schedule: Schedule,
) -> FeedUpdate:
    """The fetch state after a poll that worked (304, unchanged body, or parsed)."""
    outcome = PollOutcome(
        True,
        new=new,
        status=fetched.status,
        max_age=fetched.max_age,
        ttl_minutes=meta.ttl_minutes if meta else None,
    )
    beat = rhythm(state, now) if new else None
    if beat is not None and beat.avg_new_interval_s is not None:
        # schedule on the rhythm including this poll
        state = dataclasses.replace(state, avg_new_interval_s=beat.avg_new_interval_s)
    return FeedUpdate(
        state.id,
        polled_at=now,
        next_due_at=schedule(state, outcome, now),
        status=fetched.status,
        etag=fetched.etag or state.etag,
        last_modified=fetched.last_modified or state.last_modified,
        max_age_s=fetched.max_age,
        body_hash=None if fetched.not_modified else fetched.content_hash,
        meta=meta,
        permanent_redirect=fetched.permanent_redirect or None,
        last_new_at=beat.last_new_at if beat else None,
        avg_new_interval_s=beat.avg_new_interval_s if beat else None,
    )


@dataclass(frozen=True)
class Failure:
    """A failed poll as the decision needs it (from a FetchError or ParseError)."""

    message: str
    kind: str
    status: int | None = None
    retry_after: float | None = None
    looks_like_html: bool = False


def failure_update(
    state: FeedState, failure: Failure, now: datetime, *, schedule: Schedule
) -> FeedUpdate:
    """The fetch state after a failed poll: errors counted, a 410 disables the feed."""
    outcome = PollOutcome(
        False,
        status=failure.status,
        retry_after=failure.retry_after,
        error_count=state.error_count + 1,
    )
    due = schedule(state, outcome, now)  # Retry-After bounded by the backoff cap (rhythm)
    return FeedUpdate(
        state.id,
        polled_at=now,
        next_due_at=due,
        status=failure.status,
        ok=False,
        error=failure.message,
        error_kind=failure.kind,
        error_count=state.error_count + 1,
        failing_since=state.failing_since or now,
        health="html" if failure.looks_like_html else state.health,
        # the host's wish, as every command honours it: no longer than the feed's own wait,
        # so a server asking for a year does not park all its feeds and stories for one
        retry_after_until=(
            min(now + timedelta(seconds=failure.retry_after), due) if failure.retry_after else None
        ),
        disabled_reason=(
            f"410 Gone at {now:%Y-%m-%d %H:%M} UTC: {failure.message}"
            if failure.status == 410
            else None
        ),
    )
