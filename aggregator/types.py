"""Public record types: frozen dataclasses, one per stage.

Database rows never leave ``aggregator.storage``; callers (CLI, daemon,
benchmarks, tests) only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ArticleStatus = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class Feed:
    """A configured feed joined with its fetch state from the database."""

    name: str
    url: str
    interval_s: float
    extract: bool
    monitor: bool
    tags: tuple[str, ...] = ()
    enabled: bool = True
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    next_due_at: datetime | None = None
    error_count: int = 0
    disabled_reason: str | None = None
    permanent_redirect: str | None = None
    articles: int = 0
    #: what the last poll that parsed the feed warned about ("decoded as cp1252" ...)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddedFeed:
    """A feed `feeds add` (or a reader app) added: its entry, and what validating it found."""

    name: str
    url: str
    title: str | None
    format: str
    entries: int
    discovered_from: str | None  # the page URL given, when its announced feed was added
    announced: tuple[str, ...] = ()  # every feed that page announced (the added one among them)


@dataclass(frozen=True)
class Snippet:
    """About 200 characters around topic hits; highlights index into text."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Match:
    """A topic matched an article version."""

    topic: str
    article_id: int
    version: int
    terms: tuple[str, ...]
    snippets: tuple[Snippet, ...]
    created_at: datetime
    method: str = "literal"  # literal | expanded | semantic (cross-lingual topics)
    score: float | None = None  # semantic score of the best sentence, for non-literal
    explanation: dict[str, Any] | None = None  # sentences, threshold, expanded terms


@dataclass(frozen=True)
class Version:
    """One stored text of an article. kind: initial, edit or revert."""

    article_id: int
    number: int
    title: str | None
    text: str
    content_hash: str
    extractor_version: str | None
    fetched_at: datetime
    kind: str = "initial"
    revert_of: int | None = None


@dataclass(frozen=True)
class Article:
    """A stored story, whichever feeds carry it."""

    id: int
    url: str | None
    title: str | None
    feeds: tuple[str, ...]
    published: datetime | None
    language: str | None
    extracted: bool
    versions: int
    first_seen_at: datetime
    author: str | None = None
    summary: str | None = None
    text: str | None = None
    extract_error: str | None = None
    last_checked_at: datetime | None = None
    retracted: str | None = None
    matches: tuple[Match, ...] = ()
    #: where `published` comes from: "published" (the feed's date), "page" (the article
    #: page's metadata), "updated" (the feed's updated date); None: no date, see first_seen_at
    published_source: str | None = None


@dataclass(frozen=True)
class Change:
    """An edit between two versions, as listed by `changes list`."""

    article_id: int
    from_version: int
    to_version: int
    kind: str
    title: str | None
    url: str | None
    summary: dict[str, object]
    topics: dict[str, list[str]]
    created_at: datetime


@dataclass(frozen=True)
class Alert:
    """An outbox row as shown by `alerts list`."""

    id: int
    alert_id: str
    channel: str
    event: str
    topic: str | None
    article_id: int | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    title: str | None = None
    folded_into: str | None = None  # a folded copy: which alert it went out as


@dataclass(frozen=True)
class UpdateResult:
    """What one poll did to one feed. Errors are values, never crashes."""

    feed: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False
    error: str | None = None
    error_kind: str | None = None
    warnings: tuple[str, ...] = ()
    disabled: bool = False
    retry_after: float | None = None
    matches: int = 0
    article_ids: tuple[int, ...] = field(default=(), repr=False)
    #: Not polled: its server asked (429/503 Retry-After) to wait until then.
    skipped_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# ------------------------------------------------------------------ the desk (web, reader API)


