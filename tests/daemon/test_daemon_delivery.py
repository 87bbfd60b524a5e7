"""Delivery across real `aggregator run` processes (issue 13.5 and 13.6).

* Two workers on one PostgreSQL and a receiver that answers slowly: every alert
  is delivered exactly once (the claim is renewed while alerts wait their turn,
  and each outcome is recorded as soon as the receiver answered).
* A receiver that hangs, with 9 alerts queued and a 5 s timeout: a feed due every
  30 s is still polled every 30 s (it was every 46 s), and /readyz names the
  stuck channel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.core import make_aggregator
from tests.conftest import _pg_schema, postgres_url
from tests.support.clock import wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, Request, Response

ROOT = Path(__file__).resolve().parents[2]

WORDS = [
    "harbour",
    "tariff",
    "senate",
    "drought",
    "vaccine",
    "rocket",
    "glacier",
    "merger",
    "strike",
    "verdict",
    "election",
    "pipeline",
    "satellite",
    "festival",
    "protest",
    "budget",
    "reactor",
    "wildfire",
    "summit",
    "ferry",
]


def _rss(n: int, prefix: str = "alpha") -> str:
    """`n` items that match the topic `alpha`, each with its own words (no wire grouping)."""
    items = "".join(
        f"<item><title>{prefix} {WORDS[i]} story {i}</title>"
        f"<link>http://example.org/{prefix}/{i}</link><guid>{prefix}-{i}</guid>"
        f"<description>alpha {' '.join(WORDS[i:] + WORDS[:i])} {i * 7919}</description></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<link>http://example.org/</link><description>d</description>{items}</channel></rss>"
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    yield from _pg_schema(base)


def spawn(config: Path, worker: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aggregator",
                "--config",
                str(config),
                "run",
                "--worker-id",
                worker,
                "--http-port",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=err,
        )


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def endpoint(proc: subprocess.Popen[bytes]) -> str:
    """The daemon's observability URL, from its start-up line."""
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert " on http://" in line, line
    return line.rsplit(" on ", 1)[1].strip()


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def sent_count(pg: str) -> int:
    import psycopg

    with psycopg.connect(pg.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()
        return int(row[0]) if row else 0


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_and_a_slow_receiver_deliver_each_alert_once(
    pg_url: str, http_server: LoopbackServer, tmp_path: Path
) -> None:
    alerts = 8
    lock = threading.Lock()
    ids: list[str] = []

    def slow(req: Request) -> Response:
        with lock:
            ids.append(req.headers["webhook-id"])
        return Response(200, b"ok", delay=1.0)  # slower than the lease is long, twice over

    http_server.route("/news.xml", _rss(alerts), content_type="application/rss+xml")
    config = write_config(
        tmp_path,
        [{"name": "news", "url": http_server.url("/news.xml")}],
        database=pg_url,
        topics=[{"name": "alpha", "query": "alpha"}],
        alerts=[
            {
                "name": "desk",
                "kind": "webhook",
                "url": http_server.handle("/hook", slow),
                "group_window": "0s",
            }
        ],
        daemon={"tick": "0.2s", "lease": "2s", "grace": "5s"},
    )
    with make_aggregator(config, extract_workers=0) as agg:  # queue the alerts once
        [result] = agg.poll()
        assert result.new == alerts, result
        assert len(agg.alerts()) == alerts
    a = spawn(config, "worker-a", tmp_path / "a.log")
    b = spawn(config, "worker-b", tmp_path / "b.log")
    try:
        wait_for(lambda: sent_count(pg_url) == alerts, 90, "every alert sent")
        time.sleep(3)  # a second copy would arrive now (a lease expired mid-pass)
    finally:
        stop(a, b)
    logs = (tmp_path / "a.log").read_text()[-2000:] + (tmp_path / "b.log").read_text()[-2000:]
    with lock:
        counts = {i: ids.count(i) for i in ids}
    assert len(counts) == alerts, logs
    assert set(counts.values()) == {1}, (counts, logs)


@pytest.mark.slow
def test_a_hanging_receiver_neither_stalls_polling_nor_stays_unnoticed(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    hang = threading.Event()

    def hanging(req: Request) -> Response:
        hang.wait(60)  # far longer than the 5 s timeout
        return Response(200, b"late")

    polls: list[float] = []

    def tick(req: Request) -> Response:
        polls.append(time.monotonic())
        return Response(200, _rss(1, "quiet").encode(), {"Content-Type": "application/rss+xml"})

    http_server.route("/news.xml", _rss(9), content_type="application/rss+xml")
    config = write_config(
        tmp_path,
        [
            {"name": "news", "url": http_server.url("/news.xml")},
            {"name": "tick", "url": http_server.handle("/tick.xml", tick), "interval": "30s"},
        ],
        database=f"sqlite:///{tmp_path / 'agg.db'}",
        topics=[{"name": "alpha", "query": "alpha"}],
        alerts=[
            {
                "name": "desk",
                "kind": "webhook",
                "url": http_server.handle("/hook", hanging),
                "group_window": "0s",
            }
        ],
        network={"timeout": "5s"},
        daemon={"tick": "0.25s", "grace": "3s", "jitter": 0, "ready_max_channel_stall": "8s"},
    )
    with make_aggregator(config, extract_workers=0) as agg:  # 9 alerts queued
        agg.poll(["news"])
        assert len(agg.alerts()) == 9
    proc = spawn(config, "worker-a", tmp_path / "a.log")
    try:
        base = endpoint(proc)
        wait_for(lambda: len(polls) >= 1, 30, "the first poll of the 30s feed")
        wait_for(lambda: len(polls) >= 2, 60, "the second poll of the 30s feed")
        status, body = readyz(base)
    finally:
        hang.set()
        stop(proc)
    log = (tmp_path / "a.log").read_text()[-3000:]
    # on time: 30 s (no jitter) and a 0.25 s tick; delivering in the cycle made it 45 s+
    assert polls[1] - polls[0] < 31.5, (polls, log)
    assert status == 503, body
    assert "desk stuck" in body["checks"]["channels"], body
    assert body["checks"]["database"] == "ok"


def test_a_lane_is_stuck_when_a_send_runs_or_failures_last_past_the_stall() -> None:
    from aggregator.alerts.dispatch import DispatchReport
    from aggregator.daemon.delivery import Lane

    lane = Lane(busy_since=0.0)
    assert lane.problem(10.0, stall=120) is None
    assert lane.problem(121.0, stall=120) == "sending for 121s"
    lane.busy_since = None
    lane.note(DispatchReport(retried=1, errors=["desk: webhook timeout error"]), 200.0)
    lane.note(DispatchReport(retried=1, errors=["desk: webhook timeout error"]), 300.0)
    assert lane.problem(310.0, stall=120) is None  # failing since 200: not yet 120 s
    assert lane.problem(330.0, stall=120) == "failing for 130s: desk: webhook timeout error"
    lane.note(DispatchReport(), 340.0)  # nothing was due: no news either way
    assert lane.problem(340.0, stall=120) is not None
    lane.note(DispatchReport(sent=1), 350.0)
    assert lane.problem(500.0, stall=120) is None


def test_readyz_names_a_stuck_channel() -> None:
    from datetime import UTC, datetime, timedelta

    from aggregator.daemon.httpd import Readiness

    r = Readiness(
        ping=lambda: True,
        oldest_alert=lambda: None,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        max_heartbeat_age=15.0,
        max_alert_age=timedelta(minutes=30),
        stuck_channels=lambda: {"desk": "sending for 130s"},
    )
    r.beat()
    ok, checks = r.check()
    assert not ok and checks["channels"] == "desk stuck: sending for 130s"
