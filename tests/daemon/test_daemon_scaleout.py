"""Two real `aggregator run` workers on one PostgreSQL share 200 feeds; one is SIGKILLed
mid-cycle and the other takes its claims over once their leases expire."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aggregator.core import make_aggregator
from tests.conftest import _pg_schema, postgres_url
from tests.support.clock import wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, Request, Response

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
FEEDS = 200
LEASE = 3.0
DELAY = 0.25  # seconds per feed response: keeps each worker busy for a few seconds

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>{n}</title>
<link>http://example.org/</link><description>d</description>
<item><title>Story {n}</title><link>http://example.org/story/{n}</link><guid>s{n}</guid>
<description>text {n}</description></item></channel></rss>"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    yield from _pg_schema(base)


class Hits:
    """Wall-clock time of every answer, per path; answers wait until `go` is set."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.go = threading.Event()

    def serve(self, body: str) -> Callable[[Request], Response]:
        def handle(req: Request) -> Response:
            self.go.wait(60)
            with self.lock:
                self.times.setdefault(req.path, []).append(time.time())
            return Response(
                200, body.encode(), {"Content-Type": "application/rss+xml"}, delay=DELAY
            )

        return handle

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.times.get(path, []))


def query(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        return list(c.execute(sql, params).fetchall())


def lease_owners(url: str) -> set[str]:
    return {
        r[0]
        for r in query(url, "SELECT DISTINCT lease_owner FROM feed WHERE lease_owner IS NOT NULL")
    }


def both_working(url: str) -> bool:
    """Each worker holds claims right now, and some polls are done."""
    done = query(url, "SELECT count(*) FROM feed WHERE last_success_at IS NOT NULL")[0][0]
    return lease_owners(url) == {"worker-a", "worker-b"} and int(done) >= 40


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
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


@pytest.mark.slow
def test_two_workers_share_feeds_and_survive_a_sigkill(
    pg_url: str, http_server: LoopbackServer, tmp_path: Path
) -> None:
    hits = Hits()
    feeds = [
        {
            "name": f"f{i:03d}",
            "url": http_server.handle(f"/f{i:03d}.xml", hits.serve(RSS.format(n=i))),
        }
        for i in range(FEEDS)
    ]
    config = write_config(
        tmp_path,
        feeds,
        database=pg_url,
        network={"max_per_host": 8, "timeout": "60s"},
        daemon={"tick": "0.2s", "lease": f"{LEASE:g}s", "grace": "2s"},
    )
    make_aggregator(config, extract_workers=0).close()  # schema and feed rows, once
    a = spawn(config, "worker-a", tmp_path / "a.log")
    b = spawn(config, "worker-b", tmp_path / "b.log")
    try:
        # The site answers once both workers hold claims, so they really work side by side.
        wait_for(lambda: len(lease_owners(pg_url)) == 2, 60, "both workers to claim feeds")
        hits.go.set()
        wait_for(lambda: both_working(pg_url), 60, "both workers to have polled and hold claims")
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        orphans = dict(
            query(pg_url, "SELECT name, lease_until FROM feed WHERE lease_owner = 'worker-a'")
        )
        wait_for(
            lambda: (
                query(
                    pg_url,
                    "SELECT count(*) FROM feed WHERE last_success_at IS NULL "
                    "OR lease_owner IS NOT NULL",
                )[0][0]
                == 0
            ),
            60,
            "every feed polled",
        )
        b.send_signal(signal.SIGTERM)
        assert b.wait(20) == 0
    finally:
        hits.go.set()
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()
    log_b = (tmp_path / "b.log").read_text()
    assert orphans, "worker-a died holding no claim: the kill was not mid-cycle"
    entries = dict(
        query(
            pg_url,
            "SELECT f.name, count(e.id) FROM feed f "
            "LEFT JOIN feed_entry e ON e.feed_id = f.id GROUP BY f.name",
        )
    )
    assert entries == {f["name"]: 1 for f in feeds}, log_b[-3000:]
    titles = [r[0] for r in query(pg_url, "SELECT title FROM article")]
    assert sorted(titles) == sorted(f"Story {i}" for i in range(FEEDS))  # no duplicate article
    for f in feeds:
        path, name = f"/{f['name']}.xml", str(f["name"])
        if name in orphans:
            assert 1 <= hits.count(path) <= 2, name  # maybe fetched by a, then by b
            lease_until = orphans[name].replace(tzinfo=UTC)
            assert hits.times[path][-1] >= lease_until.timestamp() - 0.5  # after expiry
        else:
            assert hits.count(path) == 1, name  # each due feed polled exactly once
