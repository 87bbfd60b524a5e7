"""One daemon cycle: everything that is due, claimed with leases, then the checks.

Order: share host cool-downs → poll due feeds → due re-checks → due alert
deliveries → adopt permanent redirects → source health → queue depths. Each
step's failure is logged and counted and the next step still runs (a broken
outbox must not stop polling). Claims are drained in batches until a claim
comes back short, so `run --once` does everything that is due.

Everything goes through the facade (``agg.poll_due(run, ...)``, ``agg.feed_states()``,
``agg.queue_source_alerts(...)``); the cycle never touches the Store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aggregator.config.models import Config
from aggregator.daemon import health
from aggregator.daemon.metrics import Metrics
from aggregator.exceptions import AggregatorError
from aggregator.types import COOL_DOWN_STATUSES, FeedState, UpdateResult
from aggregator.urls import redact_url

if TYPE_CHECKING:
    from aggregator.alerts.types import SourceHealth
    from aggregator.core import Aggregator
    from aggregator.core.run import Run

log = logging.getLogger("aggregator.daemon")

#: Cool-down for every feed of a host after a 429/503 that gave no Retry-After.
DEFAULT_COOL_DOWN = timedelta(seconds=60)


@dataclass
class CycleReport:
    """What one cycle did (printed by `run --once`, counted in /metrics)."""

    polls: list[UpdateResult] = field(default_factory=list)
    rechecks: int = 0
    delivered: int = 0
    delivery_failures: int = 0  # retried + dead
    retrying: int = 0  # failed this time, will be retried
    dead: int = 0  # failed for good (permanent error or retry window over)
    folded: int = 0  # copies of a story already alerted (see group_window): not sent again
    pending: int | None = None  # still queued after the cycle (`run --once` reads it)
    source_alerts: int = 0
    adopted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    states: dict[str, FeedState] | None = field(default=None, repr=False)

    def summary(self) -> str:
        new = sum(r.new for r in self.polls)
        failed = sum(1 for r in self.polls if r.error)
        pending = "" if self.pending is None else f", {self.pending} still queued"
        return (
            f"{len(self.polls)} feeds polled ({new} new articles, {failed} failed), "
            f"{self.rechecks} re-checks, alerts: {self.delivered} sent, "
            f"{self.retrying} failed (will be retried), {self.dead} failed for good{pending}"
            + (f", {self.folded} copies folded into earlier alerts" if self.folded else "")
            + f"; {self.source_alerts} source alerts"
            + (f", {len(self.errors)} step errors" if self.errors else "")
        )


@dataclass
class CycleContext:
    """What a cycle works with; the runner owns it and swaps config on reload."""

    agg: Aggregator
    run: Run
    worker: str
    metrics: Metrics
    batch: int
    stopping: Callable[[], bool] = lambda: False
    on_config: Callable[[Config], None] | None = None
    mark_config_written: Callable[[], None] | None = None
    #: deliveries run in their own lanes (the daemon), not as a step of the cycle
    deliveries_apart: bool = False
    announced: set[tuple[str, str]] = field(default_factory=set)
    announced_day: str = ""
    unadoptable: set[tuple[str, str]] = field(default_factory=set)

    @property
    def config(self) -> Config:
        return self.agg.config

    def now(self) -> datetime:
        return self.agg.clock()


Step = Callable[[CycleContext, CycleReport], Awaitable[None]]


async def run_cycle(ctx: CycleContext) -> CycleReport:
    """Run every step once; a failing step is reported, never fatal."""
    report = CycleReport()
    for name, step in STEPS:
        if ctx.stopping() and name in _WORK_STEPS:
            continue
        try:
            await step(ctx, report)
        except AggregatorError as e:  # storage, config edits: all translated below us
            log.exception("cycle step %s failed", name)
            ctx.metrics.cycle_errors.labels(name).inc()
            report.errors.append(f"{name}: {e}")
    ctx.metrics.cycles.inc()
    return report


# ------------------------------------------------------------------ polling


async def share_cool_downs(ctx: CycleContext, report: CycleReport) -> None:
    """Honour every Retry-After another worker (or a previous run) was given."""
    now = ctx.now()
    for url, until in ctx.agg.host_cool_downs():
        _cool_down(ctx, url, (until - now).total_seconds())


def _cool_down(ctx: CycleContext, url: str, seconds: float) -> None:
    """Fetcher.cool_down, at most half a lease: claimed feeds wait inside the fetcher,
    and must still finish before their lease runs out and another worker takes them."""
    host = urlsplit(url).hostname
    seconds = min(seconds, ctx.config.daemon.lease.total_seconds() / 2)
    if host and seconds > 0:
        ctx.run.cool_down(host, seconds)


async def poll_step(ctx: CycleContext, report: CycleReport) -> None:
    """Claim due feeds in batches and poll them until none is left."""
    while not ctx.stopping():
        results = await ctx.agg.poll_due(ctx.run, worker=ctx.worker, limit=ctx.batch)
        ctx.metrics.record_polls(results)
        report.polls.extend(results)
        _log_internal_errors(results)
        cool_down_hosts(ctx, results)
        if len(results) < ctx.batch:
            return


def _log_internal_errors(results: Sequence[UpdateResult]) -> None:
    """Feed errors are logged by the pipeline; a crash inside it is only a value: say it."""
    for r in results:
        if r.error_kind == "internal":
            log.error("poll crashed: %s", r.error, extra={"feed": r.feed})


def cool_down_hosts(ctx: CycleContext, results: Sequence[UpdateResult]) -> None:
    """After a 429 or 503, every feed of that host waits (Retry-After, else a minute)."""
    failed = [r for r in results if r.error]
    if not failed:
        return
    states = ctx.agg.feed_states([r.feed for r in failed])
    for r in failed:
        s = states.get(r.feed)
        if s is not None and s.last_status in COOL_DOWN_STATUSES:
            seconds = r.retry_after or DEFAULT_COOL_DOWN.total_seconds()
            _cool_down(ctx, s.url, seconds)
            log.warning(
                "host %s answered %s: all its feeds wait %.0fs",
                urlsplit(s.url).hostname,
                s.last_status,
                seconds,
                extra={"feed": r.feed},
            )


# ------------------------------------------------------------------ re-checks, deliveries


def _done(result: Any) -> int:
    """Items a facade call handled: a list's length, or a report's sent+retried+dead."""
    if isinstance(result, (list, tuple)):
        return len(result)
    return sum(int(getattr(result, k, 0) or 0) for k in ("sent", "retried", "dead", "folded"))


async def recheck_step(ctx: CycleContext, report: CycleReport) -> None:
    while not ctx.stopping():
        results = await ctx.agg.recheck_due(ctx.run, worker=ctx.worker, limit=ctx.batch)
        ctx.metrics.record_rechecks(results)
        report.rechecks += _done(results)
        if _done(results) < ctx.batch:
            return


async def deliver_step(ctx: CycleContext, report: CycleReport) -> None:
    """`run --once` delivers in the cycle, what is held for grouping too (a cron run
    leaves nothing to the next one); the daemon delivers beside (daemon.delivery)."""
    while not ctx.deliveries_apart and not ctx.stopping():
        result = await ctx.agg.deliver_due(ctx.run, worker=ctx.worker, limit=ctx.batch, flush=True)
        ctx.metrics.record_delivery(result)
        sent, folded = (int(getattr(result, k, 0) or 0) for k in ("sent", "folded"))
        report.delivered += sent
        report.folded += folded
        report.delivery_failures += _done(result) - sent - folded
        report.retrying += int(getattr(result, "retried", 0) or 0)
        report.dead += int(getattr(result, "dead", 0) or 0)
        if _done(result) < ctx.batch:
            return


# ------------------------------------------------------------------ redirects & health


def feed_states(ctx: CycleContext, report: CycleReport) -> dict[str, FeedState]:
    """Every feed's state, read once per cycle after the polls (redirects and health share it)."""
    if report.states is None:
        report.states = ctx.agg.feed_states()
    return report.states


