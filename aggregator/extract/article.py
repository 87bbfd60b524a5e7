"""Article extraction: the story's text and metadata out of a fetched HTML page.

:func:`extract_article` is pure (HTML in, :class:`Extracted` out) and wraps
trafilatura with the settings measured best on the Zyte article-extraction
benchmark (``python -m benchmarks.bench_extract``): comments excluded and
``favor_precision`` on, which raised shingle F1 from 0.953 (defaults) to 0.964.
A newsroom alert quoting a cookie banner or a reader comment is worse than one
missing a sentence.  trafilatura is always handed the HTML we fetched; it never
downloads anything.  The worker processes it runs in are ``extract.pool``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "TRAFILATURA_OPTIONS",
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

#: Measured on the Zyte corpus (see module docstring and benchmarks/bench_extract.py).
TRAFILATURA_OPTIONS: dict[str, Any] = {"include_comments": False, "favor_precision": True}


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


def extract_article(html: bytes | str, url: str) -> Extracted:
    """Main text and metadata of the article page `html` fetched from `url`.

    Raises ExtractError when the page yields less than MIN_TEXT_CHARS of text:
    the caller then keeps the feed's own content and records why.
    """
    tree = _load(html, url)
    document = _run_trafilatura(tree, url)
    text = storable(_paragraphs(document.text or "")) or ""
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractError(f"extraction found only {len(text)} characters of text in {url}")
    return Extracted(
        text=text,
        title=_clean(document.title),
        author=_clean(document.author),
        published=parse_date(document.date),
        canonical_url=storable(canonical_url(tree, url)),
        description=_clean(document.description),
        sitename=_clean(document.sitename),
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


def _run_trafilatura(tree: lxml.html.HtmlElement, url: str) -> Document:
    """trafilatura on our tree (it copies it), with dates kept to the minute."""
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            date_extraction_params=_date_params(),
            **TRAFILATURA_OPTIONS,
        )
    except Exception as e:  # third-party parser on hostile input
        raise ExtractError(f"extraction failed on {url}: {e!r}") from e
    if not isinstance(document, Document):
        raise ExtractError(f"extraction found no article text in {url}")
    return document


def _date_params() -> dict[str, Any]:
    """htmldate settings: the original publication date, with time and offset."""
    return {
        "original_date": True,
        "extensive_search": True,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
        "max_date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


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
