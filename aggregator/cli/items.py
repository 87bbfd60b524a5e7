"""The `items` commands: stored articles, their versions and the diff between two."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from aggregator.cli.common import (
    Subcommands,
    article_json,
    dump_json,
    fmt_time,
    open_aggregator,
    out,
    parse_since,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`items list|show|versions|diff`."""
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
    ls.set_defaults(handler=items_list)
    sh = i.add_parser("show", help="one article")
    sh.add_argument("id", type=int, help="the article id (see `items list`)")
    sh.add_argument("--json", action="store_true", help="machine-readable output")
    sh.set_defaults(handler=items_show)
    v = i.add_parser("versions", help="every stored version of an article")
    v.add_argument("id", type=int, help="the article id (see `items list`)")
    v.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    v.set_defaults(handler=items_versions)
    d = i.add_parser("diff", help="word diff between two versions")
    d.add_argument("id", type=int, help="the article id (see `items list`)")
    d.add_argument(
        "--from", dest="frm", type=int, metavar="N", help="old version (default: the one before)"
    )
    d.add_argument("--to", type=int, metavar="M", help="new version (default: the latest)")
    d.add_argument(
        "--format", choices=["text", "html", "json"], default="text", help="default text"
    )
    d.set_defaults(handler=items_diff)


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
