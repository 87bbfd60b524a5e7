"""SQLModel tables. Rows never leave ``aggregator.storage``: queries convert them
to the public records in ``aggregator.types``.

Times are stored as naive UTC (SQLite has no time zones) and come back as
aware UTC through :class:`UTCDateTime`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


def _ts(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), **kw))


def _json(default: Any) -> Any:
    return Field(default_factory=lambda: default.copy(), sa_column=Column(JSON, nullable=False))


class FeedRow(SQLModel, table=True):
    __tablename__ = "feed"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    url: str = Field(sa_column=Column(Text, nullable=False))
    title: Optional[str] = Field(default=None, sa_column=Column(Text))
    etag: Optional[str] = Field(default=None, sa_column=Column(Text))
    last_modified: Optional[str] = Field(default=None, max_length=100)
    body_hash: Optional[str] = Field(default=None, max_length=64)
    identity_rule: Optional[str] = Field(default=None, max_length=8)
    last_status: Optional[int] = None
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    last_error_kind: Optional[str] = Field(default=None, max_length=20)
    error_count: int = 0
    last_polled_at: Optional[datetime] = _ts()
    last_success_at: Optional[datetime] = _ts()
    last_new_at: Optional[datetime] = _ts()
    failing_since: Optional[datetime] = _ts()
    next_due_at: Optional[datetime] = _ts(index=True)
    disabled_reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    permanent_redirect: Optional[str] = Field(default=None, sa_column=Column(Text))
    ttl_minutes: Optional[int] = None
    max_age_s: Optional[float] = None
    retry_after_until: Optional[datetime] = _ts()
    avg_new_interval_s: Optional[float] = None
    health: Optional[str] = Field(default=None, max_length=40)
    lease_owner: Optional[str] = Field(default=None, max_length=100)
    lease_until: Optional[datetime] = _ts()
    created_at: Optional[datetime] = _ts()


class ArticleRow(SQLModel, table=True):
    __tablename__ = "article"

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    url: Optional[str] = Field(default=None, sa_column=Column(Text))
    site: Optional[str] = Field(default=None, max_length=255, index=True)
    title: Optional[str] = Field(default=None, sa_column=Column(Text))
    author: Optional[str] = Field(default=None, sa_column=Column(Text))
    summary: Optional[str] = Field(default=None, sa_column=Column(Text))
    text: Optional[str] = Field(default=None, sa_column=Column(Text))
    published: Optional[datetime] = _ts(index=True)
    updated: Optional[datetime] = _ts()
    language: Optional[str] = Field(default=None, max_length=12)
    extracted: bool = False
    extract_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    content_hash: Optional[str] = Field(default=None, max_length=64)
    fingerprint: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    version_count: int = 0
    first_seen_at: Optional[datetime] = _ts(index=True)
    last_checked_at: Optional[datetime] = _ts()
    next_check_at: Optional[datetime] = _ts(index=True)
    check_etag: Optional[str] = Field(default=None, sa_column=Column(Text))
    check_last_modified: Optional[str] = Field(default=None, max_length=100)
    check_errors: int = 0
    monitor: bool = True
    retracted: Optional[str] = Field(default=None, sa_column=Column(Text))
    watch: Optional[str] = Field(default=None, max_length=100, index=True)
    lease_owner: Optional[str] = Field(default=None, max_length=100)
    lease_until: Optional[datetime] = _ts()


class FeedEntryRow(SQLModel, table=True):
    """Which feed carries which article, under which entry key."""

    __tablename__ = "feed_entry"
    __table_args__ = (UniqueConstraint("feed_id", "entry_key"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    entry_key: str = Field(sa_column=Column(Text, nullable=False))
    fingerprint: Optional[str] = Field(default=None, max_length=64)
    first_seen_at: Optional[datetime] = _ts()
    last_seen_at: Optional[datetime] = _ts()
    gone_at: Optional[datetime] = _ts()


class VersionRow(SQLModel, table=True):
    __tablename__ = "version"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    number: int
    title: Optional[str] = Field(default=None, sa_column=Column(Text))
    text: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=64)
    comparable_hash: Optional[str] = Field(default=None, max_length=64)
    extractor_version: Optional[str] = Field(default=None, max_length=64)
    fetched_at: Optional[datetime] = _ts()
    kind: str = Field(default="initial", max_length=12)
    revert_of: Optional[int] = None


class MatchRow(SQLModel, table=True):
    __tablename__ = "match"
    __table_args__ = (UniqueConstraint("article_id", "version", "topic"),
                      Index("ix_match_topic_article", "topic", "article_id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    version: int
    topic: str = Field(max_length=100)
    terms: list[str] = _json([])
    snippets: list[dict[str, Any]] = _json([])
    created_at: Optional[datetime] = _ts()


class ChangeRow(SQLModel, table=True):
    __tablename__ = "change"

    id: Optional[int] = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    from_version: int
    to_version: int
    kind: str = Field(max_length=20)
    summary: dict[str, Any] = _json({})
    topics: dict[str, Any] = _json({})
    created_at: Optional[datetime] = _ts(index=True)


class OutboxRow(SQLModel, table=True):
    """The transactional outbox: written with the match that causes it."""

    __tablename__ = "outbox"

    id: Optional[int] = Field(default=None, primary_key=True)
    alert_id: str = Field(max_length=80, unique=True)
    channel: str = Field(max_length=100, index=True)
    event: str = Field(max_length=12)
    topic: Optional[str] = Field(default=None, max_length=100)
    article_id: Optional[int] = Field(default=None, index=True)
    payload: dict[str, Any] = _json({})
    status: str = Field(default="pending", max_length=10, index=True)
    attempts: int = 0
    created_at: Optional[datetime] = _ts()
    not_before: Optional[datetime] = _ts()
    next_attempt_at: Optional[datetime] = _ts(index=True)
    first_attempt_at: Optional[datetime] = _ts()
    sent_at: Optional[datetime] = _ts()
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    detail: Optional[str] = Field(default=None, sa_column=Column(Text))
    lease_owner: Optional[str] = Field(default=None, max_length=100)
    lease_until: Optional[datetime] = _ts()


class SiteBoilerplateRow(SQLModel, table=True):
    """Lines that recur across a site's articles (promo blocks), ignored in diffs."""

    __tablename__ = "site_boilerplate"

    site: str = Field(primary_key=True, max_length=255)
    lines: list[str] = _json([])
    samples: int = 0
    updated_at: Optional[datetime] = _ts()
