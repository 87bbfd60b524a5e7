"""Pure next-due decisions for feeds: interval, source hints, backoff, jitter.

Rules: the feed's interval (or the default), adapted to how often the feed
publishes (within the daemon's floor and ceiling); never sooner than
Cache-Control max-age / Expires, the RSS <ttl> or Retry-After allow; errors
back off exponentially to a cap; a jitter spreads feeds that share an interval.

Source hints are themselves bounded (max-age and <ttl> by the ceiling,
Retry-After by the backoff cap): a CDN's year-long max-age must not silently
stop a feed. Nothing here reads a clock or a global RNG: callers pass `now`
and may pass a seeded `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from aggregator.config.models import Config, FeedConfig
from aggregator.exceptions import AggregatorError
from aggregator.types import COOL_DOWN_STATUSES, FeedState, UpdateResult

if TYPE_CHECKING:  # the rules stay importable without the fetch/parse stack
    from aggregator.ingest.decide import PollOutcome

T = TypeVar("T")


def base_interval(feed: FeedConfig, config: Config) -> timedelta:
    return feed.interval or config.defaults.interval


def adaptive_interval(
    base: timedelta, avg_new_interval_s: float | None, floor: timedelta, ceiling: timedelta
) -> timedelta:
    """Poll busy feeds more often and quiet feeds less, around the configured interval.

    Half the observed publishing gap, clamped to [base/2, base*4] so the
    configured interval stays the anchor, and to [floor, ceiling] widened to
    include `base`: an interval the user wrote down is always allowed, so a feed
    does not jump from its configured 1m to the 2m floor once its rhythm is known.
    """
    if avg_new_interval_s is None:
        return base
    wanted = timedelta(seconds=avg_new_interval_s / 2)
    wanted = max(base / 2, min(base * 4, wanted))
    return max(min(floor, base), min(max(ceiling, base), wanted))


def backoff(error_count: int, base: timedelta, cap: timedelta) -> timedelta:
    """base × 2^(errors-1), capped: a broken feed keeps being retried, never dropped."""
    n = max(0, min(error_count - 1, 30))
    backoff: timedelta = min(cap, base * (2**n))
    return backoff


def source_floor(
    outcome: PollOutcome, cache_cap: timedelta | None = None, retry_cap: timedelta | None = None
) -> timedelta:
    """The earliest the source allows: max-age (or Expires), <ttl>, Retry-After.

    Each hint is bounded by its cap when one is given, so a misconfigured
    server cannot park a feed for a year.
    """
    cache = timedelta(seconds=max(outcome.max_age or 0.0, (outcome.ttl_minutes or 0) * 60.0))
    retry = timedelta(seconds=outcome.retry_after or 0.0)
    if cache_cap is not None:
        cache = min(cache, cache_cap)
    if retry_cap is not None:
        retry = min(retry, retry_cap)
    return max(cache, retry)


def jittered(delay: timedelta, fraction: float, rng: random.Random) -> timedelta:
    """delay × (1 ± fraction), uniformly."""
    return delay * (1 + rng.uniform(-fraction, fraction))


def next_poll(
    feed: FeedConfig,
    state: FeedState,
    outcome: PollOutcome,
    now: datetime,
    config: Config,
    rng: random.Random | None = None,
) -> datetime:
    """When to poll `feed` next, given what the poll just did."""
    d = config.daemon
    base = base_interval(feed, config)
    rng = rng or random.Random()
    floor, ceiling = min(d.min_interval, base), max(d.max_interval, base)
    cap = max(d.max_backoff, base)
    if outcome.ok:
        delay = adaptive_interval(base, state.avg_new_interval_s, d.min_interval, d.max_interval)
        delay = _clamp(jittered(delay, d.jitter, rng), floor, ceiling)
    else:
        delay = min(cap, jittered(backoff(outcome.error_count, base, cap), d.jitter, rng))
    return now + max(delay, source_floor(outcome, ceiling, cap))


def _clamp(delay: timedelta, low: timedelta, high: timedelta) -> timedelta:
    """Jitter spreads feeds but never takes one past the floor or the ceiling."""
    return max(low, min(high, delay))


# --------------------------------------------------------------------------- host wishes


def origin_of(url: str) -> str:
    """host:port a Retry-After applies to (credentials and path left out)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        port = default
    return f"{(parts.hostname or '').lower()}:{port}"


