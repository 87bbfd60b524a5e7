"""The fast HTML-to-text path against html.parser on every fragment of the corpus.

    .venv/bin/python scripts/compare_text.py

For each summary, content and title of the feeds under ../shared/corpora/feeds
(both parser paths), text_of's regular-expression path must give exactly what
html.parser gives. Prints the count, the mismatches, the share that took the fast
path and the time of each. Skips (exit 0) when the corpus is absent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.parse import htmltext
from aggregator.parse import text as parse

CORPUS = REPO.parent / "shared" / "corpora" / "feeds"


def fragments() -> list[str]:
    out: list[str] = []
    for fast in (True, False):
        parse.FAST_PATH = fast
        for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
            try:
                feed = parse.parse_feed(path.read_bytes(), url="https://example.org/feed")
            except (parse.ParseError, ValueError):
                continue
            out += [x for e in feed.entries for x in (e.summary, e.content, e.title) if x]
    return out


def main() -> int:
    if not CORPUS.is_dir():
        print(f"skipped: {CORPUS} is absent")
        return 0
    frags = fragments()
    bad = [f for f in frags if parse.text_of(f) != parse._slow_text_of(f)]
    fast = sum(htmltext.fast_text(f) is not None for f in frags)
    start = time.perf_counter()
    for f in frags:
        parse._slow_text_of(f)
    slow_s = time.perf_counter() - start
    start = time.perf_counter()
    for f in frags:
        parse.text_of(f)
    fast_s = time.perf_counter() - start
    print(
        f"{len(frags)} fragments, {len(bad)} differ, {fast / len(frags):.1%} on the fast path; "
        f"html.parser {slow_s / len(frags) * 1e6:.0f} µs, text_of {fast_s / len(frags) * 1e6:.0f} µs"
    )
    for f in bad[:5]:
        print("DIFFERS:", repr(f[:200]))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
