"""feedparser's element handling for RSS 0.9x/2.0 and Atom 1.0, on an lxml tree.

One walk serves both formats (``atom`` switches the few places they differ, as in
feedparser); the tables at the end say which handler each element name gets in a feed,
an entry, a nested unknown element or a media group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import feedparser.datetimes
import feedparser.html
import feedparser.mixin
import feedparser.sanitizer
import feedparser.urls
from feedparser.util import FeedParserDict

from aggregator.parse.fast.sanitize import _RAW, _TAG_LIKE, _cleaner, _sgml_text, _Shim
from aggregator.parse.fast.tree import (
    _AUTHOR_PARTS,
    _COPIED_TO_SUMMARY,
    _HANDLED,
    _HARMLESS,
    _HTML_TYPES,
    _IMAGE_PARTS,
    _ITUNES,
    _LICENSES,
    _MEDIA_LEAVES,
    _MIXIN,
    _MRSS_SCHEME,
    _NAMESPACES,
    _OWNER_PARTS,
    _PERSON_PARTS,
    _QUERY_FIX,
    _RESERVED_ENTRY,
    _RESERVED_FEED,
    _STRUCTURE_KEYS,
    _TEXT_TYPES,
    _TEXTINPUT_PARTS,
    _fix,
    _leaf,
    _Names,
    _own_text,
    _parse_date,
    _stable_base,
    _Unsupported,
    _urljoin,
)

# --------------------------------------------------------------------------- the walk

_Handler = Callable[["_Walk", Any, str, Any, int, bool], None]


class _Walk:
    """feedparser's element handling for the supported subset, on an lxml tree.

    Handlers take (element, feedparser name, context dict, depth, inside an entry).  The state
    mirrors feedparser's where it leaks between elements: ``title_depth`` ("a title was
    already seen here") and ``has_content`` (which is only reset when an entry ends).
    """

    def __init__(self, names: _Names, base: str, atom: bool) -> None:
        self.names = names
        self.base = base
        self.atom = atom
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.title_depth = -1
        self.has_content = False

    # ------------------------------------------------------------------ structure

    def root(self, root: Any) -> str:
        """Walk the document; returns feedparser's version string."""
        self.enter(root)
        attrs = self.attrs(root)
        lang = attrs.get("xml:lang", attrs.get("lang"))
        if lang:
            self.feed["language"] = lang.replace("_", "-")
        if self.atom:
            self.children(root, self.feed, 2, entry=False)
            return "atom10"
        self.channel(root)
        return _rss_version(attrs.get("version", ""))

    def channel(self, root: Any) -> None:
        if len(root) != 1 or self.names.name(root[0]) != "channel":
            raise _Unsupported
        if self.attrs(root[0]).keys() - _STRUCTURE_KEYS:
            raise _Unsupported
        self.enter(root[0])
        self.children(root[0], self.feed, 3, entry=False)

    def children(self, parent: Any, ctx: Any, depth: int, *, entry: bool) -> None:
        self.dispatch(parent, _ENTRY_TABLE if entry else _FEED_TABLE, ctx, depth, entry)

    def dispatch(
        self, parent: Any, table: Mapping[str, _Handler], ctx: Any, depth: int, entry: bool
    ) -> None:
        """Each child to its handler in `table`; an element feedparser handles elsewhere
        (not in this table) is a case the fast path does not model."""
        for el in parent:
            name = self.names.name(el)
            handler = table.get(name)
            if handler is None:
                if name in _HANDLED:
                    raise _Unsupported
                handler = _Walk.unknown
            self.visit(handler, el, name, ctx, depth, entry)

    def visit(
        self, handler: _Handler, el: Any, name: str, ctx: Any, depth: int, entry: bool
    ) -> None:
        """Run a handler with the element's own base URI in effect, as feedparser does."""
        base = self.enter(el)
        handler(self, el, name, ctx, depth, entry)
        self.base = base

    def enter(self, el: Any) -> str:
        """Apply the element's xml:base (or base) attribute; returns the base to restore."""
        saved = self.base
        if (keys := el.keys()) and any(key[-4:].lower() == "base" for key in keys):
            attrs = self.attrs(el)
            declared = attrs.get("xml:base", attrs.get("base")) or saved
            self.base = _stable_base(
                feedparser.urls.make_safe_absolute_uri(saved, declared) or saved
            )
        return saved

    def item(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        if name != ("entry" if self.atom else "item") or self.attrs(el).keys() - _STRUCTURE_KEYS:
            raise _Unsupported
        entry_ctx: dict[str, Any] = {}
        self.entries.append(entry_ctx)
        self.title_depth = -1
        self.children(el, entry_ctx, depth + 1, entry=True)
        self.has_content = False

    def unknown(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """No feedparser handler: stored under its own name, harmless unless that name is read."""
        key = FeedParserDict.keymap.get(name, name)
        key = key[0] if isinstance(key, list) else key
        if key in (_RESERVED_ENTRY if entry else _RESERVED_FEED):
            raise _Unsupported
        self.dispatch(el, _NESTED_TABLE if entry else {}, ctx, depth + 1, entry)

    # ------------------------------------------------------------------ values

    def attrs(self, el: Any) -> dict[str, str]:
        """Attributes keyed the way feedparser's strict parser keys them."""
        found: dict[str, str] = {}
        for raw_key, value in el.items():
            for key in self._attr_keys(el, raw_key):
                if key in found:
                    raise _Unsupported
                found[key] = value.lower() if key in ("rel", "type") else value
        return found

    def _attr_keys(self, el: Any, raw_key: str) -> set[str]:
        if not raw_key.startswith("{"):
            return {raw_key.lower()}
        ns, _, local = raw_key[1:].rpartition("}")
        std = _NAMESPACES.get(ns.lower(), "")
        first = f"{std}:{local}" if std else local
        return {first.lower(), f"{self.names.attr_prefix(el, ns)}:{local}".lower()}

    def text(self, el: Any, *, relative: bool = False) -> str:
        """A plain value the way feedparser's ``pop`` finishes it."""
        output = _leaf(el).strip()
        if relative and output:
            output = self.resolve(output)
        return _fix(output)

    def resolve(self, uri: str) -> str:
        return _urljoin(self.base, uri)

    def construct(self, el: Any, default: str) -> tuple[str, str]:
        """(value, MIME type) of a text construct: title, summary, content."""
        attrs = self.attrs(el)
        if "mode" in attrs or "src" in attrs:
            raise _Unsupported
        mime = _MIXIN.map_content_type(attrs.get("type", default))
        if mime not in _TEXT_TYPES:
            raise _Unsupported
        raw = _leaf(el).strip()
        if not self.atom and mime == "text/plain" and _MIXIN.looks_like_html(raw):
            mime = "text/html"
        return (self.sanitise(raw) if mime == "text/html" else _fix(raw)), mime

    def sanitise(self, raw: str) -> str:
        """Safe HTML; byte-identical to feedparser's when there is no markup at all."""
        if not _TAG_LIKE.search(raw):
            return _fix(_sgml_text(raw))
        return _cleaner(self.base)(_fix(raw))

    # ------------------------------------------------------------------ element handlers

    def title(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        self._title(el, ctx, depth, keep_depth=name == "media_title")

    def _title(self, el: Any, ctx: Any, depth: int, *, keep_depth: bool) -> None:
        """First non-empty title wins until an entry, image or text input starts."""
        value, mime = self.construct(el, "text/plain")
        if ctx is not None and not -1 < self.title_depth <= depth:
            ctx["title"] = value
            ctx["title_detail"] = {"type": mime, "value": value}
        if value and not keep_depth:
            self.title_depth = depth

    def link(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        attrs = self.attrs(el)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        attrs = _MIXIN._enforce_href(attrs)
        link = dict(attrs)
        ctx.setdefault("links", []).append(link)
        if "href" not in attrs:
            self._link_text(el, ctx, link, entry)
            return
        _leaf(el)
        link["href"] = self.resolve(attrs["href"])
        if attrs["rel"] == "alternate" and _MIXIN.map_content_type(attrs["type"]) in _HTML_TYPES:
            ctx["link"] = link["href"]

    def _link_text(self, el: Any, ctx: Any, link: Any, entry: bool) -> None:
        value = self.text(el, relative=True)
        value = _QUERY_FIX.sub(r"&\g<1>", value.replace("&amp;", "&") if entry else value)
        ctx["link"] = value
        if value or not entry:
            link["href"] = value

    def guid(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        is_link = self.attrs(el).get("ispermalink", "true") == "true"
        value = self.text(el, relative=is_link)
        ctx["id"] = value
        if is_link:
            ctx.setdefault("link", value)

    def published(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        ctx["published_parsed"] = _parse_date(self.text(el))

    def updated(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        ctx["updated_parsed"] = _parse_date(self.text(el))

    def language(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        ctx["language"] = self.text(el)

    def ttl(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """No handler in feedparser: with attributes it stores them instead of the text."""
        attrs = self.attrs(el)
        ctx["ttl"] = attrs if attrs else self.text(el)
        _leaf(el)

    def author(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        shim = _Shim(ctx)
        ctx.setdefault("authors", []).append({})
        for child in el:
            child_name = self.names.name(child)
            key = _AUTHOR_PARTS.get(child_name)
            if key is None:
                self._author_extra(child, child_name, ctx, depth + 1, entry)
                continue
            value = self.text(child, relative=True) if key == "href" else _leaf(child).strip()
            shim._save_author(key, value)
        ctx["author"] = _fix(_own_text(el).strip())
        shim._sync_author_detail()

    def _author_extra(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """An element without handler in an author (Blogger's gd:image): one with attributes
        is not pushed, so its text would become part of the author's own text."""
        if name == "title":
            self._title(el, ctx, depth, keep_depth=False)
        elif name in _HANDLED or len(el) or (el.text and len(el.attrib)):
            raise _Unsupported
        else:
            self.unknown(el, name, ctx, depth, entry)

    def description(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """RSS description (HTML by default); at feed level it is the subtitle."""
        if "summary" in ctx and not self.has_content:
            self._content(el, ctx, entry, "text/plain")
        elif entry:
            self._store_summary(ctx, *self.construct(el, "text/html"))
        else:
            _leaf(el)

    def summary(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """Atom summary / itunes:summary (plain text by default)."""
        if "summary" in ctx and not self.has_content:
            self._content(el, ctx, entry, "text/plain")
        elif entry:
            self._store_summary(ctx, *self.construct(el, "text/plain"))
        else:
            ctx["summary"] = _leaf(el)

    @staticmethod
    def _store_summary(ctx: Any, value: str, mime: str) -> None:
        ctx["summary"] = value
        ctx["summary_detail"] = {"type": mime, "value": value}

    def encoded(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        self._content(el, ctx, entry, "text/html")

    def content(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        self._content(el, ctx, entry, "text/plain")

    def _content(self, el: Any, ctx: Any, entry: bool, default: str) -> None:
        self.has_content = True
        if not entry:
            mime = _MIXIN.map_content_type(self.attrs(el).get("type", default))
            _leaf(el)
            if mime in _COPIED_TO_SUMMARY:
                ctx.setdefault("summary", "")
            return
        value, mime = self.construct(el, default)
        raw = _leaf(el).strip()
        ctx.setdefault("content", []).append({"type": mime, "value": value, _RAW: (raw, self.base)})
        ctx.setdefault("summary", value)

    def category(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        attrs = self.attrs(el)
        if name == "media_category":
            attrs.setdefault("scheme", _MRSS_SCHEME)
        scheme = attrs.get("scheme", attrs.get("domain"))
        _Shim(ctx)._add_tag(attrs.get("term"), scheme, attrs.get("label"))
        _end_category(ctx, self.text(el))

    def itunes_category(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        _Shim(ctx)._add_tag(self.attrs(el).get("text"), _ITUNES, None)
        for child in el:
            if self.names.name(child) != "itunes_category":
                raise _Unsupported
            self.itunes_category(child, name, ctx, depth + 1, entry)
        _end_category(ctx, _fix(_own_text(el).strip()))

    def term_list(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """itunes:keywords, media:keywords and feedparser's made-up <tags>: comma-separated."""
        if name != "tags" and self.attrs(el):
            raise _Unsupported
        scheme = _ITUNES if name == "itunes_keywords" else None
        shim = _Shim(ctx)
        for term in self.text(el).split(","):
            if term.strip():
                shim._add_tag(term.strip(), scheme, None)

    def enclosure(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        _leaf(el)
        attrs = _MIXIN._enforce_href(self.attrs(el))
        attrs["rel"] = "enclosure"
        ctx.setdefault("links", []).append(attrs)

    def image(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """The channel image: only its title matters (it counts as "a title was seen")."""
        if self.atom:
            raise _Unsupported
        ctx.setdefault("image", {})
        self._titled_block(el, depth, _IMAGE_PARTS)

    def textinput(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        if self.atom:
            raise _Unsupported
        ctx.setdefault("textinput", {})
        self._titled_block(el, depth, _TEXTINPUT_PARTS)

    def _titled_block(self, el: Any, depth: int, parts: frozenset[str]) -> None:
        self.title_depth = -1
        for child in el:
            child_name = self.names.name(child)
            if child_name == "title":
                self._title(child, None, depth + 1, keep_depth=False)
            elif child_name in parts:
                _leaf(child)
            else:
                raise _Unsupported

    def source(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """RSS <source url="...">title</source>; Atom's structured source is not supported."""
        _leaf(el)
        self.title_depth = -1

    def contributor(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        self._parts(el, _PERSON_PARTS)

    def owner(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """itunes:owner feeds the channel's author fields, which only Atom entries inherit."""
        if self.atom:
            raise _Unsupported
        self._parts(el, _OWNER_PARTS)

    def _parts(self, el: Any, parts: frozenset[str]) -> None:
        for child in el:
            if self.names.name(child) not in parts:
                raise _Unsupported
            _leaf(child)

    def media(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """media:group / media:content: their children count as if written in the entry.

        Depth matters: a nested media:title still yields to a title seen before it.
        """
        self.dispatch(el, _MEDIA_TABLE, ctx, depth + 1, entry)

    def entry_image(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        """An <image> in an item resets "a title was seen", and its title becomes the entry's;
        its links are ignored (but one with attributes may land in the channel image)."""
        self.title_depth = -1
        for child in el:
            child_name = self.names.name(child)
            if child_name == "title":
                self._title(child, ctx, depth + 1, keep_depth=False)
            elif child_name in ("url", "width", "height") or (
                child_name == "link" and not len(child.attrib)
            ):
                _leaf(child)
            else:
                raise _Unsupported

    def harmless(self, el: Any, name: str, ctx: Any, depth: int, entry: bool) -> None:
        _leaf(el)


def _end_category(ctx: Any, value: str) -> None:
    """feedparser's ``_end_category``: the text fills a term-less tag opened by attributes."""
    if not value:
        return
    tags = ctx["tags"]
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = value
    else:
        _Shim(ctx)._add_tag(value, None, None)


def _rss_version(attr: str) -> str:
    versions = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
    return versions.get(attr) or ("rss20" if attr.startswith("2.") else "rss")


def _table(groups: dict[_Handler, Iterable[str]]) -> dict[str, _Handler]:
    return {name: handler for handler, names in groups.items() for name in names}


_COMMON: dict[_Handler, Iterable[str]] = {
    _Walk.title: ("title", "dc_title"),
    _Walk.link: ("link",),
    _Walk.guid: ("guid", "id"),
    _Walk.author: ("author", "managingeditor", "dc_author", "dc_creator", "itunes_author"),
    _Walk.description: ("description", "dc_description", "media_description"),
    _Walk.summary: ("summary", "itunes_summary"),
    _Walk.encoded: ("content_encoded", "fullitem"),
    _Walk.content: ("content",),
    _Walk.category: ("category", "keywords", "dc_subject", "media_category"),
    _Walk.itunes_category: ("itunes_category",),
    _Walk.term_list: ("itunes_keywords", "media_keywords", "tags"),
    _Walk.enclosure: ("enclosure",),
    _Walk.contributor: ("contributor",),
    _Walk.media: ("media_group", "media_content"),
    _Walk.harmless: _HARMLESS,
}
_DATES: dict[_Handler, Iterable[str]] = {
    _Walk.published: ("published", "pubdate", "issued", "dcterms_issued"),
    _Walk.updated: ("updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"),
}
_ENTRY_TABLE = _table(
    _COMMON
    | _DATES
    | {
        _Walk.title: ("title", "dc_title", "media_title"),
        _Walk.harmless: _HARMLESS | _LICENSES | {"language", "dc_language"},
        _Walk.source: ("source",),
        _Walk.entry_image: ("image",),
    }
)
#: Handlers whose effect does not depend on depth (beyond the title rule), allowed inside an
#: element feedparser has no handler for, e.g. <og><title>...</title></og> in an item.
_NESTED_TABLE = _table(
    {
        _Walk.title: ("title", "dc_title"),
        _Walk.description: ("description", "dc_description"),
        _Walk.category: ("category", "keywords", "dc_subject"),
        _Walk.entry_image: ("image",),
        _Walk.harmless: _HARMLESS,
    }
)
_MEDIA_TABLE = _table(
    {
        _Walk.title: ("media_title",),
        _Walk.description: ("media_description",),
        _Walk.category: ("media_category",),
        _Walk.term_list: ("media_keywords",),
        _Walk.media: ("media_content",),
        _Walk.harmless: _MEDIA_LEAVES,
    }
)
_FEED_TABLE = _table(
    _COMMON
    | {
        _Walk.item: ("item", "entry"),
        _Walk.language: ("language", "dc_language"),
        _Walk.ttl: ("ttl",),
        _Walk.image: ("image",),
        _Walk.textinput: ("textinput",),
        _Walk.owner: ("itunes_owner",),
        _Walk.harmless: _HARMLESS
        | _LICENSES
        | {"newlocation"}
        | {n for ns in _DATES.values() for n in ns},
    }
)
