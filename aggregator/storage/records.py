"""Records that cross the storage boundary inward (drafts to write) and outward
(state the pipeline needs). Plain frozen dataclasses: no rows escape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FeedState:
    """What the pipeline needs to poll a feed."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    identity_rule: str | None
    disabled_reason: str | None
    error_count: int
    next_due_at: datetime | None
    last_success_at: datetime | None
    last_new_at: datetime | None
    avg_new_interval_s: float | None
    failing_since: datetime | None
    health: str | None
    last_status: int | None = None
    last_error: str | None = None
    last_polled_at: datetime | None = None
    permanent_redirect: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class KnownEntry:
    article_id: int
    fingerprint: str | None
    gone: bool = False  # no longer listed by its feed
    when: datetime | None = None  # the article's publication date, else first seen


@dataclass(frozen=True)
class MatchDraft:
    """A topic match to store with the article version it was found in."""

    topic: str
    terms: tuple[str, ...]
    snippets: tuple[dict[str, Any], ...]


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
    """Everything one feed poll writes, in one transaction."""

    feed_id: int
    drafts: tuple[ArticleDraft, ...] = ()
    links: tuple[EntryLink, ...] = ()
    touched: tuple[tuple[str, str | None], ...] = ()  # (entry_key, new fingerprint) updated items
    seen_keys: tuple[str, ...] = ()  # listed again after having gone: gone_at is cleared
    gone_keys: tuple[str, ...] = ()  # no longer listed: gone_at is set
    matches: dict[int, tuple[MatchDraft, ...]] = field(default_factory=dict)  # draft index →
    now: datetime | None = None


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
