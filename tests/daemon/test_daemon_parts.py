"""The daemon's small parts: worker ids, the SQLite lock, log formats, the feeds.yaml
watcher, the APScheduler wiring and the metrics registry."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.daemon import scheduler
from aggregator.daemon.lock import (
    DaemonLock,
    DaemonLockedError,
    daemon_lock,
    lock_path,
    sqlite_file,
)
from aggregator.daemon.logs import JsonFormatter, TextFormatter, WorkerFilter
from aggregator.daemon.metrics import Metrics
from aggregator.daemon.reload import ConfigWatcher
from aggregator.daemon.worker import make_worker_id
from aggregator.types import UpdateResult
from tests.support.config import write_config

# ------------------------------------------------------------------ worker ids


def test_worker_id_is_host_pid_random() -> None:
    a, b = make_worker_id("desk-1", 42), make_worker_id("desk-1", 42)
    assert re.fullmatch(r"desk-1:42:[0-9a-f]{8}", a)
    assert a != b  # a restarted process reusing the pid is another worker
    assert make_worker_id().split(":")[1] == str(os.getpid())
    assert len(make_worker_id("h" * 300, 10**9)) <= 100  # fits lease_owner


# ------------------------------------------------------------------ the SQLite lock


def test_lock_file_sits_next_to_the_database(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql+psycopg://u@h/db") is None
    assert lock_path(tmp_path / "a.db") == tmp_path / "a.db.lock"


def test_second_lock_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    with daemon_lock(f"sqlite:///{tmp_path}/a.db"):
        with pytest.raises(DaemonLockedError) as refused:
            DaemonLock(tmp_path / "a.db.lock").acquire()
        assert f"(pid {os.getpid()})" in refused.value.message
        assert "PostgreSQL" in (refused.value.hint or "")
        assert refused.value.exit_code == 1
    with daemon_lock(f"sqlite:///{tmp_path}/a.db"):
        pass  # free again


def test_postgres_needs_no_lock() -> None:
    with daemon_lock("postgresql+psycopg://u@h/db"), daemon_lock("postgresql+psycopg://u@h/db"):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from aggregator.daemon.lock import "
        "DaemonLock; DaemonLock(Path(sys.argv[1])).acquire(); print('held', flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "a.db.lock")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DaemonLockedError, match=f"pid {holder.pid}"):
            DaemonLock(tmp_path / "a.db.lock").acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = DaemonLock(tmp_path / "a.db.lock")
    lock.acquire()  # SIGKILL released it
    lock.release()


# ------------------------------------------------------------------ logs


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "aggregator.ingest.pipeline", logging.WARNING, __file__, 1, msg, (), None
    )
    for k, v in extra.items():
        setattr(rec, k, v)
    WorkerFilter("host:1:ab").filter(rec)
    return rec


def test_json_lines_name_the_feed_and_the_worker() -> None:
    line = JsonFormatter().format(record("HTTP 500", feed="le-monde"))
    data = json.loads(line)
    assert data["feed"] == "le-monde" and data["worker"] == "host:1:ab"
    assert data["level"] == "warning" and data["msg"] == "HTTP 500"
    assert data["logger"] == "aggregator.ingest.pipeline" and data["ts"].endswith("+00:00")


def test_text_lines_name_the_feed_and_the_worker() -> None:
    line = TextFormatter().format(record("HTTP 500", feed="le-monde"))
    assert line.endswith(
        "WARNING aggregator.ingest.pipeline HTTP 500  feed=le-monde worker=host:1:ab"
    )


def test_setup_logging_routes_library_logs(tmp_path: Path) -> None:
    from aggregator.daemon.logs import setup_logging

    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("json", "info", "w1", buf)
    try:
        logging.getLogger("aggregator.ingest.pipeline").warning(
            "feed %s: gone", "x", extra={"feed": "x"}
        )
        logging.getLogger("apscheduler.executors").info("Running job ...")  # muted
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    [line] = buf.getvalue().splitlines()
    assert json.loads(line)["feed"] == "x"


# ------------------------------------------------------------------ feeds.yaml watcher


def test_watcher_applies_edits_ignores_touches_and_reports_errors_once(tmp_path: Path) -> None:
    path = write_config(tmp_path, [{"name": "a", "url": "http://127.0.0.1:9/a.xml"}])
    applied: list[list[str]] = []
    w = ConfigWatcher(path, lambda c: applied.append([f.name for f in c.feeds]))
    assert w.poll() is None
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same bytes
    assert w.poll() is None
    good = path.read_text()
    path.write_text(good.replace("name: a", "name: b"))
    event = w.poll()
    assert event is not None and event.config is not None and applied == [["b"]]
    path.write_text(good.replace("name: a", "name: B!"))
    event = w.poll()
    assert event is not None and event.error is not None and "feeds[0].name" in event.error.message
    assert w.poll() is None  # reported once
    path.unlink()
    assert w.poll() is None  # mid-rename: nothing to read, nothing changes
    path.write_text(good)
    assert w.poll() is not None and applied == [["b"], ["a"]]


def test_watcher_retries_an_edit_that_could_not_be_applied(tmp_path: Path) -> None:
    path = write_config(tmp_path, [{"name": "a", "url": "http://127.0.0.1:9/a.xml"}])
    calls: list[int] = []

    def apply(_: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")

    w = ConfigWatcher(path, apply)
    path.write_text(path.read_text().replace("name: a", "name: b"))
    with pytest.raises(RuntimeError):
        w.poll()
    assert w.poll() is not None and len(calls) == 2


# ------------------------------------------------------------------ APScheduler wiring


async def test_scheduler_runs_coroutine_jobs_on_the_loop_at_their_interval() -> None:
    loop = asyncio.get_running_loop()
    runs: dict[str, list[float]] = {"fast": [], "slow": []}

    def job(name: str) -> scheduler.JobFn:
        async def run() -> None:
            assert asyncio.get_running_loop() is loop  # on the loop, not in a thread
            runs[name].append(time.monotonic())

        return run

    s = scheduler.build_scheduler(
        [
            scheduler.Every("fast", timedelta(seconds=0.1), job("fast")),
            scheduler.Every("slow", timedelta(seconds=10), job("slow")),
        ]
    )
    s.start()
    await asyncio.sleep(0.55)
    scheduler.reschedule(s, "fast", timedelta(seconds=10))
    count = len(runs["fast"])
    await asyncio.sleep(0.3)
    scheduler.stop(s)
    assert 4 <= count <= 7
    assert len(runs["fast"]) == count  # rescheduled to 10s: no more runs
    assert len(runs["slow"]) == 1  # the first run is immediate


# ------------------------------------------------------------------ metrics


def test_metrics_count_polls_by_result_and_error_kind() -> None:
    m = Metrics()
    m.record_polls(
        [
            UpdateResult("a", new=3),
            UpdateResult("b", not_modified=True),
            UpdateResult("c", error="HTTP 503", error_kind="http"),
        ]
    )
    text = m.render().decode()
    assert 'aggregator_polls_total{result="ok"} 1.0' in text
    assert 'aggregator_polls_total{result="not_modified"} 1.0' in text
    assert 'aggregator_poll_errors_total{kind="http"} 1.0' in text
    assert "aggregator_articles_ingested_total 3.0" in text
    assert 'result="ok"' not in Metrics().render().decode()  # registries are per daemon


def test_metrics_count_deliveries_from_the_dispatch_report() -> None:
    from aggregator.alerts.dispatch import DispatchReport

    m = Metrics()
    m.record_delivery(DispatchReport(sent=4, retried=2, dead=1, folded=3))
    text = m.render().decode()
    assert "aggregator_alerts_delivered_total 4.0" in text
    assert "aggregator_alerts_folded_total 3.0" in text
    assert 'aggregator_alerts_failed_total{outcome="retry"} 2.0' in text
    assert 'aggregator_alerts_failed_total{outcome="dead"} 1.0' in text


def test_log_lines_never_carry_url_credentials() -> None:
    """The handler's RedactFilter masks userinfo and secret parameters in any record."""
    from aggregator.daemon.logs import setup_logging

    stream = io.StringIO()
    handler = setup_logging("json", "info", "w1", stream=stream)
    try:
        log = logging.getLogger("aggregator.test.redact")
        log.warning("feed x: HTTP 500 from %s", "https://u:Secret-Pw-9@e.org/f?api_key=K&x=1")
        try:
            raise ValueError("boom at https://e.org/f?token=T")
        except ValueError:
            log.exception("crashed", extra={"url": "https://e.org/?sig=S"})
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert (
        "Secret-Pw-9" not in text
        and "K&" not in text
        and "token=T" not in text
        and "sig=S" not in text
    )
    first, second = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
    assert first["msg"] == "feed x: HTTP 500 from https://u:***@e.org/f?api_key=***&x=1"
    assert "token=***" in second["exc"] and second["url"] == "https://e.org/?sig=***"
