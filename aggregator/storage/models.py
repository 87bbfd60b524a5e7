"""SQLModel tables. Rows never leave ``aggregator.storage``: queries convert them
to the public records in ``aggregator.types``.

Times are stored as naive UTC (SQLite has no time zones) and come back as
aware UTC through :class:`~aggregator.storage.coltypes.UTCDateTime`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import DateTime
from sqlmodel import Field, SQLModel

from aggregator.storage.coltypes import UTCDateTime


def _ts(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), **kw))


def _json(default: Any) -> Any:
    return Field(default_factory=default.copy, sa_column=Column(JSON, nullable=False))


class FeedRow(SQLModel, table=True):
    __tablename__ = "feed"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    url: str = Field(sa_column=Column(Text, nullable=False))
    title: str | None = Field(default=None, sa_column=Column(Text))
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, max_length=100)
    body_hash: str | None = Field(default=None, max_length=64)
    identity_rule: str | None = Field(default=None, max_length=8)
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_kind: str | None = Field(default=None, max_length=20)
    error_count: int = 0
    last_polled_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_new_at: datetime | None = _ts()
    failing_since: datetime | None = _ts()
    next_due_at: datetime | None = _ts(index=True)
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text))
    permanent_redirect: str | None = Field(default=None, sa_column=Column(Text))
    ttl_minutes: int | None = None
    max_age_s: float | None = None
    retry_after_until: datetime | None = _ts()
    avg_new_interval_s: float | None = None
    health: str | None = Field(default=None, max_length=40)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _ts()
    created_at: datetime | None = _ts()
    #: what the last poll warned about (a guessed encoding, items over the cap ...)
    last_warnings: list[str] | None = Field(default=None, sa_column=Column(JSON))


class HostWaitRow(SQLModel, table=True):
    """A host's Retry-After met outside a feed's own poll (a re-check, a story page),
    by origin (``scheme://host:port``); a feed's is kept on its row."""

    __tablename__ = "host_wait"

    origin: str = Field(primary_key=True, max_length=300)
    wait_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: int | None = None


class ArticleRow(SQLModel, table=True):
    __tablename__ = "article"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    url: str | None = Field(default=None, sa_column=Column(Text))
    site: str | None = Field(default=None, max_length=255, index=True)
    title: str | None = Field(default=None, sa_column=Column(Text))
    author: str | None = Field(default=None, sa_column=Column(Text))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    text: str | None = Field(default=None, sa_column=Column(Text))
    published: datetime | None = _ts(index=True)
    #: where `published` comes from: published (the feed's), page, updated (the feed's)
    published_source: str | None = Field(default=None, max_length=12)
    updated: datetime | None = _ts()
    language: str | None = Field(default=None, max_length=12)
    extracted: bool = False
    extract_error: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str | None = Field(default=None, max_length=64)
    fingerprint: int | None = Field(default=None, sa_column=Column(BigInteger))
    version_count: int = 0
    first_seen_at: datetime | None = _ts(index=True)
    last_checked_at: datetime | None = _ts()
    next_check_at: datetime | None = _ts(index=True)
    check_etag: str | None = Field(default=None, sa_column=Column(Text))
    check_last_modified: str | None = Field(default=None, max_length=100)
    check_errors: int = 0
    monitor: bool = True
    retracted: str | None = Field(default=None, sa_column=Column(Text))
    watch: str | None = Field(default=None, max_length=100, index=True)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _ts()


class FeedEntryRow(SQLModel, table=True):
    """Which feed carries which article, under which entry key."""

    __tablename__ = "feed_entry"
    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key"),
        # the entries a feed still lists (migration 0003): what each poll compares against
        Index(
            "ix_feed_entry_live",
            "feed_id",
            sqlite_where=text("gone_at IS NULL"),
            postgresql_where=text("gone_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    entry_key: str = Field(sa_column=Column(Text, nullable=False))
    fingerprint: str | None = Field(default=None, max_length=64)
    first_seen_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    gone_at: datetime | None = _ts()


class VersionRow(SQLModel, table=True):
    __tablename__ = "version"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    number: int
    title: str | None = Field(default=None, sa_column=Column(Text))
    text: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=64)
    comparable_hash: str | None = Field(default=None, max_length=64)
    extractor_version: str | None = Field(default=None, max_length=64)
    fetched_at: datetime | None = _ts()
    kind: str = Field(default="initial", max_length=12)
    revert_of: int | None = None


class MatchRow(SQLModel, table=True):
    __tablename__ = "match"
    __table_args__ = (
        UniqueConstraint("article_id", "version", "topic"),
        Index("ix_match_topic_article", "topic", "article_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    version: int
    topic: str = Field(max_length=100)
    terms: list[str] = _json([])
    snippets: list[dict[str, Any]] = _json([])
    created_at: datetime | None = _ts()
    # how it matched: {"method": literal|expanded|semantic, "score", "threshold",
    # "sentences": [...], "expanded_terms": [...]}; NULL for rows older than 0007
    explanation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ChangeRow(SQLModel, table=True):
    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    from_version: int
    to_version: int
    kind: str = Field(max_length=20)
    summary: dict[str, Any] = _json({})
    topics: dict[str, Any] = _json({})
    created_at: datetime | None = _ts(index=True)


class OutboxRow(SQLModel, table=True):
    """The transactional outbox: written with the match that causes it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(max_length=80, unique=True)
    channel: str = Field(max_length=100, index=True)
    event: str = Field(max_length=12)
    topic: str | None = Field(default=None, max_length=100)
    article_id: int | None = Field(default=None, index=True)
    payload: dict[str, Any] = _json({})
    status: str = Field(default="pending", max_length=10, index=True)
    attempts: int = 0
    created_at: datetime | None = _ts()
    not_before: datetime | None = _ts()
    next_attempt_at: datetime | None = _ts(index=True)
    first_attempt_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    detail: str | None = Field(default=None, sa_column=Column(Text))
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _ts()


class SiteBoilerplateRow(SQLModel, table=True):
    """Lines that recur across a site's articles (promo blocks), ignored in diffs."""

    __tablename__ = "site_boilerplate"

    site: str = Field(primary_key=True, max_length=255)
    lines: list[str] = _json([])
    samples: int = 0
    updated_at: datetime | None = _ts()


class InstallationRow(SQLModel, table=True):
    """One row, made with the database (migration 0004): what makes alert ids global."""

    __tablename__ = "installation"

    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


# The desk's per-user triage state (storage/desk.py; migration 0005).

desk_state = Table(
    "desk_state",
    SQLModel.metadata,
    Column("user_name", String(100), primary_key=True),
    Column("article_id", Integer, primary_key=True),
    Column("read", Boolean, nullable=True),
    Column("read_at", UTCDateTime(), nullable=True),
    Column("starred", Boolean, nullable=False, default=False),
    Column("starred_at", UTCDateTime(), nullable=True),
    Index("ix_desk_state_starred", "user_name", "starred", "article_id"),
)

desk_user = Table(
    "desk_user",
    SQLModel.metadata,
    Column("name", String(100), primary_key=True),
    Column("read_through", Integer, nullable=False, default=0),
    Column("read_through_at", UTCDateTime(), nullable=True),
)

desk_setting = Table(
    "desk_setting",
    SQLModel.metadata,
    Column("key", String(100), primary_key=True),
    Column("value", String(200), nullable=False),
)
