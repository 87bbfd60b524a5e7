"""Saving one benchmark's figures without re-running the others: the entry goes into
benchmarks/results.json under its scenario key, and only its section of BENCHMARKS.md is
rewritten (as benchmarks/report.py renders it, so a full regeneration keeps it).

Used by ``bench_desk --save`` and ``bench_reader_api --save``, whose 1M-story fills take
longer than a ``python -m benchmarks`` run should.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results.json"
REPORT = REPO / "BENCHMARKS.md"


def command_line() -> str:
    """The command as typed (``python -m benchmarks.x ...``), for the section's header."""
    mod = Path(sys.argv[0]).stem
    args, skip = [], False
    for a in sys.argv[1:]:  # a --note's text is in the section already
        if not skip and a != "--note":
            args.append(a)
        skip = a == "--note" and not skip
    return " ".join(["python -m benchmarks." + mod, *args])


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def stored(key: str) -> dict[str, Any]:
    """The entry saved under `key` before (so backends measured apart add up)."""
    if not RESULTS.exists():
        return {}
    return dict(json.loads(RESULTS.read_text()).get("scenarios", {}).get(key) or {})


def save(key: str, entry: dict[str, Any], section: Callable[[dict[str, Any]], list[str]]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"scenarios": {}}
    entry = {
        **entry,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
    }
    results.setdefault("scenarios", {})[key] = entry
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    from benchmarks import report

    md = REPORT.read_text() if REPORT.exists() else report.render(results)
    REPORT.write_text(report.splice_section(md, section(results)))
    print(f"saved to {RESULTS} and the {section(results)[0][3:]} section of {REPORT}")
