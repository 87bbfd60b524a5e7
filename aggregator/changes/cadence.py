"""When to re-check a stored story: often while it is fresh, rarely later, then never.

Stories are edited most in their first hours (NewsDiffs made the same
observation), so a decaying schedule catches most edits for a small, bounded
number of fetches per article.  Everything here is pure: the caller passes
the times, nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from aggregator.config.durations import format_duration, parse_duration
from aggregator.config.models import Config

Step = tuple[timedelta, timedelta]  # (until_age, every)


@dataclass(frozen=True)
class RecheckSchedule:
    """Steps of (until_age, every): re-check every ``every`` while the story is younger
    than ``until_age``; past the last step's age, stop.  Ages count from first seen."""

    steps: tuple[Step, ...]
    DEFAULT: ClassVar[RecheckSchedule]

    def __post_init__(self) -> None:
        previous = timedelta(0)
        for n, (until, every) in enumerate(self.steps, start=1):
            if every <= timedelta(0):
                raise ValueError(f"schedule step {n}: every must be positive")
            if until <= previous:
                raise ValueError(
                    f"schedule step {n}: until {format_duration(until)} must be later than "
                    f"the previous step's {format_duration(previous)}"
                )
            previous = until

    def interval_at(self, age: timedelta) -> timedelta | None:
        """The re-check interval for a story of this age; None once monitoring is over."""
        return next((every for until, every in self.steps if age < until), None)

    @property
    def horizon(self) -> timedelta:
        """Age after which a story is no longer re-checked."""
        return self.steps[-1][0] if self.steps else timedelta(0)


RecheckSchedule.DEFAULT = RecheckSchedule(
    (
        (timedelta(hours=3), timedelta(minutes=15)),
        (timedelta(days=1), timedelta(hours=1)),
        (timedelta(days=7), timedelta(hours=3)),
        (timedelta(days=30), timedelta(days=1)),
    )
)
DEFAULT_SCHEDULE = RecheckSchedule.DEFAULT


def next_recheck(
    first_seen: datetime, last_checked: datetime | None, schedule: RecheckSchedule
) -> datetime | None:
    """When to re-check next, or None to stop monitoring.

    The interval is the one for the story's age at its last check (first seen
    if never re-checked), so the gaps follow the steps; a check that would fall
    past the schedule's horizon is not made.  The result may lie in the past
    (the daemon was down): the caller then checks at once.  Pass both times in
    the same kind (both aware or both naive).
    """
    reference = last_checked if last_checked is not None else first_seen
    age = max(reference - first_seen, timedelta(0))
    every = schedule.interval_at(age)
    if every is None or age + every > schedule.horizon:
        return None
    return first_seen + age + every


def parse_schedule(spec: Sequence[Mapping[str, object]]) -> RecheckSchedule:
    """Build a schedule from config such as ``[{every: 15m, until: 3h}, {every: 1h, until: 1d}]``.

    Raises ValueError with the step number and what is wrong with it.
    """
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise ValueError(  # noqa: TRY004 - config errors are ValueErrors
            "recheck schedule must be a list of {every: ..., until: ...} steps"
        )
    if not spec:
        raise ValueError("recheck schedule is empty; give at least one {every, until} step")
    return RecheckSchedule(tuple(_parse_step(n, item) for n, item in enumerate(spec, start=1)))


def _parse_step(n: int, item: object) -> Step:
    if not isinstance(item, Mapping):
        raise ValueError(  # noqa: TRY004 - config errors are ValueErrors
            f"schedule step {n}: expected a mapping like {{every: 15m, until: 3h}}"
        )
    unknown = sorted(set(map(str, item)) - {"every", "until"})
    if unknown:
        raise ValueError(f"schedule step {n}: unknown key(s) {', '.join(unknown)}")
    return _duration(n, item, "until"), _duration(n, item, "every")


def _duration(n: int, item: Mapping[str, object], key: str) -> timedelta:
    if item.get(key) is None:
        raise ValueError(f"schedule step {n}: '{key}' is missing")
    value = item[key]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 - config errors are ValueErrors
            f"schedule step {n}: {key} {value!r} is not a duration"
        )
    try:
        return parse_duration(value)
    except ValueError as e:
        raise ValueError(f"schedule step {n}: {key}: {e}") from e


def schedule_of(config: Config) -> RecheckSchedule:
    """The configured re-check schedule (``monitor.schedule`` in feeds.yaml)."""
    return RecheckSchedule(tuple((s.until, s.every) for s in config.monitor.schedule))
