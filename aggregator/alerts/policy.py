"""When to try a failed alert again, and when to give up. Pure functions, no clock of their own."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

BASE = timedelta(seconds=30)
CAP = timedelta(hours=1)
_MAX_EXPONENT = 32  # 30s * 2**32 is far past any cap; stops float overflow on absurd counts


def next_attempt(
    attempts: int,
    now: datetime,
    *,
    retry_after: float | None,
    rng: random.Random,
    base: timedelta = BASE,
    cap: timedelta = CAP,
    jitter: Literal["equal", "full"] = "equal",
) -> datetime:
    """The earliest time to retry after `attempts` failed attempts (1 after the first failure).

    Exponential backoff capped at `cap`, jittered so that alerts which failed
    together (one receiver outage) do not retry together. "equal" jitter keeps
    at least half the delay, so a flapping receiver is never hammered; "full"
    spreads wider. A receiver's Retry-After is a floor, never shortened.
    """
    ceiling = _ceiling(attempts, base, cap)
    if jitter == "full":
        delay = rng.uniform(0, ceiling)
    else:
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return now + timedelta(seconds=max(delay, retry_after or 0.0))


def _ceiling(attempts: int, base: timedelta, cap: timedelta) -> float:
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    return float(min(cap.total_seconds(), base.total_seconds() * 2**exponent))


def is_dead(started_at: datetime, now: datetime, retry_window: timedelta) -> bool:
    """True once an alert has been failing for the whole retry window (default 24h)."""
    return now - started_at >= retry_window
