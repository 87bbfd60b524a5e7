"""Pure helpers of the facade: config to topic specs, stored state to public records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aggregator.config.models import Config, FeedConfig
from aggregator.exceptions import NotFoundError
from aggregator.types import Article, Feed, FeedState
from aggregator.urls import redact_text, redact_url

if TYPE_CHECKING:  # the topic index loads when topics are compiled, not to list feeds
    from aggregator.topics import Document, TopicSpec


def topic_specs(config: Config) -> list[TopicSpec]:
    from aggregator.topics import TopicSpec

    return [
        TopicSpec(
            name=t.name,
            query=t.query,
            description=t.description_text(),
            fields=tuple(t.fields),
            languages=tuple(t.languages),
            feeds=tuple(t.feeds),
            tags=tuple(t.tags),
            cross_lingual=t.cross_lingual,
            descriptions=t.descriptions(),
            threshold=None if t.threshold == "auto" else float(t.threshold),
        )
        for t in config.topics
    ]


def _document(a: Article) -> Document:
    from aggregator.topics import Document

    return Document(
        title=a.title or "",
        summary=a.summary or "",
        body=a.text or "",
        language=a.language,
        feeds=a.feeds,
    )


def _feed(f: FeedConfig, s: FeedState | None, counts: dict[int, int], cfg: Config) -> Feed:
    interval = (f.interval or cfg.defaults.interval).total_seconds()
    extract, monitor = cfg.extracts(f), cfg.monitors(f)
    base = Feed(
        name=f.name,
        url=redact_url(f.url),  # a record to show: feeds list, the desk, JSON
        interval_s=interval,
        extract=extract,
        monitor=monitor,
        tags=tuple(f.tags),
        enabled=f.enabled,
        title=f.title,
    )
    if s is None:
        return base
    return replace(
        base,
        enabled=f.enabled and s.disabled_reason is None,
        etag=s.etag,
        last_modified=s.last_modified,
        next_due_at=s.next_due_at,
        error_count=s.error_count,
        disabled_reason=redact_text(s.disabled_reason) if s.disabled_reason else None,
        last_success_at=s.last_success_at,
        articles=counts.get(s.id, 0),
        last_status=s.last_status,
        last_error=redact_text(s.last_error) if s.last_error else None,
        last_polled_at=s.last_polled_at,
        permanent_redirect=redact_url(s.permanent_redirect) if s.permanent_redirect else None,
        title=f.title or s.title,
        warnings=tuple(redact_text(w) for w in s.warnings),
    )


def extracts_pages(config: Config) -> bool:
    """Whether any feed or watch of `config` fetches article pages (then the pool's
    workers load the extractor when they start, not on their first page)."""
    return any(config.extracts(f) for f in config.feeds) or bool(config.watches)


def _unknown(kind: str, name: str, known: Sequence[str]) -> NotFoundError:
    """'unknown topic 'typo'' with a did-you-mean, so a misspelt name never lists nothing."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return NotFoundError(
        f"unknown {kind} {name!r}", hint=f"{guess}see `aggregator {kind}s list`".strip()
    )