async def redirect_step(ctx: CycleContext, report: CycleReport) -> None:
    """Write permanent redirects into feeds.yaml (with a comment); report those we cannot."""
    if ctx.config.path is None:
        return
    states = feed_states(ctx, report)
    for feed in ctx.config.feeds:
        s = states.get(feed.name)
        target = s.permanent_redirect if s else None
        if s is None or not target or target == s.url or (feed.name, target) in ctx.unadoptable:
            continue
        if adopt_redirect(ctx, feed.name, s.url, target):
            report.adopted.append(feed.name)


def adopt_redirect(ctx: CycleContext, name: str, old: str, new: str) -> bool:
    """set_url in feeds.yaml, then apply the new config now (not a second later)."""
    from aggregator.config import edit as config_edit

    path = ctx.config.path
    assert path is not None
    comment = f"moved permanently from {redact_url(old)} (adopted {ctx.now():%Y-%m-%d})"
    try:
        config = config_edit.set_url(path, name, new, comment)
    except (OSError, AggregatorError) as e:
        ctx.unadoptable.add((name, new))
        log.warning(
            "feed moved permanently to %s but feeds.yaml could not be updated (%s): "
            "reporting it instead",
            new,
            e,
            extra={"feed": name},
        )
        return False
    log.warning(
        "feed moved permanently: %s -> %s, written to %s", old, new, path, extra={"feed": name}
    )
    if ctx.mark_config_written:
        ctx.mark_config_written()
    if ctx.on_config:
        ctx.on_config(config)
    return True


async def health_step(ctx: CycleContext, report: CycleReport) -> None:
    """Queue one source-health alert per problem, channel and day; log each problem once."""
    now = ctx.now()
    configured = {f.name for f in ctx.config.feeds if f.enabled} - set(report.adopted)
    problems = health.source_problems(
        feed_states(ctx, report).values(), configured, now, health.Thresholds.of(ctx.config)
    )
    added = ctx.agg.queue_source_alerts(problems)
    report.source_alerts += added
    ctx.metrics.source_events.inc(added)
    announce_problems(ctx, problems, now)


def announce_problems(ctx: CycleContext, problems: Sequence[SourceHealth], now: datetime) -> None:
    """Log each (feed, problem) once a day, like the alerts (the set is reset daily)."""
    day = now.date().isoformat()
    if day != ctx.announced_day:
        ctx.announced, ctx.announced_day = set(), day
    for p in problems:
        if (p.feed, p.problem) not in ctx.announced:
            ctx.announced.add((p.feed, p.problem))
            log.warning("source health: %s: %s", p.problem, p.detail, extra={"feed": p.feed})


async def depth_step(ctx: CycleContext, report: CycleReport) -> None:
    ctx.metrics.set_depths(ctx.agg.queue_depths())


STEPS: tuple[tuple[str, Step], ...] = (
    ("cool_downs", share_cool_downs),
    ("poll", poll_step),
    ("recheck", recheck_step),
    ("deliver", deliver_step),
    ("redirects", redirect_step),
    ("health", health_step),
    ("depths", depth_step),
)
#: Steps that start new work: skipped once a stop was requested.
_WORK_STEPS = {"cool_downs", "poll", "recheck", "deliver", "redirects", "health"}
