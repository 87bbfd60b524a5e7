"""What the fast path's RSS and Atom handling share: feedparser's vocabulary and the tree.

The constants are feedparser's (``feedparser.mixin``) names, namespaces and the keys
``parse.xmlfeed`` reads; the helpers parse with lxml (no entity, no DTD, no network) and
read element names and values the way feedparser's strict parser does.
"""

from __future__ import annotations

import functools
import re
import threading
import xml.parsers.expat
from collections.abc import Callable
from typing import Any

import feedparser.datetimes
import feedparser.html
import feedparser.mixin
import feedparser.sanitizer
import feedparser.urls
from lxml import etree

from aggregator.urls import joiner

_MIXIN: Any = feedparser.mixin._FeedParserMixin
_ATOM_ROOT = "{http://www.w3.org/2005/Atom}feed"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
#: Namespace URIs that make feedparser call a document RSS 1.0 / 0.90 whatever its root.
_VERSION_URIS = frozenset({"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"})
_NAMESPACES: dict[str, str] = {uri.lower(): prefix for uri, prefix in _MIXIN.namespaces.items()}
#: Every element name feedparser has a ``_start_``/``_end_`` handler for.
_HANDLED = frozenset(
    name.split("_", 2)[2] for name in dir(_MIXIN) if name.startswith(("_start_", "_end_"))
)
_HTML_TYPES = frozenset(_MIXIN.html_types)
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_COPIED_TO_SUMMARY = frozenset({"text/plain"}) | _HTML_TYPES
_ITUNES = "http://www.itunes.com/"
_MRSS_SCHEME = "http://search.yahoo.com/mrss/category_schema"
_QUERY_FIX = re.compile("&([A-Za-z0-9_]+);")
_CP1252: dict[int, str] = feedparser.html._cp1252
_C1 = re.compile("[\x80-\x9f]")
#: feedparser's own functions, memoised: pure, and a feed repeats its values (guid = link,
#: the same dates and links poll after poll).
_parse_date: Callable[[str], Any] = functools.lru_cache(maxsize=4096)(
    feedparser.datetimes._parse_date
)
_urljoin: Callable[[str, str], str] = joiner(
    functools.lru_cache(maxsize=4096)(feedparser.urls._urljoin)
)
_safe_uri: Callable[[str, str], str] = functools.lru_cache(maxsize=4096)(
    feedparser.urls.make_safe_absolute_uri
)

#: Keys of feedparser's result that ``parse.xmlfeed`` reads (or that steer feedparser's own logic):
#: an element without a feedparser handler that would be stored under one of them is refused.
_RESERVED_ENTRY = frozenset(
    {
        "id", "link", "links", "title", "title_detail", "author", "author_detail", "authors",
        "published_parsed", "updated_parsed", "summary", "summary_detail", "content", "tags",
        "image", "textinput", "source", "guidislink",
    }
)  # fmt: skip
_RESERVED_FEED = _RESERVED_ENTRY | {"language", "ttl"}
_LANG_KEYS = frozenset({"xml:lang", "lang"})
#: Attributes a channel or entry may carry (feedparser reads others, e.g. rdf:about, href).
_STRUCTURE_KEYS = _LANG_KEYS | {"xml:base", "base"}
_AUTHOR_PARTS = {
    "name": "name", "itunes_name": "name", "email": "email", "itunes_email": "email",
    "uri": "href", "url": "href", "homepage": "href",
}  # fmt: skip
_PERSON_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
_OWNER_PARTS = frozenset({"name", "email", "itunes_name", "itunes_email"})
_IMAGE_PARTS = frozenset({"url", "link", "width", "height", "description"})
_TEXTINPUT_PARTS = frozenset({"description", "name", "link"})
#: Elements with a feedparser handler that touches nothing ``parse.xmlfeed`` reads, provided they
#: have no child elements.
_HARMLESS = frozenset(
    {
        "generator", "cloud", "rights", "copyright", "dc_rights", "subtitle", "tagline",
        "itunes_subtitle", "info", "feedburner_browserfriendly", "webmaster", "dc_publisher",
        "created", "dcterms_created", "expirationdate", "dcterms_valid", "itunes_image",
        "itunes_link", "itunes_block", "itunes_explicit", "media_thumbnail", "media_player",
        "media_credit", "media_rating", "media_restriction", "media_license", "dc_contributor",
        "width", "height", "name", "email", "uri", "url", "homepage", "itunes_name",
        "itunes_email",
    }
)  # fmt: skip
#: Harmless as direct children only: feedparser deletes a "license" key it may not have stored
#: for a deeper element, and crashes.
_LICENSES = frozenset({"cc_license", "creativecommons_license"})
_MEDIA_LEAVES = frozenset(
    {
        "media_thumbnail", "media_player", "media_credit", "media_rating", "media_restriction",
        "media_license",
    }
)  # fmt: skip


class _Unsupported(Exception):
    """The document is not a case this module reproduces exactly: use feedparser."""


# --------------------------------------------------------------------------- XML


