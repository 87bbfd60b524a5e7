"""Find a site's feeds from one of its HTML pages, and tell HTML from feeds cheaply.

Editors paste homepage or article URLs, not feed URLs; the page's
``<link rel="alternate">`` tags say where the feeds are. Fetches of a feed
URL also come back as HTML surprisingly often (a moved feed redirected to the
homepage, a bot challenge), and the poller must recognise that before handing
the body to the feed parser.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

#: MIME types of feed documents (RSS 1.0 is RDF).
FEED_TYPES = {
    "application/rss+xml": 0,
    "application/atom+xml": 0,
    "application/rdf+xml": 0,
    "application/feed+json": 1,
}
#: Types also used for things that are not feeds (WordPress's REST API is
#: application/json): accepted only when the link itself says "feed".
_AMBIGUOUS_TYPES = {"application/json", "application/xml", "text/xml"}
_FEED_HINT = re.compile(r"feed|rss|atom", re.IGNORECASE)
_COMMENTS_HINT = re.compile(r"comment|commentaire|kommentar|comentario|reaction", re.IGNORECASE)

_SNIFF_BYTES = 2048
_SKIP_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|\s)*", re.DOTALL)
_FIRST_TAG = re.compile(rb"<(!doctype\s+html|[a-z][\w:.-]*)", re.IGNORECASE)
_HTML_TAGS = {
    b"html",
    b"head",
    b"body",
    b"script",
    b"meta",
    b"title",
    b"div",
    b"iframe",
    b"noscript",
    b"link",
    b"style",
    b"p",
    b"span",
    b"a",
    b"table",
    b"form",
    b"center",
    b"br",
    b"h1",
    b"img",
    b"pre",
    b"main",
    b"header",
    b"section",
}


def looks_like_html(data: bytes) -> bool:
    """True when a body is an HTML page (site page, error or bot-challenge page), not a feed.

    Only the first couple of kilobytes are looked at: the first real tag decides
    (``<rss>``, ``<feed>``, ``<rdf:RDF>`` or JSON are feeds; ``<html>``,
    ``<!DOCTYPE html>``, ``<script>`` ... are pages).
    """
    head = _sniff_prefix(data)
    start = _SKIP_PROLOG.match(head)
    m = _FIRST_TAG.match(head, start.end() if start else 0)
    if m is None:
        return False
    tag = m.group(1).lower()
    return tag.startswith(b"!doctype") or tag in _HTML_TAGS


def _sniff_prefix(data: bytes) -> bytes:
    """The start of the body as ASCII-compatible bytes (UTF-16 decoded, BOM dropped)."""
    head = data[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    return head.lstrip(b"\xef\xbb\xbf")


#: Bytes: lxml honours the page's own <meta charset>. Text: already decoded, and
#: lxml refuses str input that carries an encoding declaration, so it goes in as UTF-8.
_BYTES_PARSER = lxml.html.HTMLParser(remove_comments=True, no_network=True)
_TEXT_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, no_network=True)


def parse_html(html: bytes | str) -> lxml.html.HtmlElement | None:
    """An lxml tree of the page, or None when there is nothing to parse."""
    if not html.strip():
        return None
    text = isinstance(html, str)
    data = html.encode("utf-8", errors="surrogatepass") if isinstance(html, str) else html
    try:
        return lxml.html.document_fromstring(data, parser=_TEXT_PARSER if text else _BYTES_PARSER)
    except (etree.ParserError, ValueError, UnicodeError):
        return None


def document_base(tree: lxml.html.HtmlElement, page_url: str) -> str:
    """The URL relative links resolve against: ``<base href>`` if present, else the page's."""
    for href in tree.xpath("//head/base/@href | //base/@href")[:1]:
        return urljoin(page_url, str(href).strip())
    return page_url


def absolute_http_url(href: str | None, base: str) -> str | None:
    """`href` resolved against `base`, fragment dropped; None unless http(s)."""
    if not href or not href.strip():
        return None
    url = urljoin(base, href.strip()).split("#", 1)[0]
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def discover_feeds(html: bytes | str, base_url: str) -> list[str]:
    """Feed URLs a page advertises, best first: site feeds before comment feeds,
    RSS/Atom before JSON Feed, otherwise in page order.
    """
    tree = parse_html(html)
    if tree is None:
        return []
    base = document_base(tree, base_url)
    found: dict[str, tuple[int, int, int]] = {}
    for position, link in enumerate(tree.iter("link")):
        rank = _feed_rank(link)
        url = absolute_http_url(link.get("href"), base) if rank is not None else None
        if rank is not None and url is not None:
            key = (*rank, position)
            found[url] = min(found.get(url, key), key)  # a URL listed twice keeps its best
    return sorted(found, key=found.__getitem__)


def _feed_rank(link: lxml.html.HtmlElement) -> tuple[int, int] | None:
    """(is a comments feed, type rank) for a feed link, None for other links."""
    rel = set((link.get("rel") or "").lower().split())
    kind = (link.get("type") or "").split(";")[0].strip().lower()
    hints = f"{link.get('title') or ''} {link.get('href') or ''}"
    if "alternate" in rel and kind in FEED_TYPES:
        type_rank = FEED_TYPES[kind]
    elif "alternate" in rel and kind in _AMBIGUOUS_TYPES and _FEED_HINT.search(hints):
        type_rank = 1
    elif "feed" in rel and (not kind or kind in FEED_TYPES or kind in _AMBIGUOUS_TYPES):
        type_rank = FEED_TYPES.get(kind, 2)
    else:
        return None
    return int(bool(_COMMENTS_HINT.search(hints))), type_rank
