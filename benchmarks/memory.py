"""Scenario 7: peak resident memory of `aggregator run --once` with 10,000 feeds configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run(opts: Any, log: Any = print) -> dict[str, Any]:
    if not (REPO / "aggregator" / "cli.py").exists():
        return {"status": "not available yet", "detail": "aggregator/cli.py (`aggregator run --once`) does not exist yet"}
    return {"status": "not available yet", "detail": "not wired yet"}
