"""Stored extraction results before and after issue 17.3's settings, page by page.

    .venv/bin/python scripts/compare_extract.py [--show N]

Runs extract_article with PREVIOUS_SETTINGS and with the shipped SETTINGS on every page
of the Zyte corpus (../shared/corpora/extraction/zyte) and counts, per stored field
(text, title, author, published, canonical URL, description, sitename, language), the
pages where it differs; a page refused by one side and not the other counts apart.
Also prints the shingle F1 of both against the annotated bodies. Skips (exit 0) when
the corpus is absent. The text is expected to change (other trafilatura settings); the
metadata is not: exit 1 when a metadata field differs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.exceptions import ExtractError  # noqa: E402
from aggregator.extract.article import (  # noqa: E402
    PREVIOUS_SETTINGS,
    SETTINGS,
    Extracted,
    ExtractSettings,
    extract_article,
)
from benchmarks.bench_extract import Page, quality, zyte_dir, zyte_pages  # noqa: E402

FIELDS = [f.name for f in fields(Extracted) if f.name != "extractor_version"]


def extracted(page: Page, settings: ExtractSettings) -> Extracted | None:
    try:
        return extract_article(page.html, page.url, settings)
    except ExtractError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", type=int, default=3, help="differing pages shown per field")
    args = parser.parse_args()
    folder = zyte_dir()
    if folder is None:
        print("skipped: the Zyte corpus (../shared/corpora/extraction/zyte) is absent")
        return 0
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    pages = zyte_pages(folder)
    before = [extracted(p, PREVIOUS_SETTINGS) for p in pages]
    after = [extracted(p, SETTINGS) for p in pages]
    refused = [p.key for p, b, a in zip(pages, before, after) if (b is None) != (a is None)]
    both = [(p, b, a) for p, b, a in zip(pages, before, after) if b and a]
    print(f"{len(pages)} pages; refused by one side only: {len(refused)}")
    metadata_changed = bool(refused)
    for name in FIELDS:
        differ = [(p, b, a) for p, b, a in both if getattr(b, name) != getattr(a, name)]
        print(f"  {name}: {len(differ)} of {len(both)} differ")
        metadata_changed |= name != "text" and bool(differ)
        for page, b, a in differ[: args.show] if name != "text" else []:
            print(f"    {page.key[:12]} {getattr(b, name)!r} -> {getattr(a, name)!r}")
    for label, results in (("before", before), ("after", after)):
        q = quality([(p.truth, r.text if r else "") for p, r in zip(pages, results)])
        print(f"F1 {label}: {q.f1:.4f} (precision {q.precision:.4f}, recall {q.recall:.4f})")
    return 1 if metadata_changed else 0


if __name__ == "__main__":
    sys.exit(main())
