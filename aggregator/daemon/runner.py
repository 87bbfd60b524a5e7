"""`aggregator run`: the long-running daemon (or one cycle with --once).

Lifecycle: open the Aggregator → take the SQLite lock (PostgreSQL needs
none) → start the observability endpoint → start APScheduler (cycle job
every daemon.tick, feeds.yaml watch every second) → run until SIGTERM/SIGINT →
stop taking work, give in-flight work most of daemon.grace to finish, cancel
the rest (each feed's writes are one transaction, so a cancelled poll leaves
nothing half-written), release this worker's leases, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.config.models import Config, load_config
from aggregator.daemon import scheduler
from aggregator.daemon.cycle import CycleContext, CycleReport, run_cycle
from aggregator.daemon.delivery import Deliveries
from aggregator.daemon.health import failing_feeds
from aggregator.daemon.httpd import ObservabilityServer, Readiness
from aggregator.daemon.lock import daemon_lock
from aggregator.daemon.logs import setup_logging
from aggregator.daemon.metrics import Metrics
from aggregator.daemon.reload import ConfigWatcher
from aggregator.daemon.worker import check_worker_id, make_worker_id
from aggregator.exceptions import AggregatorError, StorageError

if TYPE_CHECKING:
    from aggregator.core import Aggregator, Clock
    from aggregator.core.run import Run

log = logging.getLogger("aggregator.daemon")

#: How often feeds.yaml is looked at.
WATCH_EVERY = timedelta(seconds=1)
#: Share of daemon.grace that in-flight work may use; the rest is for cleanup.
GRACE_FOR_WORK = 0.75


@dataclass(frozen=True)
class Options:
    """How to run: from the command line or a test."""

    once: bool = False
    worker: str | None = None
    http_port: int | None = None  # None: daemon.http_port; 0: any free port
    signals: bool = True  # install SIGTERM/SIGINT handlers (needs the main thread)
    watch: bool = True  # live-reload feeds.yaml
    web: bool = True  # serve the desk on web.listen (unless web.enabled is false)
    web_listen: str | None = None  # None: web.listen (any free port when http_port is 0)
    announce: Callable[[str], None] = lambda line: print(line, flush=True)


def claim_batch(config: Config) -> int:
    """Feeds (re-checks, alerts) claimed at a time: enough to keep the connections busy,
    few enough that a batch finishes well within its lease."""
    return max(8, config.network.max_connections * 2)


def heartbeat_limit(config: Config) -> float:
    """/readyz turns unready when the scheduler has not ticked for this long."""
    return max(3 * config.daemon.tick.total_seconds(), 10.0)


class Daemon:
    """One worker: a scheduler, a cycle at a time, an endpoint, a config watcher."""

    def __init__(
        self, agg: Aggregator, options: Options | None = None, metrics: Metrics | None = None
    ) -> None:
        self.agg = agg
        self.options = options or Options()
        self.worker = self.options.worker or make_worker_id()
        self.metrics = metrics or Metrics()
        self.readiness = Readiness(
            ping=agg.ping,
            oldest_alert=agg.oldest_pending_alert,
            clock=agg.clock,
            max_heartbeat_age=heartbeat_limit(agg.config),
            max_alert_age=agg.config.daemon.ready_max_alert_age,
        )
        self.ctx: CycleContext | None = None
        self.deliveries: Deliveries | None = None
        self.http: ObservabilityServer | None = None
        self.web: Any = None  # aggregator.web.serve.WebServer while the desk is served
        self.watcher: ConfigWatcher | None = None
        self._sched: Any = None
        self._task: asyncio.Task[CycleReport] | None = None
        self._stop = asyncio.Event()
        self._stopping = False
        self._ticks_skipped = 0  # ticks that found the current cycle still running
        self._failing_logged: float | None = None  # when the failing-feeds line was last logged
        self.started = asyncio.Event()
        self.last_report: CycleReport | None = None

    # ------------------------------------------------------------ entry points

    async def serve(self) -> int:
        """Run until stopped (or one cycle with once); returns the exit code."""
        with daemon_lock(self.agg.config.database_url()):
            async with self.agg.running() as run:
                self.attach(run)
                if self.options.once:
                    return await self._serve_once()
                return await self._serve_forever()

    async def cycle_now(self) -> CycleReport:
        """One cycle, now (what `--once` and each scheduler tick run)."""
        assert self.ctx is not None
        start = time.perf_counter()
        try:
            return await run_cycle(self.ctx)
        finally:
            self.metrics.cycle_seconds.observe(time.perf_counter() - start)

    def request_stop(self, why: str = "stop requested") -> None:
        """First call: graceful stop. A second one: abandon in-flight work now."""
        if self._stopping:
            log.warning("%s again: abandoning in-flight work now", why)
            if self._task is not None:
                self._task.cancel()
            return
        log.info(
            "%s: finishing in-flight work (grace %ss)",
            why,
            self.agg.config.daemon.grace.total_seconds(),
        )
        self._stopping = True
        self._stop.set()

    # ------------------------------------------------------------ setup

    def attach(self, run: Run) -> CycleContext:
        """Work through this running pipeline (``async with agg.running() as run``).

        serve() does this itself; a benchmark or an embedding program that
        drives cycles by hand (``await daemon.cycle_now()``) calls it once.
        """
        run.observe_extraction(self.metrics.extraction.observe)
        self.ctx = CycleContext(
            self.agg,
            run,
            self.worker,
            self.metrics,
            claim_batch(self.agg.config),
            stopping=lambda: self._stopping,
            on_config=self.apply_config,
            mark_config_written=self._mark_config_written,
        )
        return self.ctx

    async def _serve_once(self) -> int:
        """One cycle; a SIGTERM stops it like the daemon (finish or abandon, release)."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        task = self._task = asyncio.create_task(self.cycle_now(), name="aggregator-cycle")
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            await self._shutdown(loop)
        if not task.cancelled():
            self.last_report = task.result()
            self.last_report.pending = self._queued()
            self._note_failing(self.last_report)
            self.options.announce(f"run --once: {self.last_report.summary()}")
        return 0

    def _queued(self) -> int | None:
        """Alerts still waiting (held for grouping or a digest, or for a retry)."""
        counts = getattr(self.agg, "alert_counts", None)
        if counts is None:
            return None
        try:
            found = counts()
        except AggregatorError:
            return None
        return int(found.get("pending", 0)) + int(found.get("failed", 0))

    async def _serve_forever(self) -> int:
        listen = self._web_listen()  # a desk open beyond loopback stops here, before anything
        await self._start_workers()
        self._start_deliveries()
        self.http = self._start_http()
        self.web = self._start_web(listen)
        self.watcher = self._start_watcher()
        self._sched = scheduler.build_scheduler(
            [
                scheduler.Every("cycle", self.agg.config.daemon.tick, self._tick),
                scheduler.Every("watch", WATCH_EVERY, self._watch),
            ]
        )
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        self._sched.start()
        log.info(
            "daemon started: tick %ss, %d feeds",
            self.agg.config.daemon.tick.total_seconds(),
            len(self.agg.config.feeds),
        )
        self.started.set()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(loop)
        return 0

    async def _start_workers(self) -> None:
        """Parse/extraction workers up before the first cycle, which then spends its
        time on feeds; if they fail here, the first cycle tries again and reports it."""
        try:
            await self.agg.extractor.start()
        except AggregatorError as e:
            log.warning("workers: %s", e)

    def _start_deliveries(self) -> None:
        """Alerts go out in lanes of their own, one per channel, beside the poll cycles:
        a slow or hanging receiver never holds up polling."""
        assert self.ctx is not None
        self.ctx.deliveries_apart = True
        self.deliveries = Deliveries(
            self.agg,
            self.ctx.run,
            worker=self.worker,
            metrics=self.metrics,
            batch=self.ctx.batch,
            stopping=lambda: self._stopping,
        )
        self.readiness.stuck_channels = self.deliveries.stuck
        self.ctx.run.on_alerts(self.deliveries.poke)

    def _start_http(self) -> ObservabilityServer:
        d = self.agg.config.daemon
        port = self.options.http_port if self.options.http_port is not None else d.http_port
        try:
            http = ObservabilityServer(d.http_host, port, self.readiness, self.metrics.render)
        except OSError as e:
            raise AggregatorError(
                f"cannot listen on {d.http_host}:{port}: {e.strerror}",
                hint="set daemon.http_port in feeds.yaml, or pass "
                "--http-port 0 to pick a free port",
            ) from e
        http.start()
        self.options.announce(
            f"aggregator run: worker {self.worker}; /healthz /readyz /metrics on {http.url}"
        )
        return http

    def _web_listen(self) -> tuple[str, int] | None:
        """Where the desk listens, or None when it is off. Refuses a desk reachable
        beyond loopback without web.users (ConfigError: the command exits 2)."""
        web = self.agg.config.web
        if not self.options.web or not web.enabled:
            return None
        from aggregator.web.serve import listen_address

        listen = self.options.web_listen
        if listen is None and "listen" not in web.model_fields_set and self._any_http_port():
            listen = f"{web.host}:0"  # tests and side-by-side workers: no fixed port
        return listen_address(self.agg, listen)

    def _any_http_port(self) -> bool:
        port = self.options.http_port
        return (port if port is not None else self.agg.config.daemon.http_port) == 0

    def _start_web(self, listen: tuple[str, int] | None) -> Any:
        """The desk in its own thread; a port in use is logged and the daemon polls on."""
        if listen is None:
            return None
        from aggregator.web.serve import WebServer

        try:
            web = WebServer(self.agg, *listen, daemon=True).start()
        except AggregatorError as e:
            log.error("the desk is not served: %s (%s)", e, e.hint)
            self.options.announce(f"aggregator run: desk not served: {e}")
            return None
        self.options.announce(f"aggregator run: the desk on {web.url}/")
        return web

    def _start_watcher(self) -> ConfigWatcher | None:
        path = self.agg.config.path
        if not self.options.watch or path is None:
            return None
        return ConfigWatcher(path, self.apply_config)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.options.signals:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)

    # ------------------------------------------------------------ jobs

    async def _tick(self) -> None:
        """Scheduler job: prove liveness, start a cycle unless one is still running."""
        self.readiness.beat()
        self.metrics.beat()
        if self._stopping:
            return
        if self._task is not None and not self._task.done():
            self._ticks_skipped += 1  # said and counted once the cycle ends
        else:
            self._task = asyncio.create_task(self._guarded_cycle(), name="aggregator-cycle")
        if self.deliveries is not None:
            try:
                await self.deliveries.kick()
            except AggregatorError:  # e.g. the database is away: the next tick tries again
                log.exception("could not start alert deliveries")

    async def _guarded_cycle(self) -> CycleReport:
        self._ticks_skipped = 0
        start = time.monotonic()
        try:
            report = await self.cycle_now()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the crash barrier: a bug must not stop the daemon
            log.exception("cycle failed")
            report = CycleReport(errors=["cycle failed"])
        else:
            if report.polls or report.errors:
                log.info("cycle: %s", report.summary())
            self._note_failing(report)
        self._note_overrun(time.monotonic() - start)
        return report

    #: How often the daemon logs its one-line summary of failing feeds.
    FAILING_SUMMARY_EVERY = 3600.0

    def _note_failing(self, report: CycleReport) -> None:
        """Keep /healthz's feed summary current; once an hour, one line about failing feeds.

        Per-feed warnings scroll by; "all 17 feeds failing: DNS" is what tells an
        operator the machine is offline rather than 17 sites broken.
        """
        if report.states is None:
            return
        summary = failing_feeds(self.agg.config, report.states)
        self.readiness.feeds = summary
        now = time.monotonic()
        if not summary.failing:
            return
        if (
            self._failing_logged is not None
            and now - self._failing_logged < self.FAILING_SUMMARY_EVERY
        ):
            return
        self._failing_logged = now
        names = ", ".join(f for f, _ in summary.failing[:5])
        more = f" and {len(summary.failing) - 5} more" if len(summary.failing) > 5 else ""
        log.warning("feeds: %s (%s%s)", summary.line(), names, more)

    def _note_overrun(self, took: float) -> None:
        """One line and two counters for a cycle that outlasted the tick.

        The ticks that fell inside it did nothing (a cycle never overlaps the
        next), so work due in that time waited; saying so once per cycle, with
        its duration, tells the operator to lengthen the tick or find the slow
        step. A blocked event loop coalesces ticks before `_tick` sees them, so
        the count is at least the number of whole ticks the cycle lasted.
        """
        tick = self.agg.config.daemon.tick.total_seconds()
        if tick <= 0 or took <= tick:
            return
        skipped = max(self._ticks_skipped, int(took // tick))
        self.metrics.cycle_overruns.inc()
        self.metrics.ticks_missed.inc(skipped)
        log.warning(
            "cycle took %.1fs, longer than the tick (tick %gs): %d tick(s) skipped while it ran",
            took,
            tick,
            skipped,
        )

    async def _watch(self) -> None:
        if self.watcher is None:
            return
        try:
            event = self.watcher.poll()
        except AggregatorError as e:  # e.g. the database was busy: retried next second
            log.error("feeds.yaml changed but could not be applied (will retry): %s", e)
            self.metrics.reloads.labels("error").inc()
            return
        if event is not None:
            self.metrics.reloads.labels("ok" if event.config else "invalid").inc()

    def _mark_config_written(self) -> None:
        if self.watcher is not None:
            self.watcher.mark_current()

    def apply_config(self, config: Config) -> None:
        """Adopt a new feeds.yaml now: feeds, topics, channels; tick is rescheduled."""
        old = self.agg.config
        self.agg.reload(config)  # reaches the running pipeline too
        _log_changes(old, config)
        self.readiness.max_heartbeat_age = heartbeat_limit(config)
        self.readiness.max_alert_age = config.daemon.ready_max_alert_age
        if config.daemon.tick != old.daemon.tick and self._sched is not None:
            scheduler.reschedule(self._sched, "cycle", config.daemon.tick)
        if config.database_url() != old.database_url():
            log.warning("database: changed in feeds.yaml; restart the daemon to use it")

    # ------------------------------------------------------------ stopping

    async def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sched is not None:
            scheduler.stop(self._sched)
        await self._finish_in_flight()
        self._release_leases()
        if self.http is not None:
            self.http.close()
        if self.web is not None:
            self.web.close()
        if self.options.signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("daemon stopped")

    async def _finish_in_flight(self) -> None:
        budget = self.agg.config.daemon.grace.total_seconds() * GRACE_FOR_WORK
        work = [self._finish_cycle(budget)]
        if self.deliveries is not None:
            work.append(self.deliveries.finish(timedelta(seconds=budget)))
        await asyncio.gather(*work)

    async def _finish_cycle(self, budget: float) -> None:
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=budget)
        if done:
            return
        log.warning("grace period over: abandoning in-flight work")
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)

    def _release_leases(self) -> None:
        try:
            n = self.agg.release_leases(self.worker)
        except AggregatorError as e:  # the leases expire anyway
            log.warning("could not release leases (they expire by themselves): %s", e)
            return
        if n:
            log.info("released %d leases of abandoned work", n)


