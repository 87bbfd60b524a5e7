"""What every command group shares: loading the config, opening the facade, printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from aggregator.config.durations import parse_duration
from aggregator.config.models import Config, default_config_path, load_config
from aggregator.exceptions import UsageError
from aggregator.types import Article

if TYPE_CHECKING:
    from aggregator.topics import HighlightStyle

__all__ = [
    "CONFIG_HELP",
    "Handler",
    "Subcommands",
    "article_json",
    "config_path",
    "dump_json",
    "fmt_time",
    "load",
    "open_aggregator",
    "out",
    "parse_since",
    "style",
    "waiting_note",
]

Handler = Callable[[argparse.Namespace], int]
"""A command: the parsed arguments in, the exit code out."""

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers()`` returns: each command group adds its sub-commands to it."""

CONFIG_HELP = "feeds.yaml (default: $AGGREGATOR_CONFIG, then ./feeds.yaml)"


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def load(args: argparse.Namespace) -> Config:
    return load_config(config_path(args))


def open_aggregator(args: argparse.Namespace, **kw: Any) -> Any:
    from aggregator.core import make_aggregator

    config = load(args)
    empty = config.emptiness_warning()
    if empty is not None and getattr(args, "cmd", None) != "feeds":
        print(f"warning: {empty}", file=sys.stderr)
    return make_aggregator(config, **kw)


def out(text: str = "") -> None:
    print(text)


def dump_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def parse_since(
    text: str | None, now: datetime | None = None, *, flag: str = "--since"
) -> datetime | None:
    """'24h' / '7d' (ago) or an ISO date/datetime."""
    if not text:
        return None
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is neither a duration nor a date",
            hint=f"write e.g. {flag} 24h, {flag} 7d or {flag} 2025-02-03",
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def waiting_note(until: datetime, verb: str = "fetch") -> str:
    """Why something was not fetched, and until when: one wording for every command."""
    shown = until.astimezone(UTC) if until.tzinfo else until
    return (
        f"its server asked to wait (Retry-After); may be {verb}ed from "
        f"{shown:%Y-%m-%d %H:%M:%S} UTC (--force to {verb} now)"
    )


def fmt_time(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "-"


def article_json(a: Article, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": a.id,
        "url": a.url,
        "title": a.title,
        "feeds": list(a.feeds),
        "published": a.published,
        "published_source": a.published_source,
        "language": a.language,
        "extracted": a.extracted,
        "versions": a.versions,
        "first_seen": a.first_seen_at,
        "retracted": a.retracted,
    }
    if full:
        data.update(
            text=a.text,
            summary=a.summary,
            author=a.author,
            extract_error=a.extract_error,
            last_checked=a.last_checked_at,
            matches=[_match_json(m) for m in a.matches],
        )
    return data


def _match_json(m: Any) -> dict[str, Any]:
    return {
        "topic": m.topic,
        "version": m.version,
        "terms": list(m.terms),
        "snippets": [s.text for s in m.snippets],
        "method": m.method,
        "score": m.score,
        "explanation": m.explanation,
    }


def style() -> HighlightStyle:
    return "ansi" if sys.stdout.isatty() else "brackets"
