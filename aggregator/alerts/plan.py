"""From matches and changes to outbox rows: which channel hears about what.

Pure planning plus the codec that turns an AlertEvent into the JSON payload
stored in the outbox (and back), so a retry sends exactly what was queued.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from aggregator.alerts.types import AlertArticle, AlertEvent
from aggregator.config.alerts import ChannelConfig, EventKind
from aggregator.config.models import Config
from aggregator.storage.records import AlertDraft, ArticleDraft, MatchDraft
from aggregator.types import Snippet


def stable_alert_id(event: str, channel: str, *parts: object, installation: str) -> str:
    """One id per (installation, event, channel, story): the webhook-id and Message-ID
    of every attempt.

    The installation id (made with the database) keeps ids globally unique: a
    rebuilt database or a staging install never reuses another one's ids for
    different stories, so receivers that deduplicate on them drop only real
    duplicates. 128 bits of the hash: collisions are not a concern.
    """
    raw = "\x1f".join([installation, event, channel, *map(str, parts)])
    return f"{event}-{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def match_alert_id(installation: str, channel: str, story_key: str) -> str:
    """The id of a story's match alert on a channel; its change alerts thread under it.

    The story's identity key (its canonical URL or guid), not its row id: a row
    id can be reused (SQLite reuses the highest one after a delete) and means
    nothing in another database.
    """
    return stable_alert_id("match", channel, story_key, installation=installation)


def desk_url(config: Config, article_id: int) -> str | None:
    """The story's page on the desk (``web.base_url`` + ``/items/<id>``), when configured.

    Read through ``getattr`` so this works whether or not the ``web:`` section
    is part of the config model yet (the web desk adds it); a dict is accepted too.
    """
    web: Any = getattr(config, "web", None)
    base = web.get("base_url") if isinstance(web, dict) else getattr(web, "base_url", None)
    if not base:
        return None
    return f"{str(base).rstrip('/')}/items/{article_id}"


def subscribed(channel: ChannelConfig, event: EventKind, topic: str | None) -> bool:
    return channel.wants(event, topic)


def hold_until(channel: ChannelConfig, now: datetime) -> datetime:
    """Delay for wire-copy grouping or the digest window before a row is due."""
    return now + channel.hold()


def plan_match_alerts(
    config: Config,
    aid: int,
    draft: ArticleDraft,
    matches: Sequence[MatchDraft],
    now: datetime,
    feeds: Sequence[str] = (),
    *,
    installation: str,
) -> list[AlertDraft]:
    """One alert per story per channel: the first topic (config order) the channel follows.

    `draft.key` is the story's identity key; a draft without one (never from
    ingest) falls back to the article id.
    """
    out = []
    for ch in config.alerts:
        m = next((m for m in matches if subscribed(ch, "match", m.topic)), None)
        if m is None:
            continue
        event = AlertEvent(
            alert_id=match_alert_id(installation, ch.name, draft.key or f"article:{aid}"),
            event="match",
            channel=ch.name,
            topic=m.topic,
            created_at=now,
            article=dataclasses.replace(
                alert_article(aid, draft, m, feeds), desk_url=desk_url(config, aid)
            ),
        )
        out.append(
            AlertDraft(
                event.alert_id,
                ch.name,
                "match",
                m.topic,
                encode(event),
                hold_until(ch, now),
                created_at=now,
            )
        )
    return out


def alert_article(aid: int, d: ArticleDraft, m: MatchDraft, feeds: Sequence[str]) -> AlertArticle:
    how = m.explanation or {}
    snippets = tuple(
        Snippet(s["text"], tuple(tuple(h) for h in s.get("highlights", ()))) for s in m.snippets
    )
    return AlertArticle(
        id=aid,
        url=d.url or "",
        title=d.title or "(untitled)",
        feeds=tuple(feeds),
        language=d.language,
        published=d.published,
        terms=m.terms,
        snippets=snippets,
        fingerprint=d.fingerprint,
        method=str(how.get("method", "literal")),
        score=how.get("score"),
        threshold=how.get("threshold"),
    )


# ------------------------------------------------------------------ codec


def encode(value: Any) -> Any:
    """Dataclasses → JSON-ready dicts (datetimes as ISO strings, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def decode_event(data: dict[str, Any]) -> AlertEvent:
    return _decode(AlertEvent, data)  # type: ignore[no-any-return]


def _decode(cls: type, data: Any) -> Any:
    hints = get_type_hints(cls)
    kwargs = {
        f.name: _value(hints[f.name], data.get(f.name))
        for f in dataclasses.fields(cls)
        if f.name in data
    }
    return cls(**kwargs)


def _value(hint: Any, v: Any) -> Any:
    """Rebuild one field from JSON following its type hint."""
    if v is None:
        return None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        real = [a for a in args if a is not type(None)]
        return _value(real[0], v) if len(real) == 1 else v
    if origin is tuple:
        inner = args[0] if args else Any
        return tuple(_value(inner, x) for x in v)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode(hint, v)
    if hint is datetime and isinstance(v, str):
        return datetime.fromisoformat(v)
    return v
