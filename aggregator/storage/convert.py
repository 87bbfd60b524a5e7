"""Rows to records and drafts to rows: the one place that knows both shapes, so no
row leaves storage."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregator import types as t
from aggregator.storage import sql
from aggregator.storage.records import ArticleDraft, FeedState, FeedUpdate
from aggregator.urls import redact_text

if TYPE_CHECKING:  # rows are read by attribute: ORM objects and storage.light's records alike
    from types import SimpleNamespace

    from aggregator.storage.models import ArticleRow, FeedRow, MatchRow, OutboxRow, VersionRow


def reset_url(row: FeedRow, url: str) -> None:
    row.url = url
    row.etag = row.last_modified = row.body_hash = None
    row.permanent_redirect = None


def feed_state_of(r: FeedRow | SimpleNamespace) -> FeedState:
    assert r.id is not None
    return FeedState(
        r.id,
        r.name,
        r.url,
        r.etag,
        r.last_modified,
        r.body_hash,
        r.identity_rule,
        r.disabled_reason,
        r.error_count,
        r.next_due_at,
        r.last_success_at,
        r.last_new_at,
        r.avg_new_interval_s,
        r.failing_since,
        r.health,
        r.last_status,
        r.last_error,
        r.last_polled_at,
        r.permanent_redirect,
        r.title,
        tuple(r.last_warnings or ()),
    )


def feed_update_values(u: FeedUpdate) -> dict[str, Any]:
    """The feed columns one poll's update writes (a claim's lease is always released)."""
    values: dict[str, Any] = {
        "last_status": u.status,
        "last_error": redact_text(u.error) if u.error else u.error,
        "last_error_kind": u.error_kind,
        "error_count": u.error_count,
        "last_polled_at": u.polled_at,
        "failing_since": u.failing_since,
        "next_due_at": u.next_due_at,
        "lease_owner": None,
        "lease_until": None,
        "health": u.health,
    }
    if u.ok:
        values.update(
            etag=u.etag,
            last_modified=u.last_modified,
            last_success_at=u.polled_at,
            max_age_s=u.max_age_s,
        )
    if u.meta is not None:
        values.update(
            title=u.meta.title,
            ttl_minutes=u.meta.ttl_minutes,
            identity_rule=u.meta.identity_rule,
            last_warnings=[redact_text(w) for w in u.meta.warnings],
        )
    for name in _SET_ONLY:
        v = getattr(u, name)
        if v is not None:
            values[name] = v
    if u.disabled_reason:
        values["disabled_reason"] = redact_text(u.disabled_reason)
    return values


#: FeedUpdate fields written only when set.
_SET_ONLY = (
    "body_hash",
    "permanent_redirect",
    "last_new_at",
    "avg_new_interval_s",
    "retry_after_until",
    "disabled_reason",
)


def article_values(d: ArticleDraft, now: datetime | None) -> dict[str, Any]:
    """Column values of a new article row (Core insert: times as naive UTC)."""
    return {
        "key": d.key,
        "url": d.url,
        "site": d.site,
        "title": d.title,
        "author": d.author,
        "summary": d.summary,
        "text": d.text,
        "published": sql.naive(d.published),
        "published_source": d.published_source if d.published else None,
        "updated": sql.naive(d.updated),
        "language": d.language,
        "extracted": d.extracted,
        "extract_error": d.extract_error,
        "content_hash": d.content_hash,
        "fingerprint": sql.signed64(d.fingerprint),
        "version_count": 1,
        "first_seen_at": sql.naive(now),
        "last_checked_at": sql.naive(now),
        "monitor": d.monitor,
        "watch": d.watch,
        "check_etag": d.check_etag,
        "check_last_modified": d.check_last_modified,
        "next_check_at": sql.naive(d.next_check_at) if d.monitor else None,
        "check_errors": 0,
        "retracted": None,
        "lease_owner": None,
        "lease_until": None,
    }


def article_of(
    r: ArticleRow | SimpleNamespace,
    feeds: tuple[str, ...],
    *,
    full: bool = False,
    matches: tuple[t.Match, ...] = (),
) -> t.Article:
    assert r.id is not None and r.first_seen_at is not None
    return t.Article(
        id=r.id,
        url=r.url,
        title=r.title,
        feeds=feeds,
        published=r.published,
        published_source=r.published_source,
        language=r.language,
        extracted=r.extracted,
        versions=r.version_count,
        first_seen_at=r.first_seen_at,
        author=r.author,
        summary=r.summary if full else None,
        text=r.text if full else None,
        extract_error=r.extract_error,
        last_checked_at=r.last_checked_at,
        retracted=r.retracted,
        matches=matches,
    )


def match_of(m: MatchRow) -> t.Match:
    assert m.created_at is not None
    snippets = tuple(
        t.Snippet(s.get("text", ""), tuple(tuple(h) for h in s.get("highlights", ())))
        for s in m.snippets
    )
    how = m.explanation or {}
    return t.Match(
        m.topic,
        m.article_id,
        m.version,
        tuple(m.terms),
        snippets,
        m.created_at,
        method=str(how.get("method", "literal")),
        score=how.get("score"),
        explanation=m.explanation,
    )


def version_of(r: VersionRow) -> t.Version:
    assert r.fetched_at is not None
    return t.Version(
        r.article_id,
        r.number,
        r.title,
        r.text,
        r.content_hash,
        r.extractor_version,
        r.fetched_at,
        r.kind,
        r.revert_of,
    )


def alert_of(r: OutboxRow, title: str | None) -> t.Alert:
    assert r.id is not None and r.created_at is not None
    return t.Alert(
        r.id,
        r.alert_id,
        r.channel,
        r.event,
        r.topic,
        r.article_id,
        r.status,
        r.attempts,
        r.created_at,
        r.next_attempt_at,
        r.sent_at,
        r.last_error,
        title,
        r.detail if r.status == "folded" else None,
    )
