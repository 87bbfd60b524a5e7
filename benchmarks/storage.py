"""Scenario 6: per-article ingest cost with 10k / 100k / 1M articles already stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run(opts: Any, log: Any = print) -> dict[str, Any]:
    if not (REPO / "aggregator" / "storage" / "__init__.py").exists():
        return {"status": "not available yet", "detail": "aggregator.storage does not exist yet"}
    return {"status": "not available yet", "detail": "storage API not wired into the benchmark yet"}