@dataclass(frozen=True)
class StreamFilter:
    """Which stories a stream shows, newest first (or oldest first with `oldest_first`).

    `user` is whose read/starred state applies. `read`/`starred`: None = either,
    True = only those, False = only the others (`read=False` is "unread").
    `topic` = one topic's matches; `matched` = matched by any topic; neither = every
    stored story (the reader API's reading list). Times bound first-seen times.
    Paging is by keyset: `before`/`after` are article ids (exclusive).
    """

    user: str | None = None
    topic: str | None = None
    matched: bool = False
    feed: str | None = None
    tag: str | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    read: bool | None = None
    starred: bool | None = None
    before: int | None = None
    after: int | None = None
    oldest_first: bool = False
    limit: int = 50


@dataclass(frozen=True)
class Triage:
    """One desk user's state of one story."""

    article_id: int
    read: bool = False
    starred: bool = False
    read_at: datetime | None = None
    starred_at: datetime | None = None


@dataclass(frozen=True)
class StreamItem:
    """One row of a stream: a story, its wire copies, the match shown, its triage."""

    article: Article
    match: Match | None
    triage: Triage
    copies: tuple[Article, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """Every feed carrying the story or one of its copies, in order."""
        seen: dict[str, None] = {}
        for a in (self.article, *self.copies):
            seen.update(dict.fromkeys(a.feeds))
        return tuple(seen)


@dataclass(frozen=True)
class StreamPage:
    """A page of a stream; `next_before` (or `next_after`) continues it, None at the end."""

    items: tuple[StreamItem, ...]
    next_before: int | None = None
    next_after: int | None = None


@dataclass(frozen=True)
class DiffRun:
    """A run of text: equal, insert or delete."""

    op: str
    text: str


@dataclass(frozen=True)
class DiffRow:
    """One aligned pair of paragraphs (or the headlines): old side, new side."""

    old: tuple[DiffRun, ...]
    new: tuple[DiffRun, ...]
    changed: bool = True


@dataclass(frozen=True)
class VersionDiff:
    """Two versions of a story side by side, word by word."""

    article_id: int
    old: Version
    new: Version
    headline: DiffRow
    rows: tuple[DiffRow, ...]
    words_added: int
    words_removed: int


@dataclass(frozen=True)
class PageText:
    """A web page fetched and extracted on request (``Aggregator.fetch_page``)."""

    url: str
    title: str | None
    text: str
    language: str | None


#: Statuses after which every feed of the host waits (429 Too Many Requests, 503 Unavailable).
COOL_DOWN_STATUSES = (429, 503)


@dataclass(frozen=True)
class EditFacts:
    """What changed from a story's first version to its latest (the reader API's
    "edited: headline changed, +42 words" line)."""

    edits: int
    headline_changed: bool
    words_added: int
    words_removed: int
    latest_kind: str


@dataclass(frozen=True)
class ReaderItem:
    """A story as the reader API shows it: its text, the feeds that carried it (first
    carrier first), the topics it matched, and its edits when it has several versions."""

    article_id: int
    title: str | None
    url: str | None
    author: str | None
    published: datetime | None
    first_seen_at: datetime
    language: str | None
    text: str | None
    summary: str | None
    versions: int
    retracted: str | None
    feeds: tuple[str, ...]
    topics: tuple[str, ...]
    edits: EditFacts | None = None


@dataclass(frozen=True)
class ReaderToken:
    """A reader app's login (the token itself is never stored, only its digest)."""

    id: int
    user: str
    client: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class UnreadCounts:
    """One user's unread stories per stream, each (count up to the cap, when the
    stream's newest story was first seen)."""

    feeds: dict[str, tuple[int, datetime | None]]
    tags: dict[str, tuple[int, datetime | None]]
    topics: dict[str, tuple[int, datetime | None]]
    total: tuple[int, datetime | None]


@dataclass(frozen=True)
class FeedState:
    """A feed's fetch state as stored: what a poll, the daemon's health checks and
    the scheduler read (a public record: the facade returns it)."""

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
    warnings: tuple[str, ...] = ()  # of the last document parsed


@dataclass(frozen=True)
class QueueDepths:
    """Work waiting right now: the backlog gauges of /metrics."""

    due_feeds: int
    pending_alerts: int
    due_rechecks: int
