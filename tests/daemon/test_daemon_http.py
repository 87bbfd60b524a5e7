"""The observability endpoint: /healthz, /readyz (database, heartbeat, alert age), /metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aggregator.core import make_aggregator
from aggregator.daemon.background import BackgroundDaemon
from aggregator.daemon.httpd import Readiness
from aggregator.daemon.runner import Options
from aggregator.storage.records import AlertDraft
from aggregator.storage.store import Store
from tests.conftest import postgres_url
from tests.support.clock import wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>One</title><link>http://example.org/1</link><guid>g1</guid></item>
<item><title>Two</title><link>http://example.org/2</link><guid>g2</guid></item>
</channel></rss>"""
T0 = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(text: str) -> dict[str, float]:
    """'name{label="v"}' → value, for every sample of a Prometheus exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_endpoints_report_liveness_readiness_and_metrics(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    url = http_server.route("/feed.xml", RSS, content_type="application/rss+xml")
    broken = http_server.route("/broken.xml", "no", status=500)
    path = write_config(
        tmp_path,
        [{"name": "news", "url": url}, {"name": "bad", "url": broken}],
        daemon={"tick": "0.2s", "http_port": 0},
    )
    lines: list[str] = []
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lines.append)) as d,
    ):
        assert d.http in lines[0]  # the chosen port is printed
        wait_for(
            lambda: 'aggregator_polls_total{result="error"}' in get(d.http + "/metrics")[1],
            10,
            "the first cycle",
        )
        assert get(d.http + "/healthz") == (200, "ok\n")
        status, body = get(d.http + "/readyz")
        assert status == 200, body
        assert json.loads(body) == {
            "ready": True,
            "checks": {"database": "ok", "scheduler": "ok", "alerts": "ok", "channels": "ok"},
        }
        wait_for(
            lambda: samples(get(d.http + "/metrics")[1]).get("aggregator_cycles_total", 0) >= 2,
            10,
            "a second cycle (gauges set)",
        )
        m = samples(get(d.http + "/metrics")[1])
        assert get(d.http + "/nope")[0] == 404
    assert m['aggregator_polls_total{result="ok"}'] == 1
    assert m['aggregator_polls_total{result="error"}'] == 1
    assert m['aggregator_poll_errors_total{kind="http"}'] == 1
    assert m["aggregator_articles_ingested_total"] == 2
    assert m["aggregator_due_feeds"] == 0 and m["aggregator_pending_alerts"] == 0
    assert m["aggregator_due_rechecks"] == 0
    for name in (
        "aggregator_extraction_seconds_count",
        "aggregator_alerts_delivered_total",
        'aggregator_alerts_failed_total{outcome="dead"}',
        "aggregator_cycle_seconds_count",
        "aggregator_heartbeat_timestamp_seconds",
    ):
        assert name in m


# ------------------------------------------------------------------ readiness rules


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def readiness(oldest: datetime | None = None, ping: bool = True) -> tuple[Readiness, Ticks]:
    ticks = Ticks()
    r = Readiness(
        ping=lambda: ping,
        oldest_alert=lambda: oldest,
        clock=lambda: T0,
        max_heartbeat_age=15.0,
        max_alert_age=timedelta(minutes=30),
        monotonic=ticks,
    )
    return r, ticks


def test_unready_until_the_scheduler_ticks_and_when_it_stops() -> None:
    r, ticks = readiness()
    assert r.check() == (
        False,
        {"database": "ok", "scheduler": "not started", "alerts": "ok", "channels": "ok"},
    )
    r.beat()
    ticks.t += 15
    assert r.check()[0]
    ticks.t += 1
    ok, checks = r.check()
    assert not ok and checks["scheduler"] == "no tick for 16s"


def test_unready_when_the_oldest_pending_alert_is_too_old() -> None:
    r, _ = readiness(oldest=T0 - timedelta(minutes=29))
    r.beat()
    assert r.check()[0]
    r, _ = readiness(oldest=T0 - timedelta(minutes=31))
    r.beat()
    ok, checks = r.check()
    assert not ok and checks["alerts"].startswith("oldest pending alert waits 0:31")


def test_unready_when_the_database_does_not_answer() -> None:
    r, _ = readiness(ping=False)
    r.beat()
    assert r.check() == (
        False,
        {"database": "unreachable", "scheduler": "ok", "alerts": "unknown", "channels": "ok"},
    )


def draft(alert_id: str, not_before: datetime) -> AlertDraft:
    return AlertDraft(alert_id, "desk", "source", None, {}, not_before)


def test_oldest_pending_alert_ignores_held_and_delivered_ones(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        assert store.oldest_pending_alert(T0) is None
        store.insert_outbox(
            [
                draft("held", T0 + timedelta(hours=1)),  # digest window
                draft("late", T0 - timedelta(minutes=40)),
                draft("sent", T0 - timedelta(hours=5)),
            ],
        )
        with store.session() as s:
            from sqlalchemy import update
            from sqlmodel import col

            from aggregator.storage.models import OutboxRow

            s.exec(update(OutboxRow).where(col(OutboxRow.alert_id) == "sent").values(status="sent"))
            s.commit()
        assert store.oldest_pending_alert(T0) == T0 - timedelta(minutes=40)
    finally:
        store.close()


# ------------------------------------------------------------------ the database goes away


@pytest.fixture
def throwaway_pg_database() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL database of its own, and functions to drop and recreate it."""
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"agg_ready_{uuid.uuid4().hex[:10]}"
    admin = base.replace("postgresql+psycopg", "postgresql")

    def sql(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)

    sql(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield (
            url,
            lambda: sql(f'DROP DATABASE "{name}" WITH (FORCE)'),
            lambda: sql(f'CREATE DATABASE "{name}"'),
        )
    finally:
        sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_readyz_follows_the_database_away_and_back(
    throwaway_pg_database: tuple[str, Callable[[], None], Callable[[], None]],
    http_server: LoopbackServer,
    tmp_path: Path,
) -> None:
    url, drop, create = throwaway_pg_database
    feed = http_server.route("/feed.xml", RSS, content_type="application/rss+xml")
    path = write_config(
        tmp_path,
        [{"name": "news", "url": feed}],
        database=url,
        daemon={"tick": "0.2s", "http_port": 0},
    )
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None)) as d,
    ):
        wait_for(lambda: get(d.http + "/readyz")[0] == 200, 10, "ready")
        drop()
        wait_for(lambda: get(d.http + "/readyz")[0] == 503, 10, "unready")
        assert json.loads(get(d.http + "/readyz")[1])["checks"]["database"] == "unreachable"
        assert get(d.http + "/healthz")[0] == 200  # alive all the same
        create()
        Store.open(url).close()  # the database is back, migrated
        wait_for(lambda: get(d.http + "/readyz")[0] == 200, 10, "ready again")


@pytest.mark.slow
def test_the_daemon_starts_its_workers_before_the_first_cycle(tmp_path: Path) -> None:
    """No feed to poll, so only start-up can have started the worker processes."""
    path = write_config(tmp_path, [], daemon={"tick": "1h", "http_port": 0})
    with (
        make_aggregator(path, extract_workers=2) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None)),
    ):
        pids = agg.extractor.worker_pids()
        assert len(pids) == 2 and all(Path(f"/proc/{pid}").exists() for pid in pids)
