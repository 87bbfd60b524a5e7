"""The read-only commands start fast because they load only what they need (issue 14, 10).

Timing is left to `scripts/cli_startup.py` (figures in BENCHMARKS.md): a test that timed
would fail on a busy machine and pass a regression on a fast one. What makes them fast
can be checked exactly: after `feeds list` and `items list` in a fresh interpreter, none
of the pipeline's stages nor their libraries are loaded, nor the ORM models, and the
database is checked without Alembic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.cli.main import main
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "feeds"

#: What a read-only command must not load: fetching, parsing, extraction, topic matching,
#: the encoder, alerts, the desk, the daemon's scheduler, the web app, migrations, the
#: ORM models (SQLModel, sqlalchemy.orm), SQLAlchemy itself for a SQLite file (the
#: listing reads run on sqlite3, `storage.light`), every Snowball stemmer, and the
#: PostgreSQL driver for a SQLite database.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "sqlalchemy.orm",
    "aggregator.storage.models",
    "aggregator.storage.store",
    "snowballstemmer",
    "httpx",
    "httpcore",
    "feedparser",
    "lxml",
    "nh3",
    "trafilatura",
    "ahocorasick",
    "numpy",
    "apprise",
    "apscheduler",
    "starlette",
    "uvicorn",
    "jinja2",
    "alembic",
    "psycopg",
    "multiprocessing",
    "aggregator.http",
    "aggregator.parse",
    "aggregator.extract",
    "aggregator.ingest",
    "aggregator.topics",
    "aggregator.alerts",
    "aggregator.changes",
    "aggregator.monitor",
    "aggregator.desk",
    "aggregator.web",
)

#: Runs the CLI's main() in this interpreter, then prints every module it loaded.
PROBE = (
    "import json, sys\n"
    "from aggregator.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    "sys.exit(code)\n"
)


def loaded(cfg: Path, *args: str) -> tuple[str, set[str]]:
    """(what the command printed, the modules it loaded) in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    printed, _, modules = proc.stdout.rpartition("\nMODULES ")
    return printed, set(json.loads(modules))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.fixture
def polled(http_server: LoopbackServer, tmp_path: Path) -> Path:
    """A database with what a poll stored: feeds with state, articles, a topic's matches."""
    http_server.route(
        "/rss.xml", (FIXTURES / "rss20.xml").read_bytes(), content_type="application/rss+xml"
    )
    cfg = write_config(
        tmp_path,
        [{"name": "wire", "url": http_server.url("/rss.xml"), "tags": ["en"]}],
        topics=[{"name": "any", "query": "the OR a"}],
    )
    assert main(["--config", str(cfg), "poll"]) == 0
    return cfg


@pytest.mark.slow  # fresh interpreters
def test_feeds_list_loads_no_stage(polled: Path) -> None:
    printed, modules = loaded(polled, "feeds", "list")
    assert "wire" in printed and "1 feed, ok" in printed  # it really listed
    assert heavy(modules) == []
    printed, modules = loaded(polled, "feeds", "list", "--json")
    assert json.loads(printed)[0]["articles"] > 0
    assert heavy(modules) == []


@pytest.mark.slow  # fresh interpreters
def test_items_list_loads_no_stage(polled: Path) -> None:
    for args in ((), ("--feed", "wire"), ("--topic", "any", "--since", "1d"), ("--json",)):
        printed, modules = loaded(polled, "items", "list", *args)
        assert "wire" in printed, args  # every listed article names its feed
        assert heavy(modules) == [], args
