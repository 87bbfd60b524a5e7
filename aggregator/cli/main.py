"""Command line: each command is a few calls into the library.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config. Errors print
their message and a fix-it hint, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.config.durations import format_duration, parse_duration
from aggregator.config.models import Config, default_config_path, load_config
from aggregator.exceptions import AggregatorError, QuerySyntaxError, UsageError
from aggregator.types import Article, UpdateResult
from aggregator.urls import redact_url

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


# ------------------------------------------------------------------ helpers


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


# ------------------------------------------------------------------ feeds


@command("feeds list")
def feeds_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        feeds = agg.feeds()
    if args.json:
        dump_json([asdict(f) for f in feeds])
        return 0
    if not feeds:
        out("no feeds configured (add one with `aggregator feeds add URL`)")
        return 0
    from aggregator.daemon.health import FailingFeeds, failure_cause

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


@command("feeds add")
def feeds_add(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        added = agg.add_feed(
            args.url,
            name=args.name,
            tags=args.tag or (),
            interval=args.interval,
            extract=False if args.no_extract else None,
            pick=args.pick,
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


@command("feeds edit")
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


@command("feeds remove")
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


@command("feeds enable")
def feeds_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)


@command("feeds disable")
def feeds_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


@command("feeds import")
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


@command("feeds export")
def feeds_export(args: argparse.Namespace) -> int:
    from aggregator.ingest.feedtools import export_feeds

    sys.stdout.write(export_feeds(load(args), args.format))
    return 0


@command("feeds test")
def feeds_test(args: argparse.Namespace) -> int:
    from aggregator.ingest.feedtools import test_feed

    report = test_feed(load(args), args.url)
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


# ------------------------------------------------------------------ poll & items


@command("poll")
def poll(args: argparse.Namespace) -> int:
    from aggregator.cli.more import deliver_now, delivery_line

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
        until = r.skipped_until.astimezone(UTC) if r.skipped_until.tzinfo else r.skipped_until
        return (
            f"{r.feed:<32} skipped: its server asked to wait (Retry-After); "
            f"may be polled from {until:%Y-%m-%d %H:%M:%S} UTC (--force to poll now)"
        )
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


@command("items list")
def items_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        items = agg.articles(
            feed=args.feed,
            since=parse_since(args.since),
            topic=args.topic,
            limit=args.limit,
            published_since=parse_since(args.published_since, flag="--published-since"),
        )
    if args.json:
        dump_json([article_json(a) for a in items])
        return 0
    for a in items:
        out(
            f"{a.id:>6}  {fmt_time(a.published or a.first_seen_at)}  {a.language or '--':<3}"
            f" {(a.title or '(untitled)')[:90]}"
        )
        out(f"{'':>8}{', '.join(a.feeds)}  {a.url or ''}")
    return 0


@command("items show")
def items_show(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        a = agg.article(args.id)
    if args.json:
        dump_json(article_json(a, full=True))
        return 0
    out(
        f"# {a.title}\n{a.url}\nfeeds: {', '.join(a.feeds)}  language: {a.language}  "
        f"published: {fmt_time(a.published)}  versions: {a.versions}"
    )
    if a.extract_error:
        out(f"extraction failed, feed content shown: {a.extract_error}")
    for m in a.matches:
        out(f"matched topic {m.topic} (v{m.version}): {', '.join(m.terms)}")
        for line in match_explanation_lines(m):
            out(line)
    out()
    out(a.text or "")
    return 0


def match_explanation_lines(m: Any) -> list[str]:
    """How a match was made: method, score against threshold, expanded terms, sentences."""
    how = m.explanation or {"method": m.method}
    if how.get("method", "literal") == "literal":
        return ["    method: literal (the query's own words)"]
    lines = [
        f"    method: {how['method']}, score {how.get('score', 0):.3f} "
        f"(threshold {how.get('threshold', 0):.3f})"
    ]
    if how.get("expanded_terms"):
        lines.append(f"    expanded terms that hit: {', '.join(how['expanded_terms'])}")
    for sentence in how.get("sentences", []):
        lines.append(
            f"    sentence ({sentence['field']}, {sentence['score']:.3f}): {sentence['text']}"
        )
    return lines


# ------------------------------------------------------------------ db & demo


@command("db upgrade")
def db_upgrade(args: argparse.Namespace) -> int:
    from aggregator.storage.db import current_revision, make_engine, redact, upgrade

    cfg = load(args)
    engine = make_engine(cfg.database_url())
    upgrade(engine)
    out(f"{redact(cfg.database_url())}: at revision {current_revision(engine)}")
    return 0


@command("demo")
def demo(args: argparse.Namespace) -> int:
    from aggregator.cli.demo import run_demo

    return run_demo(Path(args.out) if args.out else None, out)


# ------------------------------------------------------------------ parser


DESCRIPTION = """\
Newsroom feed aggregator: poll feeds, match topics, alert the desk.

