"""Database trouble through the real CLI: one line naming the database, a hint, exit 1,
never a traceback; read-only commands neither create nor migrate (issue 13, item 15)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from aggregator.storage.db import alembic_config, current_revision, make_engine

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = (
    ("feeds", "list"),
    ("items", "list"),
    ("search", "chips"),
    ("alerts", "list"),
    ("changes", "list"),
)


def config(folder: Path, database: str) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(
        f"database: {database}\nnetwork: {{allow_private: [127.0.0.1/32]}}\n"
        "feeds:\n  - name: wire\n    url: http://127.0.0.1:9/feed.xml\n"
    )
    return path


def cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def one_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 1, an `error:` line naming what it must, a `hint:` line, no traceback."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [li for li in proc.stderr.splitlines() if li.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert any(li.startswith("hint: ") for li in proc.stderr.splitlines()), proc.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.mark.slow
def test_a_lock_held_past_the_busy_timeout_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "agg.db"
    cfg = config(tmp_path, f"sqlite:///{db}?timeout=1")
    assert cli(cfg, "db", "upgrade").returncode == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            " c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        line = one_error(cli(cfg, "poll", timeout=60), str(db), "busy")
        assert "locked" in line
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["file-in-the-way", "dangling-link", "folder-not-file"])
def test_a_database_path_that_cannot_hold_a_database_is_one_line(tmp_path: Path, case: str) -> None:
    if case == "file-in-the-way":
        (tmp_path / "data").write_text("not a folder")
        db = tmp_path / "data" / "agg.db"  # FileExistsError / NotADirectoryError
    elif case == "dangling-link":
        (tmp_path / "data").symlink_to(tmp_path / "gone")
        db = tmp_path / "data" / "sub" / "agg.db"  # FileNotFoundError, then FileExistsError
    else:
        (tmp_path / "agg.db").mkdir()
        db = tmp_path / "agg.db"  # sqlite: "unable to open database file", without the path
    cfg = config(tmp_path, f"sqlite:///{db}")
    one_error(cli(cfg, "poll"), str(db))
    if case == "dangling-link":  # the same open for every writing command
        one_error(cli(cfg, "db", "upgrade"), str(db))
        one_error(cli(cfg, "run", "--once"), str(db))


@pytest.mark.slow
def test_read_only_commands_neither_create_nor_migrate(tmp_path: Path) -> None:
    db = tmp_path / "new" / "agg.db"
    cfg = config(tmp_path, f"sqlite:///{db}")
    for args in READ_ONLY:
        one_error(cli(cfg, *args), str(db), "new")
    assert not (tmp_path / "new").exists()  # not even its folder

    db.parent.mkdir()
    db.touch()  # an empty file: a database without tables
    line = one_error(cli(cfg, "feeds", "list"), str(db), "new")
    assert "no tables" in line
    assert db.stat().st_size == 0

    assert cli(cfg, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{db}")
    head = current_revision(engine)
    command.downgrade(alembic_config(engine), "-1")
    behind = current_revision(engine)
    assert behind != head
    proc = cli(cfg, "items", "list")
    line = one_error(proc, str(db), "behind", str(behind))
    assert "aggregator db upgrade" in proc.stderr
    assert current_revision(engine) == behind  # not migrated behind the user's back
    engine.dispose()
    assert cli(cfg, "db", "upgrade").returncode == 0
    assert cli(cfg, "feeds", "list").returncode == 0


def test_the_busy_timeout_is_set_by_the_url(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}?timeout=2.5")
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    engine.dispose()
    assert sqlite3.connect(tmp_path / "a.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)
