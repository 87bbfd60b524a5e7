"""Prometheus metrics for one daemon, in its own CollectorRegistry.

A registry per daemon (not the global default) keeps tests, benchmarks and
several daemons in one process from adding to each other's counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from aggregator.types import QueueDepths, UpdateResult

_EXTRACT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


def poll_result(r: UpdateResult) -> str:
    """ok, not_modified, error or skipped (its host asked to wait): the `result`
    label of aggregator_polls_total."""
    if r.skipped_until is not None:
        return "skipped"
    if r.error:
        return "error"
    return "not_modified" if r.not_modified else "ok"


class Metrics:
    """Counters, gauges and histograms the daemon updates as it works."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("aggregator_polls", "Feed polls by result", ["result"], registry=r)
        self.poll_errors = Counter(
            "aggregator_poll_errors", "Failed polls by error kind", ["kind"], registry=r
        )
        self.articles = Counter("aggregator_articles_ingested", "New articles stored", registry=r)
        self.extraction = Histogram(
            "aggregator_extraction_seconds",
            "Article extraction time",
            buckets=_EXTRACT_BUCKETS,
            registry=r,
        )
        self.rechecks = Counter("aggregator_rechecks", "Article re-checks done", registry=r)
        self.delivered = Counter("aggregator_alerts_delivered", "Alerts delivered", registry=r)
        self.folded = Counter(
            "aggregator_alerts_folded",
            "Wire copies folded into an alert already sent for the story (not sent)",
            registry=r,
        )
        self.failed = Counter(
            "aggregator_alerts_failed",
            "Alert delivery failures by outcome (retry or dead)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("retry", "dead"):  # exported from the start, before any delivery
            self.failed.labels(outcome)
        self.source_events = Counter(
            "aggregator_source_events", "Source-health alerts queued", registry=r
        )
        self.cycles = Counter("aggregator_cycles", "Scheduler cycles run", registry=r)
        self.cycle_errors = Counter(
            "aggregator_cycle_errors", "Cycle steps that failed", ["step"], registry=r
        )
        self.cycle_seconds = Histogram(
            "aggregator_cycle_seconds", "Duration of one cycle", registry=r
        )
        self.cycle_overruns = Counter(
            "aggregator_cycle_overruns",
            "Cycles that took longer than daemon.tick (ticks were skipped while they ran)",
            registry=r,
        )
        self.ticks_missed = Counter(
            "aggregator_ticks_missed",
            "Scheduler ticks skipped because the previous cycle was still running",
            registry=r,
        )
        self.due_feeds = Gauge("aggregator_due_feeds", "Feeds due and unclaimed", registry=r)
        self.pending_alerts = Gauge(
            "aggregator_pending_alerts", "Alerts waiting in the outbox", registry=r
        )
        self.due_rechecks = Gauge(
            "aggregator_due_rechecks", "Article re-checks due and unclaimed", registry=r
        )
        self.heartbeat = Gauge(
            "aggregator_heartbeat_timestamp_seconds",
            "Unix time of the scheduler's last tick",
            registry=r,
        )
        self.reloads = Counter(
            "aggregator_config_reloads", "feeds.yaml reloads by result", ["result"], registry=r
        )

    def record_polls(self, results: Iterable[UpdateResult]) -> None:
        for res in results:
            self.polls.labels(poll_result(res)).inc()
            if res.error:
                self.poll_errors.labels(res.error_kind or "error").inc()
            self.articles.inc(res.new)

    def record_rechecks(self, results: Any) -> None:
        self.rechecks.inc(_count(results))

    def record_delivery(self, report: Any) -> None:
        """A DispatchReport (sent/retried/dead), or a list of them."""
        for rep in report if isinstance(report, (list, tuple)) else [report]:
            self.delivered.inc(getattr(rep, "sent", 0) or 0)
            self.folded.inc(getattr(rep, "folded", 0) or 0)
            self.failed.labels("retry").inc(getattr(rep, "retried", 0) or 0)
            self.failed.labels("dead").inc(getattr(rep, "dead", 0) or 0)

    def set_depths(self, d: QueueDepths) -> None:
        self.due_feeds.set(d.due_feeds)
        self.pending_alerts.set(d.pending_alerts)
        self.due_rechecks.set(d.due_rechecks)

    def beat(self, wall: Callable[[], float] = time.time) -> None:
        self.heartbeat.set(wall())

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _count(results: Any) -> int:
    if results is None:
        return 0
    if isinstance(results, int):
        return results
    try:
        return len(results)
    except TypeError:
        return 0