It polls the feeds of feeds.yaml, keeps each article's text, matches your topics
in any language, and alerts by email, webhook or chat; it re-checks stored
stories and tells you when one is quietly edited, showing what changed."""

EPILOG = """\
first steps:
  aggregator demo                      the offline demo: one article, one topic, one alert
  aggregator feeds add URL             add a feed (a page announcing one works too)
  aggregator poll                      poll now and see what came in
  aggregator run                       the daemon: poll, re-check, deliver alerts

Every command takes --config FILE (default $AGGREGATOR_CONFIG, then ./feeds.yaml).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config."""

_CONFIG_HELP = "feeds.yaml (default: $AGGREGATOR_CONFIG, then ./feeds.yaml)"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aggregator")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aggregator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    p.add_argument("--version", action="version", version=f"aggregator {_version()}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    _feeds_parser(sub)
    _items_parser(sub)
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
    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="apply migrations")
    d = sub.add_parser("demo", help="offline demo on the seed article")
    d.add_argument("--out", help="folder for the demo's files (default: a temp folder)")
    for extend in EXTENSIONS:
        extend(sub)
    _config_everywhere(p)
    return p


def _config_everywhere(parser: argparse.ArgumentParser) -> None:
    """`aggregator feeds list --config x.yaml` works like `aggregator --config x.yaml feeds list`.

    SUPPRESS as the default keeps a sub-command from resetting a --config given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--config" in a.option_strings for a in child._actions):
                    child.add_argument(
                        "--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP
                    )
                _config_everywhere(child)


def _feeds_parser(sub: Any) -> None:
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
    for name in ("remove", "enable", "disable"):
        f.add_parser(name, help=f"{name} a feed").add_argument(
            "name", help="the feed's name (see `feeds list`)"
        )
    f.add_parser("import", help="import an OPML file").add_argument(
        "file", help="an OPML file, e.g. exported from another feed reader"
    )
    ex = f.add_parser("export", help="export feeds as OPML or YAML")
    ex.add_argument(
        "--format", choices=["opml", "yaml"], default="opml", help="output format (default opml)"
    )
    t = f.add_parser("test", help="fetch and parse a feed without storing")
    t.add_argument("url", help="the feed (or page) to try")
    t.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def _items_parser(sub: Any) -> None:
    i = sub.add_parser("items", help="stored articles").add_subparsers(dest="sub", required=True)
    ls = i.add_parser("list", help="list stored articles")
    ls.add_argument("--feed", help="only articles carried by this feed (by name)")
    ls.add_argument("--topic", help="only articles matching this topic (by name)")
    ls.add_argument(
        "--since",
        metavar="24h|DATE",
        help="only articles first seen (fetched by us) since then: 24h, 7d or an ISO date",
    )
    ls.add_argument(
        "--published-since",
        metavar="24h|DATE",
        help="only articles published since then (their own date: the feed's published, "
        "else the page's, else the feed's updated date); 24h, 7d or an ISO date",
    )
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    sh = i.add_parser("show", help="one article")
    sh.add_argument("id", type=int, help="the article id (see `items list`)")
    sh.add_argument("--json", action="store_true", help="machine-readable output")


EXTENSIONS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    from aggregator.cli import more as cli_more  # noqa: F401  (registers the other commands)
    from aggregator.daemon.logs import cli_logging
    from aggregator.urls import redact_text

    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"{args.cmd} {args.sub}" if getattr(args, "sub", None) else args.cmd
    cli_logging()
    try:
        return COMMANDS[name](args)
    except AggregatorError as e:
        print(f"error: {redact_text(e.message)}", file=sys.stderr)
        if isinstance(e, QuerySyntaxError):
            print(f"at column {e.column}:\n{e.pointer()}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aggregator items list | head`: the reader went away
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
