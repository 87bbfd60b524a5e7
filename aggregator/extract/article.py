"""Article extraction: the story's text and metadata out of a fetched HTML page.

:func:`extract_article` is pure (HTML in, :class:`Extracted` out) and wraps
trafilatura with the settings measured on the Zyte article-extraction benchmark
(``python -m benchmarks.bench_extract``, settings chosen on a tune half, checked on
a held-out half): comments excluded (a newsroom alert quoting a reader comment is
worse than one missing a sentence), trafilatura's ``fast`` mode and
``favor_recall``, which gave ~1.6x the pages per CPU-second of the previous
settings (comments off, ``favor_precision``) at a held-out F1 of 0.966 against
0.968 before and 0.947 for trafilatura's defaults.  The metadata comes from our own
pass over trafilatura's metadata functions (the same fields, without the categories,
tags and licence we never store), and scripts, styles and comments are dropped
before trafilatura walks the tree.  trafilatura is always handed the HTML we
fetched; it never downloads anything.  The worker processes it runs in are
``extract.pool``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as _pkg_version
from typing import TYPE_CHECKING, Any

import lxml.html

from aggregator.exceptions import ExtractError
from aggregator.extract.language import detect_language
from aggregator.parse.discover import absolute_http_url, document_base
from aggregator.parse.records import storable

if TYPE_CHECKING:
    from trafilatura.settings import Document

__all__ = [
    "EXTRACTOR_VERSION",
    "MIN_TEXT_CHARS",
    "PREVIOUS_SETTINGS",
    "SETTINGS",
    "TRAFILATURA_OPTIONS",
    "ExtractSettings",
    "Extracted",
    "canonical_url",
    "extract_article",
    "parse_date",
    "warm_extractor",
    "warm_language",
]

# trafilatura (and its dependencies) cost ~80 MB per process: imported on the first
# extraction only, so worker processes that only parse feeds stay small.
EXTRACTOR_VERSION = f"trafilatura-{_pkg_version('trafilatura')}"

#: Below this the page gave us less than a feed summary: fall back to the feed.
MIN_TEXT_CHARS = 150


@dataclass(frozen=True)
class ExtractSettings:
    """How a page is extracted; the benchmark and scripts/compare_extract.py run several."""

    #: keyword arguments of trafilatura.bare_extraction
    trafilatura: Mapping[str, Any] = field(default_factory=dict)
    #: htmldate's extensive search (free-text date patterns, dateparser).  Kept on: off,
    #: 2 of the 181 Zyte pages lost their date and 1 its time, for ~3% of the CPU time
    extensive_date_search: bool = True
    #: metadata by our own pass over trafilatura's metadata functions, which skips the
    #: categories, tags and licence we never store (~30% of trafilatura's metadata cost)
    own_metadata: bool = True
    #: drop <script>/<style>/<svg>/<noscript>/<template> and HTML comments (JSON-LD kept)
    #: after the metadata pass, before trafilatura's XPath pruning walks the tree
    strip_inert: bool = True


#: Measured on the Zyte corpus (benchmarks/bench_extract.py; tune/held-out halves, chosen
#: on the tune half): comments excluded, trafilatura's fast mode (no readability/justext
#: comparison) and favor_recall, which also skips the balanced mode's escalation check
#: (a whole-page html2txt on every short result).  fast with favor_precision lost recall
#: (tune F1 below the defaults'); fast + favor_recall has the best tune F1 of the fast
#: variants.  With our metadata pass and _strip_inert: ~1.6x the pages per CPU-second
#: of PREVIOUS_SETTINGS, the same metadata, and 63 of 181 texts changed.
SETTINGS = ExtractSettings(
    trafilatura={"include_comments": False, "fast": True, "favor_recall": True}
)

#: What extract_article did before issue 17.3 (kept for the benchmark and the comparison).
PREVIOUS_SETTINGS = ExtractSettings(
    trafilatura={"include_comments": False, "favor_precision": True},
    own_metadata=False,
    strip_inert=False,
)

#: The shipped trafilatura options (public name kept).
TRAFILATURA_OPTIONS: Mapping[str, Any] = SETTINGS.trafilatura


@dataclass(frozen=True)
class Extracted:
    """What one page says: text (paragraphs separated by blank lines) and metadata."""

    text: str
    title: str | None
    author: str | None
    published: datetime | None  # UTC
    canonical_url: str | None
    description: str | None
    sitename: str | None
    language: str | None  # ISO 639-1, detected from the text
    extractor_version: str


def extract_article(html: bytes | str, url: str, settings: ExtractSettings = SETTINGS) -> Extracted:
    """Main text and metadata of the article page `html` fetched from `url`.

    Raises ExtractError when the page yields less than MIN_TEXT_CHARS of text:
    the caller then keeps the feed's own content and records why.
    """
    tree = _load(html, url)
    canonical = canonical_url(tree, url)
    meta = _metadata(tree, url, settings) if settings.own_metadata else None
    if settings.strip_inert:
        _strip_inert(tree)
    document = _run_trafilatura(tree, url, settings, with_metadata=meta is None)
    meta = meta or document
    text = storable(_paragraphs(document.text or "")) or ""
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractError(f"extraction found only {len(text)} characters of text in {url}")
    return Extracted(
        text=text,
        title=_clean(meta.title),
        author=_clean(meta.author),
        published=parse_date(meta.date),
        canonical_url=storable(canonical),
        description=_clean(meta.description),
        sitename=_clean(meta.sitename),
        language=detect_language(text),
        extractor_version=EXTRACTOR_VERSION,
    )


def _load(html: bytes | str, url: str) -> lxml.html.HtmlElement:
    """Parse once with trafilatura's loader (charset detection included)."""
    from trafilatura.utils import load_html

    try:
        tree = load_html(html)
    except Exception as e:  # lxml/charset errors vary; all mean "not HTML"
        raise ExtractError(f"page at {url} is not parseable HTML: {e}") from e
    if tree is None:
        raise ExtractError(f"page at {url} is not HTML")
    return tree


