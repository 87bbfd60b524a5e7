"""OPML import and export: how feed lists move between readers and this aggregator.

Real OPML files vary: ``xmlUrl`` spelled ``xmlurl`` or ``XMLURL``, feeds with
only ``text``, folders as nested outlines, or an OPML 2.0 ``category``
attribute. Folders and categories both become tags. Files come from users, so
they are parsed with defusedxml: entity declarations (XXE, billion laughs) are
refused, never expanded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

import defusedxml
import defusedxml.ElementTree as SafeET

from aggregator.exceptions import ParseError

#: outline types that mean "a feed" when the URL is given as `url`, not `xmlUrl`.
_FEED_TYPES = {"rss", "atom", "feed", "rdf"}


@dataclass(frozen=True)
class OpmlFeed:
    """One feed of an OPML file; tags come from enclosing folders, then `category`."""

    title: str | None
    url: str
    html_url: str | None = None
    tags: tuple[str, ...] = ()
    #: what only this aggregator writes (and reads back): the feed's name and its own
    #: settings (interval "30m", extract/monitor/enabled "false"), as plain attributes
    name: str | None = None
    settings: tuple[tuple[str, str], ...] = ()


#: Per-feed settings carried as outline attributes, so export → import keeps them.
SETTINGS = ("interval", "extract", "monitor", "enabled")


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order."""
    root = _parse_xml(data)
    if _local(root.tag) != "opml":
        raise ParseError(
            f"not an OPML document: the root element is <{_local(root.tag)}>",
            hint="export the subscription list as OPML from your feed reader",
        )
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ParseError("OPML document has no <body>", hint="the file may be truncated")
    return list(_walk(body, ()))


def _parse_xml(data: bytes) -> ET.Element:
    """Parse with entity expansion refused; every failure becomes a ParseError."""
    try:
        root: ET.Element = SafeET.fromstring(data)
    except defusedxml.DefusedXmlException as e:
        raise ParseError(
            f"OPML refused: it declares XML entities or external references ({e})",
            hint="OPML files never need entities; this one may be hostile",
        ) from e
    except ET.ParseError as e:
        raise ParseError(f"OPML is not well-formed XML: {e}") from e
    return root


def _walk(parent: ET.Element, folders: tuple[str, ...]) -> Iterator[OpmlFeed]:
    """Feeds under `parent`; an outline without a feed URL is a folder naming a tag."""
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        attrs = _lowered(outline)
        url = _feed_url(attrs)
        if url:
            yield _feed(attrs, url, folders)
        else:
            name = attrs.get("title") or attrs.get("text")
            yield from _walk(outline, (*folders, name) if name else folders)


def _feed(attrs: dict[str, str], url: str, folders: tuple[str, ...]) -> OpmlFeed:
    name = attrs.get("name") or None
    # a name we wrote stands in `text` when the feed has no title of its own
    title = attrs.get("title") or (
        None if name and attrs.get("text") == name else attrs.get("text")
    )
    tags = _unique((*folders, *_categories(attrs.get("category", ""))))
    return OpmlFeed(
        title=None if title == url else title,
        url=url,
        html_url=attrs.get("htmlurl") or None,
        tags=tags,
        name=name,
        settings=tuple((k, attrs[k]) for k in SETTINGS if attrs.get(k)),
    )


def _lowered(outline: ET.Element) -> dict[str, str]:
    """Attributes by lower-cased local name, values stripped: xmlUrl == xmlurl == XMLURL."""
    return {_local(k).lower(): v.strip() for k, v in outline.attrib.items()}


def _feed_url(attrs: dict[str, str]) -> str | None:
    if attrs.get("xmlurl"):
        return attrs["xmlurl"]
    if attrs.get("type", "").lower() in _FEED_TYPES:
        return attrs.get("url") or None
    return None


def _categories(value: str) -> list[str]:
    """OPML 2.0 category: comma-separated, slash-delimited paths ("/News/Tech")."""
    return [c.strip().strip("/").strip() for c in value.split(",")]


def _unique(tags: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in tags if t))


def _local(tag: str) -> str:
    """Element or attribute name without its {namespace}."""
    return tag.rsplit("}", 1)[-1]


# ---------------------------------------------------------------------------
# Export


def render_opml(feeds: Sequence[OpmlFeed], title: str = "aggregator feeds") -> str:
    """OPML 2.0: feeds nested in a folder per first tag, all tags in `category`.

    Consecutive feeds sharing a first tag share a folder; feed order is kept,
    so parse_opml(render_opml(feeds)) == feeds (tags must not contain commas).
    """
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for folder, group in groupby(feeds, key=lambda f: f.tags[0] if f.tags else None):
        parent = (
            body if folder is None else ET.SubElement(body, "outline", text=folder, title=folder)
        )
        for feed in group:
            parent.append(_outline(feed))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _outline(feed: OpmlFeed) -> ET.Element:
    attrs = {"type": "rss", "text": feed.title or feed.name or feed.url, "xmlUrl": feed.url}
    if feed.title:
        attrs["title"] = feed.title
    if feed.html_url:
        attrs["htmlUrl"] = feed.html_url
    if feed.tags:
        attrs["category"] = ",".join(feed.tags)
    if feed.name:
        attrs["name"] = feed.name
    attrs.update(feed.settings)
    return ET.Element("outline", attrs)
