"""The `search` command: stored articles by the topic query language."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    article_json,
    dump_json,
    fmt_time,
    open_aggregator,
    out,
    style,
)

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`search QUERY`."""
    s = sub.add_parser("search", help="search stored articles with the topic query language")
    s.add_argument("query", help="a query, e.g. 'contrôle* NEAR/3 export*'")
    s.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    s.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    s.set_defaults(handler=search)


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
            out("        " + highlight(s, style()))
    if not hits:
        out("no stored article matches")
    return 0
