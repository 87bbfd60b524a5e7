"""Real `aggregator run` processes: SIGTERM mid-poll, and one daemon per SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
GRACE = 4.0
START_TIMEOUT = 60.0

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>Item {n}</title><link>http://example.org/{n}</link><guid>g{n}</guid>
<description>text {n}</description></item></channel></rss>"""


def spawn(config: Path, *args: str, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("a") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "run", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def daemon_config(tmp_path: Path, server: LoopbackServer) -> Path:
    fast = server.route("/fast.xml", RSS.format(n=1), content_type="application/rss+xml")
    slow = server.route(
        "/slow.xml", RSS.format(n=2), content_type="application/rss+xml", delay=60.0
    )
    return write_config(
        tmp_path,
        [{"name": "fast", "url": fast}, {"name": "slow", "url": slow}],
        daemon={"tick": "0.2s", "grace": f"{GRACE}s", "http_port": 0},
        network={"timeout": "60s"},
    )


@pytest.mark.slow
def test_sigterm_during_a_poll_exits_0_within_grace_leaving_a_sound_database(
    http_server: LoopbackServer, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    config = daemon_config(tmp_path, http_server)
    log = tmp_path / "daemon.log"
    proc = spawn(config, log=log)
    procs.append(proc)
    wait_for(lambda: bool(http_server.requests_for("/slow.xml")), START_TIMEOUT, "the slow poll")
    wait_for(lambda: _scalar(tmp_path, "SELECT count(*) FROM article") == 1, 10, "the fast feed")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=GRACE + 10)
    elapsed = time.monotonic() - sent
    assert code == 0, log.read_text()
    assert elapsed < GRACE, f"took {elapsed:.1f}s to stop"
    assert _scalar(tmp_path, "PRAGMA integrity_check") == "ok"
    assert _scalar(tmp_path, "SELECT count(*) FROM feed WHERE lease_owner IS NOT NULL") == 0
    assert _scalar(tmp_path, "SELECT count(*) FROM feed_entry") == 1  # nothing half-written
    assert "abandoning in-flight work" in log.read_text()


def _scalar(folder: Path, sql: str) -> object:
    db = folder / "test.db"
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:  # tables not created yet
            return None


@pytest.mark.slow
def test_a_second_daemon_on_the_same_sqlite_file_refuses_to_start(
    http_server: LoopbackServer, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    config = daemon_config(tmp_path, http_server)
    first = spawn(config, log=tmp_path / "first.log")
    procs.append(first)
    assert first.stdout is not None
    assert "/healthz" in first.stdout.readline()  # started and announced its endpoint
    second = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "run", "--once"],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert second.returncode == 1
    assert f"already running on {tmp_path / 'test.db'}" in second.stderr
    assert f"(pid {first.pid})" in second.stderr
    assert "hint:" in second.stderr and "PostgreSQL" in second.stderr
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=GRACE + 10) == 0
    http_server.routes["/slow.xml"] = http_server.routes["/fast.xml"]
    again = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "run", "--once"],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert again.returncode == 0, again.stderr  # the lock went with the first daemon
    assert "run --once: 1 feeds polled" in again.stdout  # the abandoned slow feed, now due
