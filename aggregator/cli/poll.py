"""The `poll` command: poll feeds now, print a line per feed, optionally deliver."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aggregator.cli.common import (
    Subcommands,
    open_aggregator,
    out,
    waiting_note,
)
from aggregator.types import UpdateResult

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`poll [NAME...]`."""
    pp = sub.add_parser("poll", help="poll now (all enabled feeds, or those named)")
    pp.add_argument("names", nargs="*", metavar="NAME", help="feeds to poll (default: all enabled)")
    pp.add_argument(
        "--deliver",
        action="store_true",
        help="send the alerts this poll queued now, instead of leaving them to `aggregator run`",
    )
    pp.add_argument(
        "--force",
        action="store_true",
        help="poll even feeds whose server asked to wait (429/503 Retry-After)",
    )
    pp.set_defaults(handler=poll)


def poll(args: argparse.Namespace) -> int:
    import asyncio

    from aggregator.cli.alerts import deliver_now, delivery_line

    report = None
    with open_aggregator(args) as agg:
        feeds = agg.select_feeds(args.names)
        before = _pending_ids(agg)
        with _progress(len(feeds)) as tick:
            results = agg.poll(args.names, progress=tick, force=args.force)
        queued = sorted(_pending_ids(agg) - before)
        if args.deliver and queued:
            agg.retry_alerts(queued)  # due now: the poll is over, its copies are all queued
            report = asyncio.run(deliver_now(agg, queued))
    for r in sorted(results, key=lambda r: r.feed):
        out(summary_line(r))
    failed = [r for r in results if r.error]
    skipped = sum(1 for r in results if r.skipped_until is not None)
    out(
        f"{len(results)} feeds: {sum(r.new for r in results)} new, "
        f"{sum(r.updated for r in results)} updated, {len(failed)} failed"
        + (f", {skipped} skipped (asked to wait)" if skipped else "")
    )
    n = len(queued)
    if report is not None:
        out(f"{n} alert{'s' if n != 1 else ''} queued and delivered: {delivery_line(report)}")
    elif queued:
        out(
            f"{n} alert{'s' if n != 1 else ''} queued; `aggregator run` delivers them "
            "(or poll with --deliver)"
        )
    return 1 if failed and len(failed) == len(results) else 0


def _pending_ids(agg: Any) -> set[int]:
    return {a.id for a in agg.alerts("pending", 1_000_000)}


def summary_line(r: UpdateResult) -> str:
    if r.skipped_until is not None:
        return f"{r.feed:<32} skipped: {waiting_note(r.skipped_until, 'poll')}"
    if r.error:
        extra = " (feed disabled)" if r.disabled else ""
        retry = f" (retry after {int(r.retry_after)}s)" if r.retry_after else ""
        return f"{r.feed:<32} error: {r.error}{extra}{retry}"
    if r.not_modified:
        return f"{r.feed:<32} not modified"
    warn = f"  [{len(r.warnings)} warning(s): {r.warnings[0]}]" if r.warnings else ""
    return (
        f"{r.feed:<32} {r.new} new, {r.updated} updated, {r.unchanged} unchanged"
        f"{f', {r.matches} topic matches' if r.matches else ''}{warn}"
    )


class _progress:
    """A progress bar on a terminal, nothing otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[UpdateResult], None]:
        if sys.stderr.isatty() and self.total > 1:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task("polling", total=self.total)
        return self.tick

    def tick(self, r: UpdateResult) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=r.feed[:30])

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