_LOCAL = threading.local()


def _lxml_parser() -> etree.XMLParser:
    """A hardened parser per thread (lxml parser objects must not be shared across threads)."""
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            recover=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _LOCAL.parser = parser
    return parser


def _well_formed(data: bytes) -> Any:
    """The root element, if both expat (feedparser's parser) and lxml accept the document.

    Running expat as well costs ~10 µs per item and guarantees the fast path never answers
    for a document feedparser would have found malformed (and recovered differently).
    """
    expat = xml.parsers.expat.ParserCreate(None, " ")
    try:
        expat.Parse(data, True)
        return etree.fromstring(data, _lxml_parser())
    except (xml.parsers.expat.ExpatError, etree.XMLSyntaxError, ValueError) as e:
        raise _Unsupported from e


def _is_atom(root: Any) -> bool:
    """True for Atom 1.0, False for RSS 0.9x/2.0; anything else is unsupported."""
    if root.tag not in ("rss", _ATOM_ROOT):
        raise _Unsupported
    if any(uri.lower() in _VERSION_URIS for uri in root.nsmap.values()):
        raise _Unsupported
    return bool(root.tag == _ATOM_ROOT)


def _base_uri(url: str) -> str:
    """feedparser's base URI for a feed served from ``url``."""
    return _stable_base(feedparser.urls.make_safe_absolute_uri(url, url) or url)


def _stable_base(base: str) -> str:
    """feedparser re-resolves the base against itself at every element: it must not drift."""
    if not base or (feedparser.urls.make_safe_absolute_uri(base, base) or base) != base:
        raise _Unsupported
    return str(base)


def _leaf(el: Any) -> str:
    """The text of an element that must not have child elements."""
    if len(el):
        raise _Unsupported
    return str(el.text or "")


def _own_text(el: Any) -> str:
    """An element's own character data (what feedparser collects for it), children excluded."""
    return str(el.text or "") + "".join(child.tail or "" for child in el)


def _fix(text: str) -> str:
    """feedparser's last steps on every value: undo double-encoded UTF-8, map C1 to cp1252."""
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(_CP1252) if _C1.search(text) else text


class _Names:
    """feedparser's name for each element: lowercased, namespace mapped to its prefix.

    Only documents whose namespace bindings leave no room for feedparser's order-dependent
    prefix bookkeeping are accepted: each prefix is bound to one URI, each unknown URI to one
    prefix, and no prefix is remapped onto another known one.
    """

    def __init__(self, root: Any) -> None:
        self.prefix_of: dict[str, str] = {}
        #: prefixes bound to a known namespace under another name: feedparser renames elements
        #: written with such a prefix (even ones from other namespaces) to that namespace
        self.remapped: set[str] = set()
        self.cache: dict[str, str] = {}
        self._scan(_declarations(root))

    def _scan(self, declarations: list[tuple[str, str]]) -> None:
        bound: dict[str, str] = {}
        defaults = {uri for prefix, uri in declarations if not prefix}
        for prefix, uri in declarations:
            if prefix and bound.setdefault(prefix, uri) != uri:
                raise _Unsupported
        known = {u: _NAMESPACES.get(_lower_ns(u)) for u in {*bound.values(), *defaults}}
        for prefix, uri in bound.items():
            std = known[uri]
            if std is None:
                # feedparser finds this prefix again by URI in a dict keyed by prefix, where a
                # known namespace bound elsewhere would overwrite it under its standard name
                if uri in self.prefix_of or uri in defaults or prefix in known.values():
                    raise _Unsupported
                self.prefix_of[uri] = prefix
            elif std != prefix:
                self.remapped.add(prefix)

    def name(self, el: Any) -> str:
        tag = el.tag
        found = self.cache.get(tag)
        if found is None:
            found = self.cache[tag] = self._name(tag)
        return found

    def _name(self, tag: object) -> str:
        if not isinstance(tag, str):
            raise _Unsupported
        ns, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
        std = _NAMESPACES.get(_lower_ns(ns))
        prefix = std if std else (self.prefix_of.get(ns, "") if std is None and ns else "")
        if prefix.lower() in self.remapped:
            raise _Unsupported
        return f"{prefix.lower()}_{local.lower()}" if prefix else local.lower()

    def attr_prefix(self, el: Any, ns: str) -> str:
        """The prefix an attribute's namespace is written with (feedparser keys it so too)."""
        if ns == _XML_NS:
            return "xml"
        prefixes = [p for p, uri in el.nsmap.items() if uri == ns and p]
        if len(prefixes) != 1:
            raise _Unsupported
        return str(prefixes[0])


def _declarations(root: Any) -> list[tuple[str, str]]:
    found = [ns for _, ns in etree.iterwalk(root, events=("start-ns",))]
    if any(re.search(r"\s", uri) for _, uri in found):
        raise _Unsupported
    return [(prefix or "", uri) for prefix, uri in found]


def _lower_ns(uri: str) -> str:
    lower = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in lower else lower
