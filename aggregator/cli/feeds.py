"""The `feeds` commands: list, add, edit, remove, enable, disable, import, export, test."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    config_path,
    dump_json,
    fmt_time,
    load,
    open_aggregator,
    out,
)
from aggregator.config.durations import format_duration
from aggregator.exceptions import UsageError
from aggregator.urls import redact_url

if TYPE_CHECKING:
    from aggregator.config.models import Config


def register(sub: Subcommands) -> None:
    """`feeds list|add|edit|remove|enable|disable|import|export|test`."""
    f = sub.add_parser("feeds", help="manage feeds").add_subparsers(dest="sub", required=True)
    ls = f.add_parser("list", help="configured feeds and their state")
    ls.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    add = f.add_parser("add", help="add a feed (or discover it from an HTML page)")
    add.add_argument("url", help="the feed's URL, or a web page that announces its feed")
    add.add_argument("--name", help="its name in feeds.yaml (default: made from the title)")
    add.add_argument(
        "--interval", help="how often to poll it, e.g. 10m (default: defaults.interval)"
    )
    add.add_argument("--tag", action="append", help="a tag for topic scopes (repeat for several)")
    add.add_argument(
        "--no-extract", action="store_true", help="keep the feed's text; do not fetch each page"
    )
    add.add_argument(
        "--pick",
        type=int,
        metavar="N",
        help="when URL is a page announcing several feeds: add the N-th (default the first)",
    )
    add.add_argument(
        "--force",
        action="store_true",
        help="fetch even from a host that asked to wait (429/503 Retry-After)",
    )
    ed = f.add_parser("edit", help="change a feed in feeds.yaml (comments are kept)")
    ed.add_argument("name", help="the feed's name (see `feeds list`)")
    ed.add_argument("--interval", help="how often to poll it, e.g. 30m")
    ed.add_argument("--tag", action="append", help="add a tag (repeat for several)")
    ed.add_argument("--untag", action="append", metavar="TAG", help="remove a tag (repeatable)")
    ed.add_argument(
        "--extract",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fetch each entry's page and extract its body (--no-extract: keep the feed's text)",
    )
    ed.add_argument(
        "--monitor",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="re-check its articles for edits (--no-monitor: don't)",
    )
    ed.add_argument("--url", help="a new URL for the feed")
    ed.add_argument("--title", help="a display title")
    for name, handler in (
        ("remove", feeds_remove),
        ("enable", feeds_enable),
        ("disable", feeds_disable),
    ):
        one = f.add_parser(name, help=f"{name} a feed")
        one.add_argument("name", help="the feed's name (see `feeds list`)")
        one.set_defaults(handler=handler)
    imp = f.add_parser("import", help="import an OPML file")
    imp.add_argument("file", help="an OPML file, e.g. exported from another feed reader")
    imp.set_defaults(handler=feeds_import)
    ex = f.add_parser("export", help="export feeds as OPML or YAML")
    ex.add_argument(
        "--format", choices=["opml", "yaml"], default="opml", help="output format (default opml)"
    )
    t = f.add_parser("test", help="fetch and parse a feed without storing")
    t.add_argument(
        "url", help="the feed (or page) to try: a URL, or the name of a feed in feeds.yaml"
    )
    t.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    t.add_argument(
        "--force",
        action="store_true",
        help="fetch even from a host that asked to wait (429/503 Retry-After)",
    )
    ls.set_defaults(handler=feeds_list)
    add.set_defaults(handler=feeds_add)
    ed.set_defaults(handler=feeds_edit)
    ex.set_defaults(handler=feeds_export)
    t.set_defaults(handler=feeds_test)


def feeds_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        feeds = agg.feeds()
    if args.json:
        dump_json([asdict(f) for f in feeds])
        return 0
    if not feeds:
        out("no feeds configured (add one with `aggregator feeds add URL`)")
        return 0
    from aggregator.daemon.failing import FailingFeeds, failure_cause

    for f in feeds:
        state = "disabled" if not f.enabled else ("error" if f.last_error else "ok")
        due = (
            fmt_time(f.next_due_at) if f.enabled and f.next_due_at else "now" if f.enabled else "-"
        )
        tags = ",".join(f.tags) or "-"
        out(
            f"{f.name:<32} {state:<8} {f.articles:>5} items  every "
            f"{format_duration(timedelta(seconds=f.interval_s)):<6} next {due:<16} "
            f"tags {tags:<12} {f.url}"
        )
        if f.last_error:
            out(f"{'':<32} last error: {f.last_error}")
        for warning in f.warnings:
            out(f"{'':<32} warning: {warning}")
        if f.disabled_reason:
            out(f"{'':<32} disabled: {f.disabled_reason}")
    enabled = [f for f in feeds if f.enabled]
    failing = tuple((f.name, failure_cause(f.last_error)) for f in enabled if f.error_count > 0)
    out(FailingFeeds(len(enabled), failing).line())
    return 0


def feeds_add(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        added = agg.add_feed(
            args.url,
            name=args.name,
            tags=args.tag or (),
            interval=args.interval,
            extract=False if args.no_extract else None,
            pick=args.pick,
            force=args.force,
        )
    found = f" (discovered from {added.discovered_from})" if added.discovered_from else ""
    shown = redact_url(added.url)
    out(f"added {added.name}: {shown}{found} — {added.entries} entries, {added.format}")
    if len(added.announced) > 1:
        out(f"note: the page announces {len(added.announced)} feeds:")
        for i, url in enumerate(added.announced, 1):
            mark = "  (added)" if url == added.url else ""
            out(f"  {i}. {redact_url(url)}{mark}")
        out("add another with `aggregator feeds add PAGE --pick N`")
    return 0


def feeds_edit(args: argparse.Namespace) -> int:
    from aggregator.config import edit as config_edit

    changes = {
        "title": args.title,
        "add_tags": args.tag or (),
        "remove_tags": args.untag or (),
        "interval": args.interval,
        "extract": args.extract,
        "monitor": args.monitor,
        "url": args.url,
    }
    if all(v is None or v == () for v in changes.values()):
        raise UsageError(
            "nothing to change",
            hint="e.g. aggregator feeds edit NAME --interval 30m --tag wire --no-extract",
        )
    config = config_edit.edit_feed(config_path(args), args.name, **changes)
    feed = config.feed(args.name)
    assert feed is not None  # edit_feed refuses an unknown name
    every = format_duration(feed.interval or config.defaults.interval)
    out(
        f"edited {feed.name}: {redact_url(feed.url)}, every {every}, "
        f"extract {'on' if config.extracts(feed) else 'off'}, "
        f"monitor {'on' if config.monitors(feed) else 'off'}, "
        f"tags {', '.join(feed.tags) or '-'}"
    )
    return 0


def feeds_remove(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        agg.remove_feed(args.name)
    out(f"removed {args.name} (its stored articles are kept)")
    return 0


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        agg.set_enabled(args.name, enabled)
    out(f"{'enabled' if enabled else 'disabled'} {args.name}")
    return 0


def feeds_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)


def feeds_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


def feeds_import(args: argparse.Namespace) -> int:
    from aggregator.ingest.feedtools import import_opml

    added, skipped = import_opml(config_path(args), Path(args.file))
    out(
        f"imported {len(added)} feeds"
        + (f", skipped {len(skipped)} already present" if skipped else "")
    )
    for name in added:
        out(f"  + {name}")
    return 0


def feeds_export(args: argparse.Namespace) -> int:
    from aggregator.ingest.feedtools import export_feeds

    sys.stdout.write(export_feeds(load(args), args.format))
    return 0


def feeds_test(args: argparse.Namespace) -> int:
    from aggregator.core.feeds_api import standing_cool_downs
    from aggregator.ingest.feedtools import test_feed

    config = load(args)  # no database is opened for its own sake: nothing is stored
    url = _url_of(config, args.url)
    report = test_feed(config, url, [] if args.force else standing_cool_downs(config))
    if args.json:
        dump_json(report)
        return 0
    out(
        f"{redact_url(report['url'])}: {report['format']}, {len(report['entries'])} entries, "
        f"identity by {report['identity']}"
    )
    for w in report["warnings"]:
        out(f"  warning: {w}")
    for e in report["entries"]:
        out(f"  - {e['title']}\n    {e['url']}  {e['published'] or ''}")
    return 0


def _url_of(config: Config, ref: str) -> str:
    """A configured feed's name stands for its URL: `feeds test NAME` after `feeds list`."""
    if "://" in ref:
        return ref
    named = {f.name: f.url for f in config.feeds}
    return named.get(ref, ref)
