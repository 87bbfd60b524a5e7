"""How long the read-only commands take, start to exit, as a user runs them.

    python scripts/cli_startup.py [--runs 5]

Builds a small feeds.yaml and a migrated SQLite database with a few hundred
articles in a temporary folder, then times `aggregator feeds list` and
`aggregator items list` (fresh interpreters, the first run discarded as warm-up)
and prints the median and the range. The bar (issue 14): under 0.5 s each on
a warm, otherwise idle machine; the load average is printed because a busy
machine inflates every figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONFIG = """\
database: sqlite:///agg.db
feeds:
{feeds}
topics:
  - name: chips
    query: chip*
"""


def _prepare(folder: Path, articles: int) -> Path:
    feeds = "\n".join(
        f"  - name: feed-{i}\n    url: https://news{i}.example.org/rss.xml" for i in range(17)
    )
    cfg = folder / "feeds.yaml"
    cfg.write_text(CONFIG.format(feeds=feeds), encoding="utf-8")
    from sqlalchemy import text

    from aggregator.storage import db

    engine = db.make_engine(f"sqlite:///{folder / 'agg.db'}")
    db.upgrade(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        for i in range(articles):
            conn.execute(
                text(
                    "INSERT INTO article (key, url, title, text, first_seen_at, version_count,"
                    " extracted, check_errors, monitor) VALUES (:k, :u, :t, '', :f, 1, 0, 0, 0)"
                ),
                {
                    "k": f"url:{i}",
                    "u": f"https://news.example.org/{i}",
                    "t": f"Story {i}",
                    "f": now - timedelta(minutes=i),
                },
            )
    return cfg


def _time(args: list[str], cwd: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock seconds and CPU seconds (user + system) of each run."""
    exe = Path(sys.executable).with_name("aggregator")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "aggregator"]
    wall, cpu = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*command, *args], cwd=cwd, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:  # the first run warms the disk cache and the bytecode
            wall.append(elapsed)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--articles", type=int, default=500, help="articles in the database")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _prepare(folder, opts.articles)
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        for command in (["feeds", "list"], ["items", "list"]):
            wall, cpu = _time(command, folder, opts.runs)
            print(
                f"aggregator {' '.join(command)}: median {statistics.median(wall):.2f} s "
                f"(min {min(wall):.2f}, max {max(wall):.2f}, {len(wall)} runs); "
                f"CPU {statistics.median(cpu):.2f} s"
            )


if __name__ == "__main__":
    main()
