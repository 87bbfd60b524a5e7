"""Bytes in, parsed feed out: RSS 0.9x/1.0/2.0 and Atom via feedparser, JSON Feed natively.

Well-formed RSS 0.9x/2.0 and Atom 1.0 documents take a fast path first
(:mod:`aggregator.parse.fast`: lxml, same field semantics, nh3 as sanitiser) and
only reach feedparser when it declines them; ``FAST_PATH`` switches it off.

Pure: no I/O, no clock, no globals mutated.  feedparser is only ever handed an
in-memory stream (a ``str`` argument makes it download URLs or open local
files), and the bytes it sees have been made safe first:

* the body is decoded to UTF-8 first (BOM and UTF-16/32 sniffing; valid UTF-8
  wins over any label; then the XML declaration, the HTTP charset, windows-1252),
  so the prolog check below runs on exactly the bytes feedparser parses and no
  encoding trick can hide markup from it.  UTF-8 with a few broken bytes is
  repaired with U+FFFD instead of being re-read as windows-1252 (which would
  turn every accent of the feed into mojibake);
* every DOCTYPE, comment, processing instruction and stray declaration before
  the root element is removed, so entity declarations (billion laughs,
  quadratic blowup, external entities that read local files or URLs) are never
  seen by expat nor by feedparser's own DOCTYPE rewriting.  feedparser's SAX
  parser additionally runs with external entities off (second line of defence).

Everything recoverable is kept; what went wrong is reported in
``ParsedFeed.warnings``.  Only a body with no feed in it raises
:class:`FeedParseError`.

This module is the entry point and the switch between the two XML paths; the records
and their shared rules are in ``parse.records``, the sniffing and XML safety in
``parse.sniff``, the feedparser path in ``parse.xmlfeed``, JSON Feed in
``parse.jsonfeed`` and ``text_of`` in ``parse.text``.  The names in ``__all__`` are the
package's API and are re-exported here.
"""

from __future__ import annotations

import os
from typing import Any

from aggregator.parse import fast as fastparse
from aggregator.parse.jsonfeed import parse_json_feed
from aggregator.parse.records import (
    Enclosure,
    FeedParseError,
    ParsedEntry,
    ParsedFeed,
    storable_feed,
)
from aggregator.parse.sniff import ENTITY_NOTE, PreparedXML, is_json, prepare_xml, trim_start
from aggregator.parse.text import text_of
from aggregator.parse.xmlfeed import (
    bozo_warnings,
    no_feed_error,
    run_feedparser,
    xml_entry,
    xml_feed,
)

__all__ = [
    "ENTITY_NOTE",
    "Enclosure",
    "FeedParseError",
    "ParsedEntry",
    "ParsedFeed",
    "parse_feed",
    "text_of",
]


def parse_feed(data: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched body; ``url`` is where it came from (base of relative links)."""
    if not trim_start(data).rstrip():
        raise FeedParseError("empty body", hint="the server answered with no content")
    if is_json(data):
        return storable_feed(parse_json_feed(data, url=url, content_type=content_type))
    return storable_feed(_parse_xml_feed(data, url=url, content_type=content_type))


#: Well-formed RSS 0.9x/2.0 and Atom 1.0 skip feedparser (see :mod:`aggregator.parse.fast`).
#: Set to False, or start with AGGREGATOR_FEEDPARSER_ONLY=1, to send every XML feed through it.
FAST_PATH = os.environ.get("AGGREGATOR_FEEDPARSER_ONLY", "").strip().lower() not in {"1", "true"}


def _parse_xml_feed(data: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    prepared = prepare_xml(data, content_type)
    result = _fast_result(prepared, url) or run_feedparser(prepared, url)
    entries = tuple(xml_entry(e, url, result) for e in result.get("entries", ()))
    if not result.get("version") and not entries:
        raise no_feed_error(data, content_type, prepared.root)
    warnings = prepared.warnings + bozo_warnings(result, len(entries))
    return xml_feed(result, url, entries, warnings)


def _fast_result(prepared: PreparedXML, url: str) -> Any:
    """feedparser's result computed by the fast path, or None when feedparser must run."""
    return fastparse.feedparser_result(prepared.data, url) if FAST_PATH else None
