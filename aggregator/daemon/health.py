"""Source health: which feeds need a human (the alert drafts that tell them are
planned in ``alerts.sources``).

A feed that keeps failing is retried forever (see ``schedule.backoff``); that
is only safe if someone hears about it. The detection is pure (feed state +
now → problems) and each problem becomes one outbox row per subscribed channel
per day: the id is stable for (channel, feed, problem, day), so checking every
tick, on every worker, still queues it once, and a problem that lasts gets a
daily reminder rather than silence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aggregator.alerts.sources import source_alert_id, source_alerts
from aggregator.alerts.types import SourceHealth
from aggregator.config.durations import format_duration
from aggregator.config.models import Config
from aggregator.daemon.failing import FailingFeeds, failing_feeds, failure_cause
from aggregator.types import FeedState
from aggregator.urls import redact_text, redact_url

#: "Silent far longer than its usual rhythm": this many average gaps without news.
SILENCE_FACTOR = 10.0


@dataclass(frozen=True)
class Thresholds:
    """How long before a failing or silent feed is worth an alert."""

    failing_after: timedelta
    silence_factor: float = SILENCE_FACTOR

    @classmethod
    def of(cls, config: Config) -> Thresholds:
        return cls(failing_after=config.daemon.failing_after)


def _ago(now: datetime, then: datetime) -> str:
    return format_duration(timedelta(seconds=int((now - then).total_seconds())))


def failing(state: FeedState, now: datetime, t: Thresholds) -> SourceHealth | None:
    """Errors for longer than daemon.failing_after (a 410-disabled feed has its own problem)."""
    since = state.failing_since
    if since is None or state.disabled_reason or now - since < t.failing_after:
        return None
    error = state.last_error or "unknown error"
    return SourceHealth(
        state.name, state.url, "failing", f"failing for {_ago(now, since)}: {error}"
    )


def silent(state: FeedState, now: datetime, t: Thresholds) -> SourceHealth | None:
    """No new item for `silence_factor` × its usual gap (and at least failing_after).

    Only judged while polls succeed: a failing feed is reported as failing.
    """
    avg, last = state.avg_new_interval_s, state.last_new_at
    if avg is None or last is None or state.failing_since or state.disabled_reason:
        return None
    allowed = max(timedelta(seconds=avg * t.silence_factor), t.failing_after)
    if now - last < allowed:
        return None
    usual = format_duration(timedelta(seconds=int(avg)))
    return SourceHealth(
        state.name,
        state.url,
        "silent",
        f"no new item for {_ago(now, last)}; usually one every {usual}",
    )


def html_instead_of_feed(state: FeedState, now: datetime, t: Thresholds) -> SourceHealth | None:
    """The URL now answers with a web page or a captcha instead of a feed."""
    if state.health != "html":
        return None
    return SourceHealth(
        state.name,
        state.url,
        "html",
        "the feed URL returns an HTML page (a captcha, a login or a redesign?)",
    )


def disabled(state: FeedState, now: datetime, t: Thresholds) -> SourceHealth | None:
    """410 Gone disabled the feed: flagged, never silently dropped."""
    if not state.disabled_reason:
        return None
    return SourceHealth(state.name, state.url, "disabled", state.disabled_reason)


def moved(state: FeedState, now: datetime, t: Thresholds) -> SourceHealth | None:
    """A permanent redirect the daemon could not write into feeds.yaml (reported instead).

    An adopted redirect changes the feed's url, which clears the mark.
    """
    target = state.permanent_redirect
    if not target or target == state.url:
        return None
    return SourceHealth(
        state.name, state.url, "moved", f"permanently redirected to {target}; update the feed's url"
    )


RULES = (failing, silent, html_instead_of_feed, disabled, moved)


def feed_problems(state: FeedState, now: datetime, t: Thresholds) -> list[SourceHealth]:
    """The feed's problems, its URL and details redacted: they go to outside channels."""
    return [_redacted(p) for rule in RULES if (p := rule(state, now, t)) is not None]


def _redacted(p: SourceHealth) -> SourceHealth:
    return replace(p, url=redact_url(p.url), detail=redact_text(p.detail))


def source_problems(
    states: Iterable[FeedState], configured: set[str], now: datetime, t: Thresholds
) -> list[SourceHealth]:
    """Problems of the feeds feeds.yaml still lists and enables (removed rows linger)."""
    return [p for s in states if s.name in configured for p in feed_problems(s, now, t)]


# source_alert_id and source_alerts are planned in alerts.sources, the failing-feeds
# summary is in daemon.failing (light enough for `feeds list`); re-exported here
__all__ = [
    "RULES",
    "SILENCE_FACTOR",
    "FailingFeeds",
    "Thresholds",
    "disabled",
    "failing",
    "failing_feeds",
    "failure_cause",
    "feed_problems",
    "html_instead_of_feed",
    "moved",
    "silent",
    "source_alert_id",
    "source_alerts",
    "source_problems",
]
