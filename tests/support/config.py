"""Write a feeds.yaml for a test: real files, parsed by the real loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_config(
    folder: Path,
    feeds: list[dict[str, Any]],
    *,
    database: str | None = None,
    topics: list[dict[str, Any]] | None = None,
    alerts: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Path:
    """feeds.yaml in `folder` allowing loopback, extraction off unless a feed says so."""
    data: dict[str, Any] = {
        "database": database or "sqlite:///test.db",
        "network": {"allow_private": ["127.0.0.1/32"], "timeout": "5s"},
        "defaults": {"interval": "15m", "extract": False},
        "feeds": feeds,
        "topics": topics or [],
        "alerts": alerts or [],
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
