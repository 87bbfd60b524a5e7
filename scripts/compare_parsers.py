"""Compare the fast path (aggregator.parse.fast) with the feedparser path on the shared corpus.

    .venv/bin/python scripts/compare_parsers.py [--corpus DIR] [--show N] [--repeat N]

For every file under the corpus (default /work/shared/corpora/feeds; skipped with a message
when absent) both paths parse the same bytes.  Reported: the share of XML feeds that take the
fast path; for those, per field, how many entries differ (HTML fields compared by their
``text_of`` and, separately, byte for byte); and CPU time of both paths, in total and per item.
Nothing from the corpus is copied anywhere.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.exceptions import ParseError
from aggregator.parse import fast as fastparse
from aggregator.parse import feeds as parse
from aggregator.parse.feeds import ParsedEntry, ParsedFeed, parse_feed, text_of
from aggregator.parse.sniff import is_json, prepare_xml, trim_start

DEFAULT_CORPUS = Path("/work/shared/corpora/feeds")
FEED_FIELDS = ("format", "title", "link", "language", "ttl_minutes", "warnings")
ENTRY_FIELDS = ("id", "url", "title", "author", "published", "updated", "tags", "enclosures")
HTML_FIELDS = ("summary", "content")


@dataclass
class Tally:
    files: int = 0
    xml_feeds: int = 0
    fast: int = 0
    entries: int = 0
    feed_diffs: Counter[str] = field(default_factory=Counter)
    entry_diffs: Counter[str] = field(default_factory=Counter)
    html_exact: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    fast_paths: list[Path] = field(default_factory=list)
    declined: list[tuple[Path, str]] = field(default_factory=list)


def corpus_files(root: Path) -> Iterator[Path]:
    return (
        p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".serde.json")
    )


def url_for(path: Path) -> str:
    return "https://corpus.example/" + path.name


def run(data: bytes, url: str, *, fast: bool) -> ParsedFeed | str:
    parse.FAST_PATH = fast
    try:
        return parse_feed(data, url=url)
    except ParseError as e:
        return f"ParseError: {e}"


def takes_fast_path(data: bytes, url: str) -> bool | None:
    """None for bodies that are not XML feeds at all (JSON, empty, refused before parsing)."""
    if is_json(data) or not trim_start(data).rstrip():
        return None
    try:
        prepared = prepare_xml(data, None)
    except ParseError:
        return None
    return fastparse.feedparser_result(prepared.data, url) is not None


def compare(path: Path, tally: Tally, show: int) -> None:
    """XML feeds are the bodies the feedparser path turns into a feed (not JSON Feed)."""
    data = path.read_bytes()
    tally.files += 1
    fast = takes_fast_path(data, url_for(path))
    theirs = run(data, url_for(path), fast=False)
    if fast is None or isinstance(theirs, str):
        return
    tally.xml_feeds += 1
    if not fast:
        tally.declined.append((path, theirs.format))
        return
    tally.fast += 1
    tally.fast_paths.append(path)
    mine = run(data, url_for(path), fast=True)
    if isinstance(mine, str) or isinstance(theirs, str):
        note(tally, show, path, "result", mine, theirs)
        tally.feed_diffs["result"] += 1
        return
    compare_feeds(path, mine, theirs, tally, show)


def compare_feeds(
    path: Path, mine: ParsedFeed, theirs: ParsedFeed, tally: Tally, show: int
) -> None:
    for name in FEED_FIELDS:
        if getattr(mine, name) != getattr(theirs, name):
            tally.feed_diffs[name] += 1
            note(tally, show, path, name, getattr(mine, name), getattr(theirs, name))
    if len(mine.entries) != len(theirs.entries):
        tally.feed_diffs["entry count"] += 1
        note(tally, show, path, "entry count", len(mine.entries), len(theirs.entries))
        return
    for a, b in zip(mine.entries, theirs.entries, strict=True):
        tally.entries += 1
        compare_entries(path, a, b, tally, show)


def compare_entries(path: Path, a: ParsedEntry, b: ParsedEntry, tally: Tally, show: int) -> None:
    for name in ENTRY_FIELDS:
        if getattr(a, name) != getattr(b, name):
            tally.entry_diffs[name] += 1
            note(tally, show, path, name, getattr(a, name), getattr(b, name))
    for name in HTML_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        tally.html_exact[name] += x == y
        if text_of(x) != text_of(y) or (x is None) != (y is None):
            tally.entry_diffs[name] += 1
            note(tally, show, path, name, text_of(x), text_of(y))


def note(tally: Tally, show: int, path: Path, name: str, mine: object, theirs: object) -> None:
    if len(tally.examples) < show:
        tally.examples.append(
            f"{path.name} {name}:\n  fast:       {mine!r:.300}\n  feedparser: {theirs!r:.300}"
        )


def cpu_seconds(paths: list[Path], *, fast: bool, repeat: int) -> tuple[float, int]:
    """CPU seconds of parse_feed over ``paths`` (best of ``repeat``) and the entries produced."""
    bodies = [(p.read_bytes(), url_for(p)) for p in paths]
    best, items = float("inf"), 0
    for _ in range(repeat):
        started, items = time.process_time(), 0
        for data, url in bodies:
            result = run(data, url, fast=fast)
            items += 0 if isinstance(result, str) else len(result.entries)
        best = min(best, time.process_time() - started)
    return best, items


def report(tally: Tally, all_paths: list[Path], repeat: int, out: Callable[[str], None]) -> None:
    share = tally.fast / tally.xml_feeds if tally.xml_feeds else 0.0
    out(
        f"files: {tally.files}; XML feeds: {tally.xml_feeds}; fast path: {tally.fast} ({share:.0%})"
    )
    for fmt, names in sorted(declined_by_format(tally).items()):
        out(f"  declined, {fmt}: {len(names)} ({', '.join(names)})")
    out(f"entries compared (fast-path feeds): {tally.entries}")
    out("feed-level differences: " + (format_counts(tally.feed_diffs) or "none"))
    out(
        "entry differences (HTML fields by text_of): "
        + (format_counts(tally.entry_diffs) or "none")
    )
    for name in HTML_FIELDS:
        out(f"  {name}: byte-identical in {tally.html_exact[name]} of {tally.entries} entries")
    for example in tally.examples:
        out(example)
    timing("whole corpus", all_paths, repeat, out)
    timing("fast-path feeds only", tally.fast_paths, repeat, out)


def timing(label: str, paths: list[Path], repeat: int, out: Callable[[str], None]) -> None:
    fp_seconds, items = cpu_seconds(paths, fast=False, repeat=repeat)
    fast_seconds, _ = cpu_seconds(paths, fast=True, repeat=repeat)
    per = (lambda s: f"{s / items * 1e6:.0f} µs/item") if items else (lambda s: "-")
    out(
        f"CPU time, {label} ({len(paths)} files, {items} items): "
        f"feedparser path {fp_seconds:.3f}s ({per(fp_seconds)}), "
        f"fast path {fast_seconds:.3f}s ({per(fast_seconds)})"
    )


def declined_by_format(tally: Tally) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, fmt in tally.declined:
        found.setdefault(fmt, []).append(path.name)
    return found


def format_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()) if n)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args.add_argument("--show", type=int, default=10, help="print up to N differences")
    args.add_argument("--repeat", type=int, default=3, help="timing runs (best is reported)")
    options = args.parse_args(argv)
    if not options.corpus.is_dir():
        print(f"corpus {options.corpus} not present; nothing to compare")
        return 0
    tally, paths = Tally(), list(corpus_files(options.corpus))
    saved = parse.FAST_PATH
    try:
        for path in paths:
            compare(path, tally, options.show)
        report(tally, paths, options.repeat, print)
    finally:
        parse.FAST_PATH = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
