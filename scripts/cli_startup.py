"""How long the read-only commands take, start to exit, as a user runs them.

    nice -n 10 python scripts/cli_startup.py [--runs 7] [--save]

Times `aggregator feeds list` and `aggregator items list` (fresh interpreters, the first
run discarded as warm-up) over a small migrated SQLite database and prints the median
and range of wall and CPU time (`benchmarks/startup.py` does the work; it is also
scenario `startup` of `python -m benchmarks`). The bar (issue 14): under 0.5 s each on
a warm machine.

`--save` stores the figures as the `startup` scenario of benchmarks/results.json and
rewrites only the "CLI start-up" section of BENCHMARKS.md (as benchmarks/report.py
renders it), leaving the rest of the report as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import report, startup  # noqa: E402 - after the path insert


def save(result: dict[str, object], command: str) -> None:
    jpath = REPO / "benchmarks" / "results.json"
    results = json.loads(jpath.read_text()) if jpath.exists() else {"scenarios": {}}
    result["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["command"] = command
    head = ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]
    result["ref"] = subprocess.run(head, capture_output=True, text=True).stdout.strip() or None
    results.setdefault("scenarios", {})["startup"] = result
    jpath.write_text(json.dumps(results, indent=1, default=str))
    md = REPO / "BENCHMARKS.md"
    md.write_text(report.splice_section(md.read_text(), report.startup_section(results)))
    print(f"saved to {jpath} and the CLI start-up section of {md}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--articles", type=int, default=500, help="articles in the database")
    parser.add_argument(
        "--compare", metavar="REF", help="time this git commit's commands too (before/after)"
    )
    parser.add_argument(
        "--save", action="store_true", help="store in results.json and BENCHMARKS.md"
    )
    opts = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    git = ["git", "-C", str(REPO)]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        if opts.compare:
            subprocess.run(
                [*git, "worktree", "add", "-q", "--detach", str(tree), opts.compare], check=True
            )
        try:
            compare = (opts.compare, tree) if opts.compare else None
            result = startup.measure(runs=opts.runs, articles=opts.articles, compare=compare)
        finally:
            if opts.compare:
                subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=True)
    if opts.save:
        niced = f"nice -n {result['niceness']} " if result["niceness"] else ""
        also = f" --compare {opts.compare}" if opts.compare else ""
        save(result, f"{niced}python scripts/cli_startup.py --runs {opts.runs}{also} --save")


if __name__ == "__main__":
    main()
