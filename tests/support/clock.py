"""The one test clock, and the one polling wait: shared by every test folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

#: Where a Clock starts unless told: a Saturday morning in a newsroom.
DEFAULT_START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (``clock.now += timedelta(...)``); pass it as
    the Aggregator's ``clock``."""

    def __init__(self, now: datetime = DEFAULT_START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def wait_for(cond: Callable[[], bool], timeout: float, what: str, *, every: float = 0.05) -> float:
    """Poll `cond` until it holds; the seconds it took. Fails naming `what` after `timeout`."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - start