def _log_changes(old: Config, new: Config) -> None:
    before, after = {f.name for f in old.feeds}, {f.name for f in new.feeds}
    added, removed = sorted(after - before), sorted(before - after)
    log.info(
        "feeds.yaml reloaded: %d feeds%s%s",
        len(new.feeds),
        f", added {', '.join(added)}" if added else "",
        f", removed {', '.join(removed)}" if removed else "",
    )


# ------------------------------------------------------------------ process entry


def open_aggregator(config: Config, clock: Clock | None = None, attempts: int = 3) -> Aggregator:
    """make_aggregator, retried briefly: workers starting together race on migrations
    and on creating feed rows; the loser succeeds a moment later."""
    from aggregator.core import make_aggregator

    for attempt in range(attempts):
        try:
            return make_aggregator(config, clock=clock)
        except StorageError as e:  # storage translated whatever the database raised
            if attempt == attempts - 1:
                raise
            log.warning("opening the database failed (%s); retrying", e)
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def run(config_path: Path, options: Options) -> int:
    """The `aggregator run` command: exit 0 after a clean stop."""
    config = load_config(config_path)
    worker = check_worker_id(options.worker) if options.worker else make_worker_id()
    options = replace(options, worker=worker)
    setup_logging(config.daemon.log_format, config.daemon.log_level, worker)
    if (empty := config.emptiness_warning()) is not None:
        log.warning("%s", empty)
    with open_aggregator(config) as agg:
        return asyncio.run(Daemon(agg, options).serve())
