"""Retry timing: exponential, jittered, capped, never before Retry-After; the retry window."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from aggregator.alerts.policy import is_dead, next_attempt
from tests.support.outbox import T0


def delays(
    attempts: int, jitter: str = "equal", retry_after: float | None = None, n: int = 200
) -> list[float]:
    rng = random.Random(7)
    return [
        (
            next_attempt(attempts, T0, retry_after=retry_after, rng=rng, jitter=jitter) - T0
        ).total_seconds()  # type: ignore[arg-type]
        for _ in range(n)
    ]


def test_first_retry_is_between_15_and_30_seconds_with_equal_jitter() -> None:
    first = delays(1)
    assert min(first) >= 15 and max(first) <= 30
    assert len(set(first)) > 100  # jittered, not a fixed step


def test_backoff_doubles_until_the_cap() -> None:
    assert min(delays(3)) >= 60 and max(delays(3)) <= 120
    assert max(delays(20)) <= 3600 and min(delays(20)) >= 1800
    assert max(delays(10_000)) <= 3600  # no overflow on absurd counts


def test_full_jitter_spreads_from_zero() -> None:
    spread = delays(4, jitter="full")
    assert min(spread) < 30 and max(spread) <= 240


def test_retry_after_is_a_floor_not_a_suggestion() -> None:
    assert min(delays(1, retry_after=600)) == 600
    assert min(delays(12, retry_after=5)) >= 1800  # a short Retry-After does not shorten backoff


@given(
    attempts=st.integers(min_value=0, max_value=200),
    retry_after=st.none() | st.floats(min_value=0, max_value=86400),
    seed=st.integers(),
    full=st.booleans(),
)
def test_never_before_now_or_retry_after_and_never_past_cap(
    attempts: int, retry_after: float | None, seed: int, full: bool
) -> None:
    at = next_attempt(
        attempts,
        T0,
        retry_after=retry_after,
        rng=random.Random(seed),
        jitter="full" if full else "equal",
    )
    delay = (at - T0).total_seconds()
    assert delay >= (retry_after or 0) - 1e-6
    assert delay <= max(3600, retry_after or 0) + 1e-6


def test_custom_base_and_cap() -> None:
    at = next_attempt(
        5,
        T0,
        retry_after=None,
        rng=random.Random(1),
        base=timedelta(seconds=1),
        cap=timedelta(seconds=4),
    )
    assert 2 <= (at - T0).total_seconds() <= 4


def test_is_dead_after_the_whole_window() -> None:
    window = timedelta(hours=24)
    assert not is_dead(T0, T0 + timedelta(hours=23, minutes=59), window)
    assert is_dead(T0, T0 + window, window)
    assert is_dead(T0, T0 + timedelta(days=3), window)
