"""Durations as people write them in feeds.yaml and on the command line: 90s, 15m, 1h30m, 7d."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str | float) -> timedelta:
    """Parse '15m', '1h30m', '2d', or a bare number of seconds.

    Raises ValueError with a message fit for a config error.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    s = str(text).strip().lower().replace(" ", "")
    if s.isdigit():
        return timedelta(seconds=int(s))
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 15m, 1h, 1h30m or 7d")
    return timedelta(seconds=total)


def config_duration(value: object) -> timedelta:
    """A duration written in feeds.yaml: '15m', '1h30m' or a timedelta, never a bare number.

    `interval: 15` reads as 15 minutes to most people and as 15 seconds to a
    parser, so the unit must be written; the message suggests both.
    """
    if isinstance(value, timedelta):
        return value
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()
    ):
        n = str(value).strip()
        raise ValueError(
            f"{n} has no unit: write {n}m for minutes or {n}s for seconds "
            "(durations are written 90s, 15m, 1h30m, 7d)"
        )
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 15m, 1h, 1h30m or 7d")
    return parse_duration(value)


def format_duration(td: timedelta) -> str:
    """Inverse of parse_duration for whole seconds: 5400s -> '1h30m'."""
    secs = int(td.total_seconds())
    if secs == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, secs = divmod(secs, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
