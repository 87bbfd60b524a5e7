"""Scenario 10: how long the read-only commands take, start to exit, as a user runs them.

Builds a feeds.yaml with 17 feeds and a topic and a migrated SQLite database with a
few hundred articles in a temporary folder, then times `aggregator feeds list` and
`aggregator items list` in fresh interpreters (the first run of each discarded as
warm-up: disk cache and bytecode), wall clock and CPU (user + system) of each.
The bar (issue 14, point 10): under 0.5 s each on a warm machine. A shared machine
inflates wall time most (the command waits for a core), CPU time much less, so both
are reported with the load average around the runs.

    python -m benchmarks --only startup --runs 7
    python scripts/cli_startup.py --runs 7 [--compare 3364d61] [--save]    # alone

`--compare REF` times the same commands of an older commit too (its tree checked out in
a temporary git worktree and put first on PYTHONPATH), on the same database, in the
same minutes: the before and after of a change under the same load.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BAR_S = 0.5
COMMANDS = (("feeds", "list"), ("items", "list"))
HEADING = "## 10. CLI start-up (issue 14)"

CONFIG = """\
database: sqlite:///agg.db
feeds:
{feeds}
topics:
  - name: chips
    query: chip*
"""


def prepare(folder: Path, articles: int, env: dict[str, str] | None = None) -> Path:
    """feeds.yaml with 17 feeds and a database holding `articles` articles, migrated by the
    version that will read it (`aggregator db upgrade` run with `env`); the config's path."""
    feeds = "\n".join(
        f"  - name: feed-{i}\n    url: https://news{i}.example.org/rss.xml" for i in range(17)
    )
    cfg = folder / "feeds.yaml"
    cfg.write_text(CONFIG.format(feeds=feeds), encoding="utf-8")
    subprocess.run(
        [*command(), "db", "upgrade"], cwd=folder, check=True, capture_output=True, env=env
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    with contextlib.closing(sqlite3.connect(folder / "agg.db")) as conn, conn:
        conn.executemany(
            "INSERT INTO article (key, url, title, text, first_seen_at, version_count,"
            " extracted, check_errors, monitor) VALUES (?, ?, ?, '', ?, 1, 0, 0, 0)",
            [
                (
                    f"url:{i}",
                    f"https://news.example.org/{i}",
                    f"Story {i}",
                    (now - timedelta(minutes=i)).isoformat(" ", "microseconds"),
                )
                for i in range(articles)
            ],
        )
    return cfg


def command() -> list[str]:
    """The installed `aggregator` beside this interpreter, else `python -m aggregator`."""
    exe = Path(sys.executable).with_name("aggregator")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "aggregator"]


def time_runs(
    args: tuple[str, ...], cwd: Path, runs: int, env: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Wall-clock seconds and CPU seconds (user + system) of each timed run."""
    wall, cpu = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*command(), *args], cwd=cwd, check=True, capture_output=True, env=env)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:  # the first run warms the disk cache and the bytecode
            wall.append(elapsed)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def measure(
    runs: int = 5,
    articles: int = 500,
    log: Callable[[str], None] = print,
    compare: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """Both commands, `runs` timed runs each; the raw result the report renders.

    `compare`: (git ref, its checked-out tree), timed too, each command's runs right
    after this version's, so both meet the same load."""
    result: dict[str, Any] = {
        "runs": runs,
        "articles": articles,
        "feeds": 17,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "niceness": os.nice(0),
        "commands": {},
    }
    if compare is not None:
        result["before"] = {"ref": compare[0], "commands": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "this"
        folder.mkdir()
        prepare(folder, articles)
        if compare is not None:  # its own database, at the migrations it knows
            old_env = {**os.environ, "PYTHONPATH": str(compare[1])}
            old_folder = Path(tmp) / "before"
            old_folder.mkdir()
            prepare(old_folder, articles, env=old_env)
        for args in COMMANDS:
            name = "aggregator " + " ".join(args)
            wall, cpu = time_runs(args, folder, runs)
            result["commands"][name] = {"wall": _stats(wall), "cpu": _stats(cpu)}
            log(line(name, result["commands"][name]))
            if compare is not None:
                wall, cpu = time_runs(args, old_folder, runs, env=old_env)
                result["before"]["commands"][name] = {"wall": _stats(wall), "cpu": _stats(cpu)}
                log(line(f"{name} at {compare[0]}", result["before"]["commands"][name]))
    result["load_after"] = os.getloadavg()[0]
    return result


def line(name: str, r: dict[str, Any]) -> str:
    w, c = r["wall"], r["cpu"]
    return (
        f"{name}: wall median {w['median']:.2f} s (min {w['min']:.2f}, max {w['max']:.2f}, "
        f"{w['n']} runs); CPU median {c['median']:.2f} s (min {c['min']:.2f}, max {c['max']:.2f})"
    )


def run(o: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """`python -m benchmarks --only startup`."""
    return measure(runs=o.runs, log=log)


def render(d: dict[str, Any] | None, when: str) -> list[str]:
    """The report's section: a table per command, and what the figures mean."""
    L = [HEADING, ""]
    if not d:
        return L + ["Not run.", ""]
    L += [
        when,
        "",
        f"`aggregator feeds list` and `aggregator items list` in fresh interpreters, as a user "
        f"runs them, over a migrated SQLite database with {d['articles']} articles and a "
        f"feeds.yaml of {d['feeds']} feeds and one topic (`benchmarks/startup.py`; the first "
        f"run of each is a discarded warm-up). Wall is start to exit; CPU is user + system "
        f"time of the process. Load average {d['load_before']:.1f} before and "
        f"{d['load_after']:.1f} after the runs, on {d['cpus']} CPUs, niceness {d['niceness']}.",
        "",
        "| command | version | wall median s (min–max, n) | CPU median s (min–max) | bar |",
        "|---|---|---|---|---|",
    ]
    before = d.get("before") or {}
    for name, r in d["commands"].items():
        versions = [(f"`{d['ref']}`" if d.get("ref") else "this one", r)]
        if name in before.get("commands", {}):
            versions.append((f"`{before['ref']}` (before)", before["commands"][name]))
        for version, x in versions:
            w, c = x["wall"], x["cpu"]
            met = "met" if w["median"] < BAR_S else "met on CPU" if c["median"] < BAR_S else "no"
            L.append(
                f"| `{name}` | {version} | {w['median']:.2f} ({w['min']:.2f}–{w['max']:.2f}, "
                f"{w['n']}) | {c['median']:.2f} ({c['min']:.2f}–{c['max']:.2f}) | "
                f"< {BAR_S} s: {met} |"
            )
    L += [
        "",
        "What they load is what makes them fast: the configuration and the listing reads "
        "(`storage/light.py`, over Python's sqlite3 for a SQLite file), and none of the "
        "pipeline's stages, SQLAlchemy, the ORM models, Alembic (the schema check is one "
        "query) or psycopg; `tests/cli/test_cli_startup.py` keeps it so. On a shared "
        "machine most of the wall time is waiting for a core (the load average above): "
        "CPU time is the less noisy figure, and what an idle machine's wall time comes "
        "close to.",
        "",
    ]
    return L
