"""Webhook alerts: JSON in the Standard Webhooks shape, signed, POSTed through the Fetcher.

The POST goes through ``aggregator.http.fetcher.Fetcher`` so a webhook URL gets the
same SSRF guard, deadline and no-redirect rule as every feed fetch: a
misconfigured hook must not become a way to reach the metadata service. The
``webhook-id`` is the alert id, identical on every retry, which is what the
spec asks receivers to de-duplicate on. See WEBHOOK.md for the payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from aggregator.alerts.render import clean_block, clean_line
from aggregator.alerts.types import (
    AlertArticle,
    AlertChange,
    AlertEvent,
    Delivery,
    SourceHealth,
    batch_id,
)
from aggregator.config.alerts import WebhookChannelConfig, secret_key
from aggregator.exceptions import DeliveryError, FetchError

EVENT_TYPES = {
    "match": "article.matched",
    "change": "article.changed",
    "source": "source.unhealthy",
    "test": "test",
}
_TRANSIENT_STATUS = {408, 425, 429}


class PostResult(Protocol):
    """The slice of aggregator.http.fetcher.FetchResult a webhook reads."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class Poster(Protocol):
    """The slice of aggregator.http.fetcher.Fetcher a webhook needs (tests may pass their own)."""

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> PostResult: ...


def default_fetcher() -> Poster:
    """A Fetcher with the default policy (no private addresses), for callers that pass none."""
    from aggregator.http.fetcher import Fetcher
    from aggregator.http.policy import FetchPolicy

    return Fetcher(FetchPolicy())


class WebhookChannel:
    """POSTs one signed JSON document per send: an event, or a digest of several."""

    def __init__(self, config: WebhookChannelConfig, fetcher: Poster) -> None:
        self.name = config.name
        self.config = config
        self._fetcher = fetcher
        self._key = secret_key(config.secret.get_secret_value()) if config.secret else None

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        body = encode_body(events)
        headers = {**self.config.headers, **self.signed_headers(batch_id(events), body)}
        try:
            result = await self._fetcher.post(self.config.url, content=body, headers=headers)
        except FetchError as e:
            raise fetch_failure(e) from e
        if not 200 <= result.status < 300:  # the Fetcher raises for these; other Posters may not
            raise status_failure(result.status, None, _location(result.headers))
        return Delivery(f"HTTP {result.status}")

    def signed_headers(self, msg_id: str, body: bytes) -> dict[str, str]:
        """Standard Webhooks headers; the timestamp is this attempt's.

        Always the wall clock, even when the daemon runs on a simulated one:
        receivers reject signatures more than ~5 minutes away from *their* clock.
        """
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, msg_id, timestamp, body)
        return headers


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


# --- outcome classification ----------------------------------------------------------------


def status_failure(status: int, retry_after: float | None, location: str | None) -> DeliveryError:
    """What a non-2xx answer means: 408/425/429/5xx try later, 3xx and other 4xx do not."""
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return DeliveryError(
            f"webhook answered HTTP {status} (redirect{where}, not followed)",
            permanent=True,
            hint="set the alert's url to the final address",
        )
    if status in _TRANSIENT_STATUS or status >= 500:
        return DeliveryError(f"webhook answered HTTP {status}", retry_after=retry_after)
    return DeliveryError(
        f"webhook answered HTTP {status}",
        permanent=True,
        hint="the receiver rejected the request; check its URL and secret",
    )


def fetch_failure(error: FetchError) -> DeliveryError:
    """Translate the Fetcher's error once: blocked is a config problem, the network is not."""
    if error.kind == "blocked":
        return DeliveryError(
            f"webhook URL blocked: {error.message}",
            permanent=True,
            hint=error.hint
            or "add the host to network.allow_private if it is really meant to be reached",
        )
    if error.kind == "redirects":
        return DeliveryError(
            f"webhook not delivered: {error.message}",
            permanent=True,
            hint="set the alert's url to the final address",
        )
    if error.status is not None:
        return status_failure(error.status, error.retry_after, None)
    return DeliveryError(
        f"webhook {error.kind} error: {error.message}", retry_after=error.retry_after
    )


