"""Alert records: what the pipeline hands the outbox and the outbox hands a channel.

They are frozen dataclasses so an event read back from the outbox for a retry
is exactly the event that was queued: the same ``alert_id`` (webhook-id,
Message-ID) on every attempt is what lets receivers drop duplicates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from aggregator.changes.passages import Passage
from aggregator.config.alerts import EventKind
from aggregator.types import Snippet

__all__ = [
    "AlertArticle",
    "AlertChange",
    "AlertEvent",
    "Delivery",
    "EventKind",
    "Passage",
    "Snippet",
    "SourceHealth",
    "SourceRef",
    "TopicChange",
    "WatchRef",
    "batch_id",
    "message_id",
]

TopicChange = Literal["introduced", "removed", "context"]

# The id travels in headers (webhook-id, Message-ID), so it must be a dot-atom:
# no spaces, no CR/LF, nothing a mail or HTTP parser could split on.
_ALERT_ID = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII without < > or space


@dataclass(frozen=True)
class SourceRef:
    """One feed's copy of a story (a wire story is carried by several feeds)."""

    feed: str
    url: str
    title: str


@dataclass(frozen=True)
class AlertArticle:
    """The article as an alert shows it; ``fingerprint`` groups wire copies."""

    id: int
    url: str
    title: str
    feeds: tuple[str, ...]
    language: str | None
    published: datetime | None
    terms: tuple[str, ...]
    snippets: tuple[Snippet, ...]
    fingerprint: int | None
    sources: tuple[SourceRef, ...] = ()
    desk_url: str | None = None  # the story's page on the desk, when web.base_url is set
    # how the topic matched: literal, expanded or semantic (cross-lingual); score and
    # threshold of the best sentence for the latter two, None for literal matches
    method: str = "literal"
    score: float | None = None
    threshold: float | None = None

    @property
    def link(self) -> str:
        """Where an alert points a reader: the desk page when there is one, else the story."""
        return self.desk_url or self.url

    def source_refs(self) -> tuple[SourceRef, ...]:
        """Every copy to list; a lone article counts as one copy per feed."""
        if self.sources:
            return self.sources
        return tuple(SourceRef(feed, self.url, self.title) for feed in self.feeds)


@dataclass(frozen=True)
class AlertChange:
    """What an edit did, as the change monitor measured it."""

    version: int
    previous_version: int
    headline_changed: bool
    old_title: str | None
    new_title: str | None
    words_added: int
    words_removed: int
    reasons: tuple[str, ...]
    correction: str | None
    topic_change: TopicChange | None
    diff_summary: str
    passages: tuple[Passage, ...] = ()  # the removed/added sentences, capped
    more_changes: int = 0  # passages left out by the cap
    detail: str | None = None  # why a story looks pulled ("page returned 404")


@dataclass(frozen=True)
class WatchRef:
    """The page watch a change alert is about: its name, page and the part compared."""

    name: str
    url: str
    selector: str | None = None


@dataclass(frozen=True)
class SourceHealth:
    """A feed went unhealthy (failing, disabled, moved ...)."""

    feed: str
    url: str
    problem: str
    detail: str


@dataclass(frozen=True)
class AlertEvent:
    """One alert for one channel; ``alert_id`` is stable across retries."""

    alert_id: str
    event: EventKind
    channel: str
    topic: str | None
    created_at: datetime
    article: AlertArticle | None = None
    change: AlertChange | None = None
    source: SourceHealth | None = None
    thread_id: str | None = None
    watch: WatchRef | None = None

    def __post_init__(self) -> None:
        if len(self.alert_id) > 200 or not _ALERT_ID.fullmatch(self.alert_id):
            raise ValueError(
                f"alert_id {self.alert_id!r} must be letters, digits, '-', '_' "
                "and inner dots (it is used as webhook-id and Message-ID)"
            )
        thread = self.thread_id
        if thread is not None and not (
            _ALERT_ID.fullmatch(thread) or _MESSAGE_ID.fullmatch(thread)
        ):
            raise ValueError(f"thread_id {thread!r} is neither an alert id nor a <Message-ID>")


@dataclass(frozen=True)
class Delivery:
    """What the receiver answered, kept in the outbox for `alerts list`."""

    detail: str


def message_id(alert_id: str) -> str:
    """The Message-ID of an alert: derived from its id so a retry is recognisably a duplicate."""
    if alert_id.startswith("<"):
        return alert_id
    return f"<{alert_id}@aggregator>"


def batch_id(events: Sequence[AlertEvent]) -> str:
    """One id for a message that carries several events (a digest).

    Derived from the member ids, so retrying the same batch reuses it.
    """
    if len(events) == 1:
        return events[0].alert_id
    ids = "\n".join(sorted(e.alert_id for e in events))
    return "digest-" + hashlib.sha256(ids.encode()).hexdigest()[:32]
