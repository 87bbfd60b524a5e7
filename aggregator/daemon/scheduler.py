"""APScheduler wiring for the daemon: a few fixed-rate jobs on the event loop.

APScheduler only says *when to look*: every ``daemon.tick`` the cycle job
asks the database what is due (feeds, re-checks, deliveries) and every second
the watch job looks at feeds.yaml. When each feed, article and alert is next
due lives in the database, never in job state, so the scheduler's in-memory
job store is all it needs and a restart resumes exactly where the last run
left off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

JobFn = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Every:
    """A coroutine run every `interval` (the first run at once)."""

    id: str
    interval: timedelta
    fn: JobFn


def build_scheduler(jobs: Sequence[Every], *, now: datetime | None = None) -> AsyncIOScheduler:
    """An AsyncIOScheduler with one interval job per `Every`; call ``start()`` inside the loop.

    Jobs are coroutines so they run on the event loop (a plain function would
    go to a thread pool). Each is quick: the cycle job only starts a task, so
    max_instances=1 and coalesce never drop real work, they drop missed ticks.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    first = now or datetime.now(UTC)
    for job in jobs:
        scheduler.add_job(
            job.fn,
            "interval",
            id=job.id,
            seconds=job.interval.total_seconds(),
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler


def reschedule(scheduler: AsyncIOScheduler, job_id: str, interval: timedelta) -> None:
    """Change a job's period (daemon.tick edited in feeds.yaml)."""
    scheduler.reschedule_job(job_id, trigger="interval", seconds=interval.total_seconds())


def stop(scheduler: AsyncIOScheduler) -> None:
    """No new runs; jobs already running are the caller's to finish or cancel."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
