"""Alert delivery beside polling: one lane per channel, each reported when stuck.

The daemon does not deliver inside its poll cycle: a receiver that hangs until
its timeout, for every queued alert, held the cycle (and so every feed) for as
long as that took (20 alerts to a hanging receiver: 10 minutes without a poll).
Each channel gets its own task instead, started on a tick when the channel has
none running; a lane sends one message at a time (in order, as the dispatcher
plans them) and stops at the channel's first transient failure. A channel whose
pass has run, or which has been failing, longer than
``daemon.ready_max_channel_stall`` is reported by /readyz.

A poll that committed alerts pokes the lanes (``poke``): they start, or a running
one makes one more pass, at once. Waiting for the next tick cost up to a tick
(5 s) per alert, more than everything else between fetch and webhook together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.core import Aggregator
    from aggregator.core.run import Run
    from aggregator.daemon.metrics import Metrics

from aggregator.exceptions import AggregatorError

log = logging.getLogger("aggregator.daemon")


@dataclass
class Lane:
    """What /readyz needs to know about one channel (monotonic seconds)."""

    busy_since: float | None = None
    failing_since: float | None = None
    last_error: str = ""

    def note(self, report: Any, now: float) -> None:
        """A delivered alert clears the failure; a retried one starts (or extends) it."""
        if getattr(report, "sent", 0):
            self.failing_since, self.last_error = None, ""
        elif getattr(report, "retried", 0):
            self.failing_since = self.failing_since or now
            errors = getattr(report, "errors", None) or [""]
            self.last_error = errors[-1]

    def problem(self, now: float, stall: float) -> str | None:
        if self.busy_since is not None and now - self.busy_since > stall:
            return f"sending for {now - self.busy_since:.0f}s"
        if self.failing_since is not None and now - self.failing_since > stall:
            return f"failing for {now - self.failing_since:.0f}s: {self.last_error}"
        return None


class Deliveries:
    """The delivery lanes of one daemon worker."""

    def __init__(
        self,
        agg: Aggregator,
        run: Run,
        *,
        worker: str,
        metrics: Metrics,
        batch: int,
        stopping: Callable[[], bool],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agg, self.run, self.worker = agg, run, worker
        self.metrics, self.batch, self.stopping = metrics, batch, stopping
        self.monotonic = monotonic
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.lanes: dict[str, Lane] = {}
        self.again: set[str] = set()  # lanes poked while running: one more pass
        self._poking: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """New alerts are committed: deliver them now, not at the next tick."""
        if self.stopping():
            return
        self.again.update(n for n, t in self.tasks.items() if not t.done())
        if self._poking is None or self._poking.done():
            self._poking = asyncio.get_running_loop().create_task(self.kick(orphans=False))

    async def kick(self, *, orphans: bool = True) -> None:
        """Start a lane for every channel with none running: configured channels, and
        (unless `orphans` is false: a poke is about new alerts) channels removed from
        feeds.yaml that still have alerts (dead-lettered there)."""
        if self.stopping():
            return
        names = {c.name for c in self.agg.config.alerts}
        if orphans:
            names |= await asyncio.to_thread(self.agg.pending_channels)
        for name in sorted(names):
            task = self.tasks.get(name)
            if task is None or task.done():
                self.tasks[name] = asyncio.create_task(self._drain(name), name=f"deliver-{name}")
        if not orphans:
            return
        for gone in set(self.lanes) - names:
            if gone not in self.tasks or self.tasks[gone].done():
                self.lanes.pop(gone, None)

    async def _drain(self, name: str) -> None:
        """Passes over one channel until it has nothing due (or fails)."""
        lane = self.lanes.setdefault(name, Lane())
        lane.busy_since = self.monotonic()
        try:
            while not self.stopping():
                self.again.discard(name)
                report = await self.agg.deliver_due(
                    self.run, worker=self.worker, limit=self.batch, only=[name]
                )
                self.metrics.record_delivery(report)
                lane.note(report, self.monotonic())
                done = report.sent + report.retried + report.dead + getattr(report, "folded", 0)
                if report.retried or (done < self.batch and name not in self.again):
                    return
        except AggregatorError as e:  # storage translated below us; channel bugs are values
            log.exception("delivery via %s failed", name)
            self.metrics.cycle_errors.labels("deliver").inc()
            lane.failing_since = lane.failing_since or self.monotonic()
            lane.last_error = f"{type(e).__name__}: {e}"
        finally:
            lane.busy_since = None

    def stuck(self) -> dict[str, str]:
        """Channels stalled past daemon.ready_max_channel_stall, with what is wrong."""
        stall = self.agg.config.daemon.ready_max_channel_stall.total_seconds()
        now = self.monotonic()
        return {
            name: problem
            for name, lane in list(self.lanes.items())
            if (problem := lane.problem(now, stall)) is not None
        }

    def running(self) -> list[asyncio.Task[None]]:
        return [t for t in self.tasks.values() if not t.done()]

    async def finish(self, budget: timedelta) -> None:
        """Let the lanes end within `budget` (they stop taking work), then cancel them."""
        tasks = self.running()
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=budget.total_seconds())
        for task in late:
            task.cancel()
        if late:
            log.warning("grace period over: abandoning %d alert sends", len(late))
            await asyncio.wait(late, timeout=1.0)