def host_wait_of(
    url: str, error: Exception, now: datetime, cap: timedelta
) -> tuple[str, datetime, int | None] | None:
    """(origin URL, until, status) to keep when fetching `url` outside a feed's own poll
    (a re-check, a story page) met a 429/503 with Retry-After; None for any other error.

    Bounded by `cap` (daemon.max_backoff), as a feed's own Retry-After is.
    """
    status, seconds = getattr(error, "status", None), getattr(error, "retry_after", None)
    if status not in COOL_DOWN_STATUSES or not seconds:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{origin_of(url)}", now + min(timedelta(seconds=seconds), cap), status


def host_waits(cool_downs: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    """Per origin, until when its server asked us to wait (the latest of its feeds' asks).

    A 429 or 503 with Retry-After speaks for the server, not for one URL: every feed on
    that origin waits, for every command (the daemon, `poll`, `poll NAME`), unless the
    user forces it.
    """
    waits: dict[str, datetime] = {}
    for url, until in cool_downs:
        origin = origin_of(url)
        if origin not in waits or until > waits[origin]:
            waits[origin] = until
    return waits


def waiting_until(feed: FeedConfig, waits: Mapping[str, datetime]) -> datetime | None:
    return waits.get(origin_of(feed.url))


def hold_back(
    items: Sequence[T], url_of: Callable[[T], str], cool_downs: Iterable[tuple[str, datetime]]
) -> tuple[list[T], list[tuple[T, datetime]]]:
    """The one rule every fetching path applies: what may be fetched now, and what waits.

    Items (feeds, stored stories to re-check, a URL typed on the command line) whose
    URL is on an origin that asked to wait are held back with until when; the rest go.
    Callers decide what holding back means: the daemon defers the work to that time,
    `poll` and `recheck` report it skipped, `feeds add`/`feeds test` refuse. Forcing is
    passing no cool-downs.
    """
    waits = host_waits(cool_downs)
    go: list[T] = []
    held: list[tuple[T, datetime]] = []
    for item in items:
        until = waits.get(origin_of(url_of(item)))
        if until is None:
            go.append(item)
        else:
            held.append((item, until))
    return go, held


def skip_waiting(
    feeds: Sequence[FeedConfig], cool_downs: Iterable[tuple[str, datetime]]
) -> tuple[list[FeedConfig], list[UpdateResult]]:
    """The feeds to poll now, and a skipped result (with until when) for each of the others."""
    go, held = hold_back(feeds, lambda f: f.url, cool_downs)
    return go, [UpdateResult(f.name, skipped_until=until) for f, until in held]


def refuse_waiting(url: str, cool_downs: Iterable[tuple[str, datetime]]) -> None:
    """For a fetch on demand (`feeds add`, `feeds test`, `topics test --url`): raise
    HostWaitingError, saying until when and that --force overrides, if `url`'s host
    asked to wait."""
    _, held = hold_back([url], str, cool_downs)
    if held:
        raise HostWaitingError(url, held[0][1])


def waiting_note(url: str, cool_downs: Iterable[tuple[str, datetime]]) -> str | None:
    """Why `url` is not fetched now (its host asked to wait, until when), or None."""
    _, held = hold_back([url], str, cool_downs)
    return HostWaitingError(url, held[0][1]).message if held else None


class HostWaitingError(AggregatorError):
    """A command would fetch from a host that asked us (429/503 Retry-After) to wait.

    The message names only the origin (host:port), never the URL's credentials.
    """

    def __init__(self, url: str, until: datetime) -> None:
        shown = until.astimezone(UTC) if until.tzinfo else until
        origin = origin_of(url)
        super().__init__(
            f"not fetched: {origin} asked to wait (HTTP 429/503 with Retry-After) "
            f"until {shown:%Y-%m-%d %H:%M:%S} UTC",
            hint="try again after that time, or pass --force to fetch it now anyway",
        )
        self.url, self.until, self.origin = url, until, origin
