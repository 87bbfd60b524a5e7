"""Evaluate change summaries on three real snapshots of one feed (not a test).

The rss2email project keeps three snapshots of the Node.js vulnerability feed
in which one item (same guid) is substantially rewritten (v1 -> v2) and then
lightly edited (v2 -> v3).  This script checks that :mod:`aggregator.changes`
labels those two edits "substantial" and "light"; it exits 1 if not and 0 with
a message when the corpus is absent (it is never copied into the repository).

    .venv/bin/python scripts/eval_versions.py [CORPUS_DIR]
"""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import feedparser
import lxml.html

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file, not installed: import the checkout's package
    sys.path.insert(0, str(REPO))

from aggregator.changes import ChangeSummary, summarize_change

DEFAULT_DIR = REPO.parent / "shared" / "corpora" / "versions" / "nodejs-feed"
EXPECTED = ("substantial", "light")
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "hr", "br", "div", "pre", "blockquote")

Item = tuple[str, str]  # (title, text)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, one block element per line (fallback path)."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for el in root.iter(*_BLOCKS):
        el.tail = "\n" + (el.tail or "")
    return str(root.text_content())


def items_by_guid(path: Path) -> dict[str, Item]:
    """guid -> (title, description as text) for every entry of one feed snapshot.

    Uses the project's own parser when it is importable, so the texts are the
    ones the daemon would store; plain feedparser otherwise.
    """
    try:
        from aggregator.parse.feeds import parse_feed, text_of
    except ImportError:
        return _items_with_feedparser(path)
    feed = parse_feed(path.read_bytes(), url=path.as_uri())
    return {
        str(e.id or e.url): (e.title or "", text_of(e.content or e.summary)) for e in feed.entries
    }


def _items_with_feedparser(path: Path) -> dict[str, Item]:
    parsed = feedparser.parse(io.BytesIO(path.read_bytes()))
    return {
        str(e.get("id") or e.get("link")): (
            str(e.get("title", "")),
            html_to_text(e.get("description", "")),
        )
        for e in parsed.entries
    }


def common_versions(snapshots: Sequence[dict[str, Item]]) -> tuple[str, list[Item]]:
    """The first guid present in every snapshot, with its versions in snapshot order."""
    common = set(snapshots[0]).intersection(*snapshots[1:])
    if not common:
        raise SystemExit("no item appears in all snapshots")
    guid = min(common)
    return guid, [snap[guid] for snap in snapshots]


def describe(label: str, s: ChangeSummary) -> str:
    return (
        f"{label}: kind={s.kind()} headline_changed={s.headline_changed} "
        f"words +{s.words_added}/-{s.words_removed} "
        f"paragraphs +{s.paragraphs_added}/-{s.paragraphs_removed}/~{s.paragraphs_changed} "
        f"correction={s.correction!r}"
    )


def main(argv: Sequence[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT_DIR
    paths = [folder / f"feed{n}.xml" for n in (1, 2, 3)]
    if not all(p.is_file() for p in paths):
        print(f"skipped: corpus not found at {folder} (see shared/corpora/README.md)")
        return 0
    guid, versions = common_versions([items_by_guid(p) for p in paths])
    print(f"item {guid}")
    print("description lengths (text):", " -> ".join(str(len(text)) for _, text in versions))
    kinds = []
    for n, (old, new) in enumerate(itertools.pairwise(versions), start=1):
        summary = summarize_change(old[0], old[1], new[0], new[1])
        kinds.append(summary.kind())
        print(describe(f"v{n} -> v{n + 1}", summary))
    ok = tuple(kinds) == EXPECTED
    print(f"expected {' / '.join(EXPECTED)}: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
