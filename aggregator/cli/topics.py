"""The `topics` commands: list the topics, try one, show its cross-lingual terms."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.cli.common import (
    Subcommands,
    config_path,
    dump_json,
    load,
    out,
    style,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`topics list|test|expand`."""
    t = sub.add_parser("topics", help="topics").add_subparsers(dest="sub", required=True)
    tl = t.add_parser("list", help="configured topics")
    tl.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    tl.set_defaults(handler=topics_list)
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
        "--force",
        action="store_true",
        help="with --url: fetch even from a host that asked to wait (429/503 Retry-After)",
    )
    tt.add_argument(
        "--no-cross-lingual",
        action="store_true",
        help="only the query's literal words (as with cross_lingual: false), for comparison",
    )
    tt.set_defaults(handler=topics_test)
    te = t.add_parser("expand", help="the terms cross-lingual expansion uses, per language")
    te.add_argument("name", help="a topic of feeds.yaml")
    te.add_argument("--language", action="append", help="a language code (repeat; default all)")
    te.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    te.add_argument(
        "--write", action="store_true", help="add them to the topic's query in feeds.yaml"
    )
    te.set_defaults(handler=topics_expand)


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


def topics_expand(args: argparse.Namespace) -> int:
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


def topics_test(args: argparse.Namespace) -> int:
    from aggregator.cli.topictest import run_topic_test

    cfg = load(args)
    report = run_topic_test(cfg, args, style=style())
    if args.json:
        dump_json(report.as_json())
        return 0
    for line in report.lines():
        out(line)
    return 0 if report.any_hit else 1
