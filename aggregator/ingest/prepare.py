"""CPU-heavy per-feed work that runs in the worker processes: parse the feed and
derive, per entry, everything an article built from it needs that takes CPU.

Parsing, HTML-to-text, language identification and hashing hold the GIL; in
the main process they would serialise a cold poll of a thousand feeds on one
core, and the main process also has the database to write. The same pool runs
article extraction; ``run_job`` is the one picklable entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aggregator.extract.article import Extracted, extract_article
from aggregator.extract.language import detect_language
from aggregator.ingest import identity
from aggregator.parse.feeds import ParsedEntry, ParsedFeed, parse_feed, text_of

_SEP = "\x00"


@dataclass(frozen=True)
class PreparedEntry:
    """What the pipeline needs of one entry besides the entry itself."""

    text: str  # plain text of the content, else of the summary
    summary_text: str  # plain text of the summary alone
    language: str | None
    fingerprint: str  # changes when the title, summary or content changes
    article_key: str  # global identity of the story (canonical URL or text hash)
    content_hash: str  # of `text`


@dataclass(frozen=True)
class PreparedFeed:
    """A parsed feed with one PreparedEntry per entry, in the same order."""

    parsed: ParsedFeed
    prepared: tuple[PreparedEntry, ...]


def entry_text(e: ParsedEntry) -> str:
    return text_of(e.content or e.summary)


def article_key_for(entry: ParsedEntry, text: str | None = None) -> str:
    """Global identity of a story: its canonical URL, else a hash of its text."""
    if entry.url:
        return "url:" + identity.canonical_url(entry.url)
    body = entry_text(entry) if text is None else text
    return "hash:" + identity.text_hash((entry.title or "") + "\n" + body)


def prepare_entry(e: ParsedEntry) -> PreparedEntry:
    text = entry_text(e)
    summary = text if not e.content else text_of(e.summary)
    flat = identity.normalise_space(text)  # once, for the fingerprint and the hash
    return PreparedEntry(
        text=text,
        summary_text=summary,
        language=detect_language(f"{e.title or ''}\n{text}"),
        # of the text, not the sanitised markup: the fast parse path and feedparser
        # serialise markup differently, and a feed can move between them
        fingerprint=identity.fingerprint_normalised(
            identity.normalise_space(e.title or ""),
            flat if summary is text else identity.normalise_space(summary),
            flat if e.content else "",
        ),
        article_key=article_key_for(e, text),
        content_hash=identity.hash_normalised(flat),
    )


def prepare_feed(
    content: bytes,
    url: str,
    content_type: str | None = None,
    *,
    slim: bool = False,
    max_items: int | None = None,
) -> PreparedFeed:
    """`slim`: drop the entries' HTML once its text is derived (the pipeline needs only
    the text, and the HTML was half of what a cold poll pickled between processes).
    `max_items`: keep that many entries, the newest (see :func:`cap_entries`)."""
    parsed = parse_feed(content, url=url, content_type=content_type)
    if max_items is not None:
        parsed = cap_entries(parsed, max_items)
    prepared = tuple(prepare_entry(e) for e in parsed.entries)
    if slim:
        parsed = replace(
            parsed, entries=tuple(replace(e, summary=None, content=None) for e in parsed.entries)
        )
    return PreparedFeed(parsed, prepared)


def cap_entries(parsed: ParsedFeed, max_items: int) -> ParsedFeed:
    """At most `max_items` entries: the newest by date (published, else updated), then
    undated ones in document order (feeds list the newest first); the kept entries stay
    in document order. What was dropped is counted in a warning.

    A 20 MB feed of 100,000 items was otherwise stored whole (46 s, 509 MB).
    """
    entries = parsed.entries
    if len(entries) <= max_items:
        return parsed

    def rank(i: int) -> tuple[int, float, int]:
        when = entries[i].published or entries[i].updated
        return (0, -when.timestamp(), i) if when else (1, 0.0, i)

    kept = sorted(sorted(range(len(entries)), key=rank)[:max_items])
    dropped = len(entries) - max_items
    warning = (
        f"{dropped} of {len(entries)} items not read: over the cap of {max_items} "
        "(max_items), the newest were kept"
    )
    return replace(
        parsed,
        entries=tuple(entries[i] for i in kept),
        warnings=(*parsed.warnings, warning),
    )


def parse_spec(url: str, content_type: str | None, max_items: int | None = None) -> str:
    """The job description for a feed (the pool passes one string beside the bytes)."""
    return _SEP.join(("parse", url, content_type or "", str(max_items or "")))


def run_job(data: bytes, spec: str) -> Extracted | PreparedFeed:
    """Worker entry point: a feed to prepare ("parse\\0url\\0type\\0max") or a page URL
    to extract."""
    if spec.startswith("parse" + _SEP):
        _, url, ctype, cap = (spec.split(_SEP, 3) + [""])[:4]
        return prepare_feed(
            data, url, ctype or None, slim=True, max_items=int(cap) if cap else None
        )
    return extract_article(data, spec)
