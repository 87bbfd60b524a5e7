"""Stream ids: what a client names, resolved against the configuration.

Forms (FeedHQ's terminology): ``feed/<feed url>``, ``user/-/label/<name>``,
``user/-/state/com.google/<state>``. The ``-`` may be the user's own name or id.
A label ``topic:<name>`` names a topic's matched stories; any other label is a
feed tag from feeds.yaml. FreshRSS's short forms (``reading-list``,
``starred``) are accepted too.

A feed's stream id shows its URL redacted (``redact_url``: the password of
``user:pass@`` and secret-looking query values masked), so a reader app, its
sync logs and anyone it shares a stream with never see a feed's credentials.
The id stays addressable: it is resolved against the configured feeds
(`FeedStreams`). Two feeds whose URLs differ only in a secret would share a
redacted form; the first in feeds.yaml keeps it, each later one adds
``#<feed name>``, so adding a feed never changes the id of one already listed.
The full URL, which only its owner knows, is accepted too (ids handed out
before redaction keep working).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from aggregator.config.models import FeedConfig
from aggregator.urls import redact_url

StateName = Literal["reading-list", "starred", "read", "unread"]
STATE_PREFIX = "user/-/state/com.google/"
LABEL_PREFIX = "user/-/label/"
TOPIC_LABEL = "topic:"
READING_LIST = STATE_PREFIX + "reading-list"
STARRED = STATE_PREFIX + "starred"
READ = STATE_PREFIX + "read"
KEPT_UNREAD = STATE_PREFIX + "kept-unread"
#: Atom entries that are unread carry this state: newsboat then shows them unread
#: even when it had marked them read itself (the server's state wins).
FRESH = STATE_PREFIX + "fresh"

_STATES: dict[str, StateName] = {
    "reading-list": "reading-list",
    "starred": "starred",
    "read": "read",
    "kept-unread": "unread",
    "unread": "unread",
    "fresh": "unread",
}


@dataclass(frozen=True)
class Stream:
    """A parsed stream id. kind: state, feed, label (a feed tag) or topic."""

    kind: Literal["state", "feed", "label", "topic"]
    value: str

    @property
    def id(self) -> str:
        """The canonical stream id, as the API returns it."""
        if self.kind == "state":
            return STATE_PREFIX + ("kept-unread" if self.value == "unread" else self.value)
        if self.kind == "feed":
            return "feed/" + self.value
        if self.kind == "topic":
            return LABEL_PREFIX + TOPIC_LABEL + self.value
        return LABEL_PREFIX + self.value


@dataclass(frozen=True)
class FeedStreams:
    """The stream id of every configured feed, and the feed a stream id names."""

    feeds: Sequence[FeedConfig]
    _ids: dict[str, str] = field(init=False, repr=False, compare=False)
    _by_value: dict[str, FeedConfig] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids: dict[str, str] = {}
        by_value: dict[str, FeedConfig] = {}
        for f in self.feeds:
            shown = redact_url(f.url)
            value = shown if shown not in by_value else f"{shown}#{f.name}"
            ids[f.name] = "feed/" + value
            by_value.setdefault(value, f)
            by_value.setdefault(f"{shown}#{f.name}", f)  # always a way to name this one
        for f in self.feeds:  # the owner's full URL (older ids) names its feed
            by_value.setdefault(f.url, f)
        object.__setattr__(self, "_ids", ids)
        object.__setattr__(self, "_by_value", by_value)

    def stream_id(self, feed: FeedConfig) -> str:
        """``feed/<redacted url>`` (``#<name>`` added when an earlier feed has that form)."""
        return self._ids.get(feed.name) or "feed/" + redact_url(feed.url)

    def feed(self, value: str) -> FeedConfig | None:
        """The feed a ``feed/...`` stream's value names: its id, or its full URL."""
        return self._by_value.get(value)


def topic_stream_id(name: str) -> str:
    return LABEL_PREFIX + TOPIC_LABEL + name


def label_stream_id(tag: str) -> str:
    return LABEL_PREFIX + tag


def parse_stream(value: str) -> Stream | None:
    """The stream a client named, or None when the id has no known form."""
    text = value.strip()
    if text.startswith("feed/"):
        url = text[len("feed/") :]
        return Stream("feed", url) if url else None
    if text in _STATES:
        return Stream("state", _STATES[text])
    parts = text.split("/", 3)
    if len(parts) < 3 or parts[0] != "user" or not parts[1]:
        return None
    if parts[2] == "label" and len(parts) == 4 and parts[3]:
        name = parts[3]
        if name.startswith(TOPIC_LABEL) and len(name) > len(TOPIC_LABEL):
            return Stream("topic", name[len(TOPIC_LABEL) :])
        return Stream("label", name)
    if parts[2] == "state" and len(parts) == 4 and parts[3].startswith("com.google/"):
        state = _STATES.get(parts[3][len("com.google/") :])
        return Stream("state", state) if state else None
    return None
