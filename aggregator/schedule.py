"""Pure next-due decisions for feeds: interval, source hints, backoff, jitter.

Rules: the feed's interval (or the default), adapted to how often the feed
publishes (within the daemon's floor and ceiling); never sooner than
Cache-Control max-age, the RSS <ttl> or Retry-After allow; errors back off
exponentially to a cap; a jitter spreads feeds that share an interval.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .config import Config, FeedConfig
from .pipeline import PollOutcome
from .storage.records import FeedState


def base_interval(feed: FeedConfig, config: Config) -> timedelta:
    return feed.interval or config.defaults.interval


def adaptive_interval(base: timedelta, avg_new_interval_s: float | None,
                      floor: timedelta, ceiling: timedelta) -> timedelta:
    """Poll busy feeds more often and quiet feeds less, around the configured interval.

    Half the observed publishing gap, clamped to [floor, ceiling] and to
    [base/2, base*4] so the configured interval stays the anchor.
    """
    if avg_new_interval_s is None:
        return base
    wanted = timedelta(seconds=avg_new_interval_s / 2)
    wanted = max(base / 2, min(base * 4, wanted))
    return max(floor, min(ceiling, wanted))


def backoff(error_count: int, base: timedelta, cap: timedelta) -> timedelta:
    """base × 2^(errors-1), capped: a broken feed keeps being retried, never dropped."""
    n = max(0, min(error_count - 1, 30))
    return min(cap, base * (2 ** n))


def source_floor(outcome: PollOutcome) -> timedelta:
    """The earliest the source allows: max-age, <ttl>, Retry-After."""
    hints = [outcome.max_age or 0.0, (outcome.ttl_minutes or 0) * 60.0, outcome.retry_after or 0.0]
    return timedelta(seconds=max(hints))


def jittered(delay: timedelta, fraction: float, rng: random.Random) -> timedelta:
    """delay × (1 ± fraction), uniformly."""
    return delay * (1 + rng.uniform(-fraction, fraction))


def next_poll(feed: FeedConfig, state: FeedState, outcome: PollOutcome, now: datetime,
              config: Config, rng: random.Random | None = None) -> datetime:
    """When to poll `feed` next, given what the poll just did."""
    d = config.daemon
    base = base_interval(feed, config)
    if outcome.ok:
        delay = adaptive_interval(base, state.avg_new_interval_s, d.min_interval, d.max_interval)
    else:
        delay = backoff(outcome.error_count, base, max(d.max_backoff, base))
    delay = jittered(delay, d.jitter, rng or random.Random())
    return now + max(delay, source_floor(outcome))