def _location(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "location"), None)
    return clean_line(value) if value else None


# --- payload (pure) ------------------------------------------------------------------------


def encode_body(events: Sequence[AlertEvent]) -> bytes:
    """The exact bytes that are signed and sent (UTF-8, compact)."""
    document = payload(events[0]) if len(events) == 1 else digest_payload(events)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def payload(event: AlertEvent) -> dict[str, Any]:
    return {
        "type": EVENT_TYPES[event.event],
        "timestamp": _iso(event.created_at),
        "data": event_data(event),
    }


def digest_payload(events: Sequence[AlertEvent]) -> dict[str, Any]:
    """Several alerts in one POST; each inner event keeps its own alert_id for de-duplication."""
    newest = max(e.created_at for e in events)
    return {
        "type": "digest",
        "timestamp": _iso(newest),
        "data": {
            "alert_id": batch_id(events),
            "channel": events[0].channel,
            "count": len(events),
            "events": [payload(e) for e in events],
        },
    }


def event_data(event: AlertEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "alert_id": event.alert_id,
        "channel": event.channel,
        "topic": event.topic,
        "thread_id": event.thread_id,
    }
    if event.article is not None:
        data["article"] = article_json(event.article)
        if event.event == "match":
            data["matches"] = [match_json(event.topic, event.article)]
    if event.change is not None:
        data["change"] = change_json(event.change)
    if event.source is not None:
        data["source"] = source_json(event.source)
    if event.watch is not None:
        data["watch"] = {
            "name": event.watch.name,
            "url": event.watch.url,
            "selector": event.watch.selector,
        }
    return data


def article_json(article: AlertArticle) -> dict[str, Any]:
    data = _article_fields(article)
    if article.desk_url:  # the story's page on the web desk (web.base_url is set)
        data["desk_url"] = clean_line(article.desk_url)
    return data


def _article_fields(article: AlertArticle) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": clean_line(article.url),
        "title": clean_line(article.title),
        "feeds": [clean_line(f) for f in article.feeds],
        "language": article.language,
        "published": _iso(article.published) if article.published else None,
        "link": article.link,
        "matched_terms": list(article.terms),
        "snippets": [clean_line(s.text) for s in article.snippets],
        "sources": [
            {"feed": clean_line(s.feed), "url": clean_line(s.url), "title": clean_line(s.title)}
            for s in article.source_refs()
        ],
    }


def match_json(topic: str | None, article: AlertArticle) -> dict[str, Any]:
    """How the topic matched: `method` literal | expanded | semantic, `score` of the best
    sentence against the topic's description (null for literal), and its `threshold`."""
    return {
        "topic": topic,
        "method": article.method,
        "score": article.score,
        "threshold": article.threshold,
        "terms": list(article.terms),
        "snippet": clean_line(article.snippets[0].text) if article.snippets else None,
    }


def change_json(change: AlertChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "previous_version": change.previous_version,
        "headline_changed": change.headline_changed,
        "old_title": clean_line(change.old_title) if change.old_title is not None else None,
        "new_title": clean_line(change.new_title) if change.new_title is not None else None,
        "words_added": change.words_added,
        "words_removed": change.words_removed,
        "reasons": list(change.reasons),
        "correction": clean_line(change.correction) if change.correction is not None else None,
        "topic_change": change.topic_change,
        "diff_summary": clean_block(change.diff_summary),
        "passages": [
            {
                "removed": [clean_line(x) for x in p.removed],
                "added": [clean_line(x) for x in p.added],
            }
            for p in change.passages
        ],
        "more_changes": change.more_changes,
    }


def source_json(source: SourceHealth) -> dict[str, Any]:
    return {
        "feed": clean_line(source.feed),
        "url": clean_line(source.url),
        "problem": source.problem,
        "detail": clean_block(source.detail),
    }


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC; a naive datetime is taken to be UTC already."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
