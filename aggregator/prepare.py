"""CPU-heavy per-feed work that runs in the worker processes: parse the feed and
derive each entry's plain text and language.

Parsing (feedparser) and language detection hold the GIL; in the main process
they would serialise a cold poll of a thousand feeds on one core. The same
pool runs article extraction; ``run_job`` is the one picklable entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

from .extract import Extracted, detect_language, extract_article
from .parse import ParsedEntry, ParsedFeed, parse_feed, text_of

_SEP = "\x00"


@dataclass(frozen=True)
class PreparedFeed:
    """A parsed feed with, per entry, the text an article built from it would hold."""

    parsed: ParsedFeed
    texts: tuple[str, ...]
    languages: tuple[str | None, ...]


def entry_text(e: ParsedEntry) -> str:
    return text_of(e.content or e.summary)


def prepare_feed(content: bytes, url: str, content_type: str | None = None) -> PreparedFeed:
    parsed = parse_feed(content, url=url, content_type=content_type)
    texts = tuple(entry_text(e) for e in parsed.entries)
    languages = tuple(detect_language(f"{e.title or ''}\n{t}") for e, t in
                      zip(parsed.entries, texts))
    return PreparedFeed(parsed, texts, languages)


def parse_spec(url: str, content_type: str | None) -> str:
    """The job description for a feed (the pool passes one string beside the bytes)."""
    return _SEP.join(("parse", url, content_type or ""))


def run_job(data: bytes, spec: str) -> Extracted | PreparedFeed:
    """Worker entry point: a feed to prepare ("parse\\0url\\0type") or a page URL to extract."""
    if spec.startswith("parse" + _SEP):
        _, url, ctype = spec.split(_SEP, 2)
        return prepare_feed(data, url, ctype or None)
    return extract_article(data, spec)
