"""Change monitoring from the command line: `changes list`, and `recheck` now."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    dump_json,
    fmt_time,
    open_aggregator,
    out,
    parse_since,
    waiting_note,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`changes list` and `recheck [ID...]`."""
    c = sub.add_parser("changes", help="edits seen by change monitoring").add_subparsers(
        dest="sub", required=True
    )
    cl = c.add_parser("list", help="recent changes")
    cl.add_argument("--since", default="24h", help="24h, 7d or an ISO date (default 24h)")
    cl.add_argument("--topic", help="only changes of articles matching this topic")
    cl.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    cl.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    cl.set_defaults(handler=changes_list)
    rc = sub.add_parser("recheck", help="re-check articles now, whatever the schedule")
    rc.add_argument("ids", nargs="*", type=int, metavar="ID", help="article ids (see `items list`)")
    rc.add_argument("--all", action="store_true", help="every monitored article")
    rc.add_argument(
        "--force",
        action="store_true",
        help="fetch even from hosts that asked to wait (429/503 Retry-After)",
    )
    rc.set_defaults(handler=recheck)


def changes_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        rows = agg.changes(since=parse_since(args.since), topic=args.topic, limit=args.limit)
    if args.json:
        from dataclasses import asdict

        dump_json([asdict(c) for c in rows])
        return 0
    for c in rows:
        reasons = ", ".join(str(r) for r in c.summary.get("reasons", [])) or ""
        out(
            f"{fmt_time(c.created_at)}  #{c.article_id} v{c.from_version}→v{c.to_version}  "
            f"{c.kind:<11} {(c.title or '')[:70]}"
        )
        topics = {k: v for k, v in c.topics.items() if v}
        if reasons or topics:
            out(f"        {reasons} {topics if topics else ''}".rstrip())
    return 0


def recheck(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        raise UsageError("name article ids or pass --all", hint="aggregator recheck 42")
    with open_aggregator(args) as agg:
        results = agg.recheck(args.ids or None, force=args.force)
    for r in results:
        if r.skipped_until is not None:
            out(f"#{r.article_id}: skipped: {waiting_note(r.skipped_until)}")
            continue
        extra = f" v{r.version} ({r.kind})" if r.version else ""
        err = f": {r.error}" if r.error else ""
        out(f"#{r.article_id}: {r.outcome}{extra}{err}")
    skipped = sum(1 for r in results if r.skipped_until is not None)
    failed = sum(1 for r in results if r.error)
    out(
        f"{len(results) - skipped - failed} re-checked"
        + (f", {failed} failed" if failed else "")
        + (f", {skipped} skipped (their host asked to wait)" if skipped else "")
    )
    return 1 if failed else 0  # as `poll`: a fetch that failed is a runtime failure
