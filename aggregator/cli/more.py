"""Commands beyond feed management: topics, search, alerts, versions, changes, re-checks."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.cli import daemon as _daemon_cli  # noqa: F401  (registers `aggregator run`)
from aggregator.cli import tokens as _tokens_cli  # noqa: F401  (registers `aggregator reader-tokens`)
from aggregator.cli import web as _web_cli  # noqa: F401  (registers `aggregator web`)
from aggregator.cli.main import (
    EXTENSIONS,
    article_json,
    command,
    dump_json,
    fmt_time,
    load,
    open_aggregator,
    out,
    parse_since,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    from aggregator.topics import HighlightStyle

# ------------------------------------------------------------------ topics & search


@command("topics list")
def topics_list(args: argparse.Namespace) -> int:
    cfg = load(args)
    if args.json:
        dump_json([t.model_dump(mode="json") for t in cfg.topics])
        return 0
    for t in cfg.topics:
        scope = " ".join(
            filter(
                None,
                [
                    f"languages={','.join(t.languages)}" if t.languages else "",
                    f"feeds={','.join(t.feeds)}" if t.feeds else "",
                    f"tags={','.join(t.tags)}" if t.tags else "",
                ],
            )
        )
        out(f"{t.name}: {t.description_text()}  {scope}".rstrip())
        out("    " + " ".join(t.query.split()))
        out("    " + topic_coverage(t))
    return 0


def topic_coverage(t: Any) -> str:
    """Which languages a topic catches, and how (README "Cross-lingual topics")."""
    from aggregator.topics.crosslingual import DEFAULT_LANGUAGES, ENCODER_LANGUAGES

    if not t.cross_lingual:
        return "coverage: literal only (cross_lingual: false): the query's own words"
    scope = set(t.languages)
    encoder = [x for x in ENCODER_LANGUAGES if x != "en" and (not scope or x in scope)]
    expansion = [
        x for x in DEFAULT_LANGUAGES if x not in ENCODER_LANGUAGES and (not scope or x in scope)
    ]
    threshold = "auto" if t.threshold == "auto" else f"{float(t.threshold):g}"
    return (
        f"coverage: en literal; expansion + semantic: {' '.join(encoder) or '-'}; "
        f"expansion only: {' '.join(expansion) or '-'}; threshold {threshold}"
    )


@command("topics expand")
def topics_expand(args: argparse.Namespace) -> int:
    from aggregator.cli.main import config_path
    from aggregator.config.edit import set_topic_query
    from aggregator.topics.crosslingual import (
        DEFAULT_LANGUAGES,
        CrossLingual,
        XTopicSpec,
        expanded_query,
    )

    cfg = load(args)
    topic = next((t for t in cfg.topics if t.name == args.name), None)
    if topic is None:
        raise UsageError(f"no topic named {args.name!r}", hint="aggregator topics list")
    languages = [x.lower() for x in args.language] if args.language else list(DEFAULT_LANGUAGES)
    if topic.languages:
        languages = [x for x in languages if x in topic.languages] or languages
    xl = CrossLingual.load(
        [XTopicSpec(topic.name, topic.query, topic.descriptions())], languages=languages
    )
    table = xl.expansions(topic.name, languages)
    if args.json:
        dump_json(
            {
                lang: [
                    {
                        "word": s.source,
                        "terms": [
                            {"term": e.word, "score": e.score, "pattern": e.pattern.query_text()}
                            for e in s.expansions
                        ],
                    }
                    for s in slots
                ]
                for lang, slots in table.items()
            }
        )
    else:
        for lang, slots in table.items():
            out(f"{lang}:")
            for s in slots:
                terms = ", ".join(
                    f"{e.pattern.query_text()} ({e.word} {e.score:.2f})" for e in s.expansions
                )
                out(f"  {s.source}: {terms or '-'}")
    if args.write:
        query = f"({' '.join(topic.query.split())}) OR {expanded_query(xl, topic.name, languages)}"
        set_topic_query(config_path(args), topic.name, query)
        if not args.json:
            out(f"wrote the expanded query of {topic.name} to {config_path(args)}")
    return 0


def _style() -> HighlightStyle:
    return "ansi" if sys.stdout.isatty() else "brackets"


@command("topics test")
def topics_test(args: argparse.Namespace) -> int:
    from aggregator.cli.topictest import run_topic_test

    cfg = load(args)
    report = run_topic_test(cfg, args, style=_style())
    if args.json:
        dump_json(report.as_json())
        return 0
    for line in report.lines():
        out(line)
    return 0 if report.any_hit else 1


@command("search")
def search(args: argparse.Namespace) -> int:
    from aggregator.query.syntax import validate_query
    from aggregator.topics import highlight

    validate_query(args.query)  # a bad query is a usage error, whatever the database
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        hits = agg.search(args.query, limit=args.limit)
    if args.json:
        dump_json(
            [
                {
                    **article_json(a),
                    "terms": list(m.terms),
                    "snippets": [s.text for s in m.snippets],
                }
                for a, m in hits
            ]
        )
        return 0
    for a, m in hits:
        out(f"{a.id:>6}  {fmt_time(a.published or a.first_seen_at)}  {a.title}")
        out(f"        {', '.join(a.feeds)}  {a.url or ''}")
        for s in m.snippets[:1]:
            out("        " + highlight(s, _style()))
    if not hits:
        out("no stored article matches")
    return 0


# ------------------------------------------------------------------ alerts


@command("alerts list")
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
        if a.last_error and a.status != "sent":
            out(f"        last error: {a.last_error}")
    return 0


@command("alerts retry")
def alerts_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.dead:
        raise UsageError("name alert ids or pass --dead", hint="aggregator alerts retry 12 13")
    with open_aggregator(args, extract_workers=0) as agg:
        ids = args.ids or [a.id for a in agg.alerts("dead", 100_000)]
        n = agg.retry_alerts(ids, resend=args.resend)
        report = asyncio.run(deliver_now(agg, ids))
    out(f"retried {n} alert(s): {delivery_line(report)}")
    for e in report.errors:
        out(f"  {e}")
    return 0 if not report.dead else 1


async def deliver_now(agg: Any, ids: list[int] | None = None) -> Any:
    import os

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


@command("alerts test")
def alerts_test(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        detail = asyncio.run(agg.test_channel(args.channel))
    out(f"{args.channel}: receiver answered {detail}")
    return 0


# ------------------------------------------------------------------ versions & changes


@command("items versions")
def items_versions(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        versions = agg.versions(args.id)
        changes = {c.to_version: c for c in agg.changes(limit=10_000, article_id=args.id)}
    if args.json:
        dump_json(
            [
                {
                    "number": v.number,
                    "title": v.title,
                    "fetched_at": v.fetched_at,
                    "kind": v.kind,
                    "revert_of": v.revert_of,
                    "content_hash": v.content_hash,
                    "extractor_version": v.extractor_version,
                    "words": len(v.text.split()),
                    "change": changes[v.number].summary if v.number in changes else None,
                }
                for v in versions
            ]
        )
        return 0
    for v in versions:
        c = changes.get(v.number)
        label = f"  [{c.kind}]" if c else ""
        revert = f" (revert to v{v.revert_of})" if v.revert_of else ""
        out(f"v{v.number}  {fmt_time(v.fetched_at)}  {v.kind}{revert}{label}  {v.title}")
    return 0


@command("items diff")
def items_diff(args: argparse.Namespace) -> int:
    from aggregator import changes

    with open_aggregator(args, extract_workers=0, readonly=True) as agg:
        versions = {v.number: v for v in agg.versions(args.id)}
    if len(versions) < 1:
        raise UsageError(f"article {args.id} has no stored version")
    to = args.to or max(versions)
    frm = args.frm or max(1, to - 1)
    if frm not in versions or to not in versions:
        raise UsageError(
            f"article {args.id} has versions 1 to {max(versions)}",
            hint="pick --from and --to within that range",
        )
    a, b = versions[frm], versions[to]
    ops = changes.word_diff(a.text, b.text)
    if args.format == "html":
        import html

        table = changes.render_html(a.title or "", a.text, b.title or "", b.text)
        sys.stdout.write(
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
            f"{html.escape(b.title or '')} — v{frm} → v{to}</title></head>"
            f"<body>\n{table}\n</body></html>\n"
        )
    elif args.format == "json":
        summary = changes.summarize_change(a.title or "", a.text, b.title or "", b.text)
        dump_json({"article": args.id, "from": frm, "to": to, **changes.render_json(ops, summary)})
    else:
        if (a.title or "") != (b.title or ""):
            out(f"headline: {a.title!r} → {b.title!r}")
        out(changes.render_text(ops, color=sys.stdout.isatty()))
    return 0


@command("changes list")
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


@command("recheck")
def recheck(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        raise UsageError("name article ids or pass --all", hint="aggregator recheck 42")
    with open_aggregator(args) as agg:
        results = agg.recheck(args.ids or None)
    for r in results:
        extra = f" v{r.version} ({r.kind})" if r.version else ""
        err = f": {r.error}" if r.error else ""
        out(f"#{r.article_id}: {r.outcome}{extra}{err}")
    out(f"{len(results)} re-checked")
    return 0


# ------------------------------------------------------------------ parsers


def _extend(sub: Any) -> None:
    t = sub.add_parser("topics", help="topics").add_subparsers(dest="sub", required=True)
    t.add_parser("list", help="configured topics").add_argument(
        "--json", action="store_true", help="machine-readable output (JSON)"
    )
    tt = t.add_parser("test", help="try a topic on a URL, a file, a text or stored articles")
    tt.add_argument("name", nargs="?", help="a topic of feeds.yaml (or use --query)")
    src = tt.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="fetch this page and try the topic on it")
    src.add_argument("--file", type=Path, help="try the topic on this file (HTML or text)")
    src.add_argument("--text", help="try the topic on this text")
    src.add_argument("--stored", action="store_true", help="try it on stored articles")
    tt.add_argument("--since", default="7d", help="with --stored: how far back (default 7d)")
    tt.add_argument("--query", help="try a query that is not in feeds.yaml yet")
    tt.add_argument("--language", help="language of --text/--file (default: detected)")
    tt.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    tt.add_argument(
        "--no-cross-lingual",
        action="store_true",
        help="only the query's literal words (as with cross_lingual: false), for comparison",
    )
    te = t.add_parser("expand", help="the terms cross-lingual expansion uses, per language")
    te.add_argument("name", help="a topic of feeds.yaml")
    te.add_argument("--language", action="append", help="a language code (repeat; default all)")
    te.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    te.add_argument(
        "--write", action="store_true", help="add them to the topic's query in feeds.yaml"
    )
    s = sub.add_parser("search", help="search stored articles with the topic query language")
    s.add_argument("query", help="a query, e.g. 'contrôle* NEAR/3 export*'")
    s.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    s.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _alerts(sub)
    _changes(sub)


def _alerts(sub: Any) -> None:
    a = sub.add_parser("alerts", help="the alert outbox").add_subparsers(dest="sub", required=True)
    ls = a.add_parser("list", help="alerts and their delivery state")
    ls.add_argument(
        "--status", choices=["pending", "sent", "failed", "dead"], help="only alerts in this state"
    )
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    r = a.add_parser("retry", help="replay alerts (by id, or all dead ones)")
    r.add_argument("ids", nargs="*", type=int, metavar="ID", help="alert ids (see `alerts list`)")
    r.add_argument("--dead", action="store_true", help="every dead-lettered alert")
    r.add_argument(
        "--resend",
        action="store_true",
        help="also send again alerts that were already sent (same webhook-id / Message-ID)",
    )
    a.add_parser("test", help="send a test message").add_argument(
        "channel", help="an alert channel's name in feeds.yaml"
    )


def _changes(sub: Any) -> None:
    items = sub.choices["items"]._subparsers._group_actions[0]  # the `items` sub-commands
    v = items.add_parser("versions", help="every stored version of an article")
    v.add_argument("id", type=int, help="the article id (see `items list`)")
    v.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    d = items.add_parser("diff", help="word diff between two versions")
    d.add_argument("id", type=int, help="the article id (see `items list`)")
    d.add_argument(
        "--from", dest="frm", type=int, metavar="N", help="old version (default: the one before)"
    )
    d.add_argument("--to", type=int, metavar="M", help="new version (default: the latest)")
    d.add_argument(
        "--format", choices=["text", "html", "json"], default="text", help="default text"
    )
    c = sub.add_parser("changes", help="edits seen by change monitoring").add_subparsers(
        dest="sub", required=True
    )
    cl = c.add_parser("list", help="recent changes")
    cl.add_argument("--since", default="24h", help="24h, 7d or an ISO date (default 24h)")
    cl.add_argument("--topic", help="only changes of articles matching this topic")
    cl.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    cl.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    rc = sub.add_parser("recheck", help="re-check articles now, whatever the schedule")
    rc.add_argument("ids", nargs="*", type=int, metavar="ID", help="article ids (see `items list`)")
    rc.add_argument("--all", action="store_true", help="every monitored article")


EXTENSIONS.append(_extend)
