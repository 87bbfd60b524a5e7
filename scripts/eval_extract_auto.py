"""``extract: auto`` on real feeds: how many page fetches it saves, and what it stores.

1. Fetches saved: every feed under ../shared/corpora/feeds is parsed as the poll parses
   it; each entry is judged as ``extract: auto`` judges it (aggregator.extract.teaser).
   Reported: entries, pages ``auto`` would fetch, pages saved against ``extract: true``,
   per feed kind (full text vs teasers).
2. Quality for feeds that carry full text (Zyte article benchmark): each page's
   hand-annotated body is put in an RSS item as ``content:encoded`` paragraphs, the way a
   full-text feed carries it; the text ``auto`` stores (the feed's own, no fetch) is
   scored against the annotation with the benchmark's 4-gram shingle F1, beside the text
   that extraction of the page stores (what ``extract: true`` keeps).

    .venv/bin/python scripts/eval_extract_auto.py

Skips (exit 0) when ../shared/corpora is absent.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.exceptions import ParseError
from aggregator.extract.extractor import extract_article
from aggregator.extract.teaser import feed_gives_teasers, wants_page
from aggregator.ingest.prepare import entry_text
from aggregator.parse.feeds import parse_feed
from benchmarks.bench_extract import quality, zyte_dir, zyte_pages

CORPUS = REPO.parent / "shared" / "corpora" / "feeds"


def fetches_saved() -> None:
    entries = fetched = 0
    full_feeds = teaser_feeds = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json"):
        try:
            feed = parse_feed(path.read_bytes(), url="https://example.org/feed")
        except (ParseError, ValueError):
            continue
        texts = [entry_text(e) for e in feed.entries if e.url]
        if not texts:
            continue
        teasers = feed_gives_teasers(texts)
        teaser_feeds += teasers
        full_feeds += not teasers
        entries += len(texts)
        fetched += sum(wants_page("auto", t, teasers) for t in texts)
    print("1. Page fetches on ../shared/corpora/feeds (entries with a link)")
    print(f"   feeds: {full_feeds + teaser_feeds} ({full_feeds} full text, {teaser_feeds} teasers)")
    print(f"   entries: {entries}; extract: true fetches {entries} pages, auto {fetched}")
    saved = entries - fetched
    print(f"   saved: {saved} fetches ({saved / max(1, entries):.0%})")


def full_text_quality() -> None:
    folder = zyte_dir()
    if folder is None:
        print("2. skipped: ../shared/corpora/extraction/zyte is absent")
        return
    pages = zyte_pages(folder)
    feed_pairs, page_pairs = [], []
    for p in pages:
        paras = "".join(f"<p>{html.escape(x)}</p>" for x in p.truth.split("\n") if x.strip())
        doc = (
            '<?xml version="1.0"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
            f"<item><title>x</title><link>{html.escape(p.url)}</link>"
            f"<content:encoded><![CDATA[{paras}]]></content:encoded></item></channel></rss>"
        ).encode()
        [entry] = parse_feed(doc, url=p.url).entries
        text = entry_text(entry)
        if wants_page("auto", text, feed_gives_teasers([text])):
            continue  # a short annotated body: auto would fetch the page as true does
        feed_pairs.append((p.truth, text))
        page_pairs.append((p.truth, extract_article(p.html, p.url).text))
    fq, pq = quality(feed_pairs), quality(page_pairs)
    print(
        f"2. Stored-text quality on {len(feed_pairs)} of {len(pages)} Zyte pages as full-text items"
    )
    print(f"   auto (the feed's text):       P {fq.precision:.3f} R {fq.recall:.3f} F1 {fq.f1:.3f}")
    print(
        f"   true (extraction of the page): P {pq.precision:.3f} R {pq.recall:.3f} F1 {pq.f1:.3f}"
    )


def main() -> int:
    if not CORPUS.is_dir():
        print(f"skipped: {CORPUS} is absent")
        return 0
    fetches_saved()
    full_text_quality()
    return 0


if __name__ == "__main__":
    sys.exit(main())