def _run_trafilatura(
    tree: lxml.html.HtmlElement, url: str, settings: ExtractSettings, *, with_metadata: bool
) -> Document:
    """trafilatura on our tree (it copies it), with dates kept to the minute."""
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=with_metadata,
            date_extraction_params=_date_params(settings.extensive_date_search),
            **settings.trafilatura,
        )
    except Exception as e:  # third-party parser on hostile input
        raise ExtractError(f"extraction failed on {url}: {e!r}") from e
    if not isinstance(document, Document):
        raise ExtractError(f"extraction found no article text in {url}")
    return document


def _date_params(extensive: bool) -> dict[str, Any]:
    """htmldate settings: the original publication date, with time and offset."""
    return {
        "original_date": True,
        "extensive_search": extensive,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
        "max_date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _metadata(tree: lxml.html.HtmlElement, url: str, settings: ExtractSettings) -> Document:
    """trafilatura.metadata.extract_metadata's steps for the fields we store, in its order.

    Same results for title, author, date, description and sitename; categories, tags and
    the licence (which walk every link of the page) are skipped.  Runs on the whole tree,
    before _strip_inert, as JSON-LD and meta tags are its inputs.
    """
    from htmldate import find_date
    from trafilatura import metadata as tm

    try:
        meta = tm.examine_meta(tree)
        if meta.author and " " not in meta.author:
            meta.author = None
        try:
            meta = tm.extract_meta_json(tree, meta)
        except Exception:  # trafilatura's own guard: bugs in json_metadata
            pass
        meta.title = meta.title or tm.extract_title(tree)
        meta.author = meta.author or tm.extract_author(tree)
        meta.url = meta.url or tm.extract_url(tree, url)
        meta.date = find_date(
            tree, **_date_params(settings.extensive_date_search), url=meta.url or None
        )
        meta.sitename = meta.sitename or tm.extract_sitename(tree)
        if meta.sitename:
            meta.sitename = meta.sitename.lstrip("@")
            if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
                meta.sitename = meta.sitename.title()
        elif meta.url and (found := tm.META_URL.match(meta.url)):
            meta.sitename = found[1]
        meta.clean_and_trim()
    except Exception as e:  # third-party parser on hostile input
        raise ExtractError(f"metadata extraction failed on {url}: {e!r}") from e
    return meta


#: Elements no extractor reads text from; dropping them first shrinks every later XPath walk.
_INERT = ("script", "style", "svg", "noscript", "template")


def _strip_inert(tree: lxml.html.HtmlElement) -> None:
    """Drop inert elements and HTML comments in one pass (JSON-LD is kept)."""
    from lxml import etree

    doomed = [
        el
        for el in tree.iter(*_INERT, etree.Comment)
        if not (el.tag == "script" and (el.get("type") or "").lower() == "application/ld+json")
    ]
    for el in doomed:
        parent = el.getparent()
        if parent is not None:
            el.drop_tree()


def parse_date(value: str | None) -> datetime | None:
    """An htmldate string as an aware UTC datetime; naive values are taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def canonical_url(tree: lxml.html.HtmlElement, page_url: str) -> str | None:
    """The page's own idea of its URL: <link rel=canonical>, else og:url; absolute http(s)."""
    base = document_base(tree, page_url)
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            return absolute_http_url(link.get("href"), base)
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "og:url":
            return absolute_http_url(meta.get("content"), base)
    return None


def _paragraphs(text: str) -> str:
    """trafilatura puts one block per line; we separate paragraphs by blank lines."""
    return "\n\n".join(line.strip() for line in text.splitlines() if line.strip())


def _clean(value: str | None) -> str | None:
    """Blank metadata is missing metadata; what a database refuses is dropped."""
    stripped = storable(value.strip()) if value else ""
    return stripped or None


def warm_language() -> None:
    """Load the language model now (a worker's start-up, off the first page's clock)."""
    detect_language("warm up the language model with a sentence of plain prose")


_WARM_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article><p>"
    + "A paragraph of plain prose that loads the extractor. " * 8
    + "</p></article></body></html>"
)


def warm_extractor() -> None:
    """Also import trafilatura and run it once (~1 s, ~80 MB), which extract_article
    would otherwise do lazily on the worker's first page, in the middle of a poll."""
    warm_language()
    try:
        extract_article(_WARM_PAGE, "https://warm-up.invalid/")
    except ExtractError:
        pass
