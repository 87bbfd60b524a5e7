"""The `alerts` commands: the outbox, replaying alerts, a test message per channel."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from aggregator.cli.common import (
    Subcommands,
    dump_json,
    open_aggregator,
    out,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`alerts list|retry|test`."""
    a = sub.add_parser("alerts", help="the alert outbox").add_subparsers(dest="sub", required=True)
    ls = a.add_parser("list", help="alerts and their delivery state")
    ls.add_argument(
        "--status",
        choices=["pending", "sent", "failed", "dead", "folded"],
        help="only alerts in this state (folded: a wire copy of a story already alerted)",
    )
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    ls.set_defaults(handler=alerts_list)
    r = a.add_parser("retry", help="replay alerts (by id, or all dead ones)")
    r.add_argument("ids", nargs="*", type=int, metavar="ID", help="alert ids (see `alerts list`)")
    r.add_argument("--dead", action="store_true", help="every dead-lettered alert")
    r.add_argument(
        "--resend",
        action="store_true",
        help="also send again alerts that were already sent (same webhook-id / Message-ID)",
    )
    r.set_defaults(handler=alerts_retry)
    te = a.add_parser("test", help="send a test message")
    te.add_argument("channel", help="an alert channel's name in feeds.yaml")
    te.set_defaults(handler=alerts_test)


def alerts_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        alerts = agg.alerts(args.status, args.limit)
    if args.json:
        from dataclasses import asdict

        dump_json([asdict(a) for a in alerts])
        return 0
    for a in alerts:
        out(
            f"{a.id:>6}  {a.status:<8} {a.channel:<20} {a.event:<7} {a.topic or '-':<20} "
            f"attempts={a.attempts}  {(a.title or '')[:60]}"
        )
        if a.last_error and a.status not in ("sent", "folded"):
            out(f"        last error: {a.last_error}")
        if a.folded_into:
            out(f"        {a.folded_into}")
    return 0


def alerts_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.dead:
        raise UsageError("name alert ids or pass --dead", hint="aggregator alerts retry 12 13")
    import asyncio

    with open_aggregator(args, extract_workers=0) as agg:
        ids = args.ids or [a.id for a in agg.alerts("dead", 100_000)]
        n = agg.retry_alerts(ids, resend=args.resend)
        report = asyncio.run(deliver_now(agg, ids))
    out(f"retried {n} alert(s): {delivery_line(report)}")
    for e in report.errors:
        out(f"  {e}")
    return 0 if not report.dead else 1


async def deliver_now(agg: Any, ids: list[int] | None = None) -> Any:

    async with agg.running() as st:
        return await agg.deliver_due(st, worker=f"cli-{os.getpid()}", ids=ids)


def delivery_line(report: Any, pending: int | None = None) -> str:
    """'2 sent, 1 failed (will be retried), 0 failed for good' — plain words, every count."""
    parts = [
        f"{report.sent} sent",
        f"{report.retried} failed (will be retried)",
        f"{report.dead} failed for good (dead)",
    ]
    if pending is not None:
        parts.append(f"{pending} pending")
    return ", ".join(parts)


def alerts_test(args: argparse.Namespace) -> int:
    import asyncio

    with open_aggregator(args, extract_workers=0) as agg:
        detail = asyncio.run(agg.test_channel(args.channel))
    out(f"{args.channel}: receiver answered {detail}")
    return 0
