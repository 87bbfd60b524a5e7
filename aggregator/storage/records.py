"""Records that cross the storage boundary inward (drafts to write) and outward
(state the pipeline needs). Plain frozen dataclasses: no rows escape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.types import FeedState, QueueDepths


@dataclass(frozen=True)
class FeedMeta:
    """What a feed document said about itself, written whenever one was parsed."""

    title: str | None
    ttl_minutes: int | None
    identity_rule: str | None
    #: what parsing it warned about (a guessed encoding, items over the cap ...):
    #: kept on the feed until the next document is parsed
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedUpdate:
    """One poll's write to its feed's fetch state, as the pipeline decided it (the
    role of reader's FeedUpdateIntent). Storage maps it to columns.

    A success (`ok`) clears the error fields and writes the validators; a failure
    keeps them. The optional fields below the line are written only when set.
    """

    feed_id: int
    polled_at: datetime
    next_due_at: datetime
    status: int | None
    ok: bool = True
    error: str | None = None
    error_kind: str | None = None
    error_count: int = 0
    failing_since: datetime | None = None
    health: str | None = None
    etag: str | None = None  # a success's validators (kept from before when not sent)
    last_modified: str | None = None
    max_age_s: float | None = None
    # ---- written only when set
    body_hash: str | None = None  # the body was read (not a 304)
    meta: FeedMeta | None = None  # the body parsed as a feed
    permanent_redirect: str | None = None
    last_new_at: datetime | None = None  # this poll found new items
    avg_new_interval_s: float | None = None
    retry_after_until: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True)
class KnownEntry:
    article_id: int
    fingerprint: str | None
    gone: bool = False  # no longer listed by its feed
    when: datetime | None = None  # the article's publication date, else first seen
    title: str | None = None  # the article's title (for a retraction's summary)


@dataclass(frozen=True)
class PollReads:
    """All one poll reads before deciding (``Store.poll_reads``)."""

    entries: dict[str, KnownEntry]  # entry key → what the feed listed under it before
    articles: dict[str, int]  # article key → id, for entries new to this feed


@dataclass(frozen=True)
class Retraction:
    """An article possibly pulled: marked once, with a change row, re-checked at once."""

    article_id: int
    reason: str
    next_check_at: datetime | None
    summary: dict[str, Any]


@dataclass(frozen=True)
class MatchDraft:
    """A topic match to store with the article version it was found in."""

    topic: str
    terms: tuple[str, ...]
    snippets: tuple[dict[str, Any], ...]
    explanation: dict[str, Any] | None = None  # how it matched (see MatchRow.explanation)


@dataclass(frozen=True)
class AlertDraft:
    """An outbox row to write in the same transaction as its cause."""

    alert_id: str
    channel: str
    event: str
    topic: str | None
    payload: dict[str, Any]
    not_before: datetime
    created_at: datetime | None = None


@dataclass(frozen=True)
class OutboxClaim:
    """An outbox row leased for delivery; `payload` is the stored JSON event."""

    id: int
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    not_before: datetime


@dataclass(frozen=True)
class ArticleDraft:
    """A new article as the pipeline built it, before it has an id."""

    key: str
    url: str | None
    site: str | None
    title: str | None
    author: str | None
    summary: str | None
    text: str
    published: datetime | None
    updated: datetime | None
    language: str | None
    extracted: bool
    extract_error: str | None
    extractor_version: str | None
    content_hash: str
    comparable_hash: str
    fingerprint: int | None
    monitor: bool = True
    watch: str | None = None
    check_etag: str | None = None
    check_last_modified: str | None = None
    next_check_at: datetime | None = None
    published_source: str | None = None  # published | page | updated


@dataclass(frozen=True)
class EntryLink:
    """Feed entry → article: either an existing article id or a draft index."""

    entry_key: str
    fingerprint: str | None
    article_id: int | None = None
    draft_index: int | None = None


@dataclass(frozen=True)
class IngestBatch:
    """Everything one feed poll writes, in one transaction (its write intent, with the
    FeedUpdate that follows in the cycle's batch of fetch states)."""

    feed_id: int
    drafts: tuple[ArticleDraft, ...] = ()
    links: tuple[EntryLink, ...] = ()
    touched: tuple[tuple[str, str | None], ...] = ()  # (entry_key, new fingerprint) updated items
    seen_keys: tuple[str, ...] = ()  # listed again after having gone: gone_at is cleared
    gone_keys: tuple[str, ...] = ()  # no longer listed: gone_at is set
    matches: dict[int, tuple[MatchDraft, ...]] = field(default_factory=dict)  # draft index →
    now: datetime | None = None
    recheck: tuple[int, ...] = ()  # articles whose feed item changed: re-check them now
    retractions: tuple[Retraction, ...] = ()


@dataclass(frozen=True)
class CheckTarget:
    """An article due for a re-check."""

    id: int
    url: str
    site: str | None
    title: str | None
    text: str
    language: str | None
    first_seen_at: datetime
    last_checked_at: datetime | None
    version_count: int
    etag: str | None
    last_modified: str | None
    watch: str | None
    feeds: tuple[str, ...]
    tags: tuple[str, ...]
    check_errors: int = 0
    retracted: str | None = None
    key: str = ""  # the story's identity key (alert ids derive from it)
    published: datetime | None = None


__all__ = ["FeedState", "QueueDepths"]  # public records, re-exported for storage's users
