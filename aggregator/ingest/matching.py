"""Topic matching of a poll's article drafts: literal (in the main process) and
cross-lingual (in the worker processes), as match records for the store."""

from __future__ import annotations

import logging
from typing import Any

from aggregator.config.models import FeedConfig
from aggregator.exceptions import AggregatorError
from aggregator.storage.records import ArticleDraft, MatchDraft
from aggregator.topics import Document, TopicIndex, TopicMatch
from aggregator.topics.crosslingual.match import CrossMatch
from aggregator.topics.crosslingual.service import CrossLingualMatcher, DocIn, explanation, snippet

log = logging.getLogger("aggregator.ingest.pipeline")

#: Passed to the topic engine for text too short to identify, so that it does not
#: load a language model in the main process to try again.
UNKNOWN_LANGUAGE = "und"


def match_literal(topics: TopicIndex, feed: FeedConfig, d: ArticleDraft) -> tuple[MatchDraft, ...]:
    doc = Document(
        title=d.title or "",
        summary=d.summary or "",
        body=d.text,
        language=d.language or UNKNOWN_LANGUAGE,
        feeds=(feed.name,),
        tags=tuple(feed.tags),
    )
    return tuple(match_draft(m) for m in topics.match(doc))


async def cross_match(
    crosslingual: CrossLingualMatcher,
    pool: Any,
    feed: FeedConfig,
    drafts: list[ArticleDraft],
    matches: dict[int, tuple[MatchDraft, ...]],
) -> dict[int, tuple[MatchDraft, ...]]:
    """Add the cross-lingual matches (computed in the worker processes) to the literal ones.

    A failure (the encoder cannot load) is logged with its hint and leaves the
    literal matches as they are: nothing a poll found is lost over it."""
    docs = [
        DocIn(
            d.title or "",
            d.summary or "",
            d.text,
            d.language,
            skip=tuple(m.topic for m in matches.get(i, ())),
            feeds=(feed.name,),
            tags=tuple(feed.tags),
        )
        for i, d in enumerate(drafts)
    ]
    literal = [tuple(matches.get(i, ())) for i in range(len(drafts))]
    both = await add_cross(crosslingual, pool, docs, literal, "", {"feed": feed.name})
    out = dict(matches)
    for i, (lit, combined) in enumerate(zip(literal, both, strict=True)):
        if len(combined) > len(lit):
            out[i] = combined
    return out


async def add_cross(
    crosslingual: CrossLingualMatcher,
    pool: Any,
    docs: list[DocIn],
    literal: list[tuple[MatchDraft, ...]],
    where: str,
    extra: dict[str, Any],
) -> list[tuple[MatchDraft, ...]]:
    """Each document's literal matches plus its cross-lingual ones, for ingest and
    re-checks alike; a failure is logged with its hint and keeps the literal ones."""
    try:
        found = await crosslingual.match(pool, docs)
    except AggregatorError as e:
        log.error(
            "cross-lingual topic matching failed%s: %s (%s)", where, e, e.hint or "", extra=extra
        )
        return literal
    return [lit + tuple(cross_draft(m) for m in f) for lit, f in zip(literal, found, strict=True)]


def cross_draft(m: CrossMatch) -> MatchDraft:
    return MatchDraft(m.topic, m.terms, (snippet(m),), explanation(m))


def match_draft(m: TopicMatch) -> MatchDraft:
    snippets = tuple(
        {"text": s.text, "highlights": [list(h) for h in s.highlights]} for s in m.snippets
    )
    return MatchDraft(m.topic, tuple(m.terms), snippets, {"method": "literal"})
