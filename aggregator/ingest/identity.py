"""Identity and dedup rules: which entries are the same story, and did one change.

Pure functions only.  Three levels:

* ``canonical_url`` so that the same article reached through tracking links,
  different host case or a default port is one URL;
* ``entry_key`` under a per-feed ``IdentityRule`` chosen by ``choose_rule``:
  feeds whose ids are missing or repeated fall back to URLs, then to a
  content hash, instead of merging distinct items;
* ``near_duplicate`` for wire copies of one agency story on several outlets,
  which share no id or URL but nearly all their text.

Hashes are stable across processes (hashlib, never ``hash()``), so they can be
stored and compared later.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "HasIdentity",
    "IdentityRule",
    "canonical_url",
    "choose_rule",
    "entry_fingerprint",
    "entry_key",
    "hamming",
    "jaccard",
    "max_hamming",
    "near_duplicate",
    "plausible_canonical",
    "registrable_domain",
    "shingles",
    "simhash",
    "strip_tracking",
    "text_hash",
]

# --------------------------------------------------------------------------- URLs

#: Query parameters that only say how a reader arrived (compared case-insensitively).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "twclid",
        "ttclid", "li_fat_id", "igshid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl",
        "ref_src", "ref_url", "cmpid", "ocid", "ncid", "s_cid", "sr_share", "spm",
        "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid", "wt.mc_id",
        "guccounter", "guce_referrer", "guce_referrer_sig", "soc_src", "soc_trk",
        "at_medium", "at_campaign", "smid", "xtor", "__twitter_impression",
    }
)  # fmt: skip
#: Parameter-name prefixes of campaign tagging schemes (Google, Piwik/Matomo, HubSpot ads).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_SPACE = re.compile(r"\s")


def canonical_url(url: str) -> str:
    """One spelling per URL, for identity: same article, same string. Idempotent.

    Lower-case scheme and host, IDNA host, no default port, no fragment, no
    tracking parameters (the rest keep their order), upper-case percent
    escapes, raw whitespace escaped, "/" for an empty path.  Unparseable
    input is returned stripped.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = _canonical_netloc(parts.netloc, parts.scheme)
    path = _upper_escapes(parts.path) or ("/" if netloc else "")
    query = _canonical_query(parts.query)
    authority = f"//{netloc}" if netloc or _has_authority(url, parts.scheme) else ""
    return (
        (f"{parts.scheme}:" if parts.scheme else "")
        + authority
        + path
        + (f"?{query}" if query else "")
    )


def strip_tracking(url: str) -> str:
    """`url` without its tracking parameters (utm_* ...), otherwise as written.

    What an article is stored and linked under: applied to every URL an article
    gets, whether its page could be extracted or not.
    """
    base, hashmark, fragment = url.partition("#")
    head, question, query = base.partition("?")
    if not question:
        return url
    kept = "&".join(p for p in query.split("&") if p and not _is_tracking(p))
    return head + (f"?{kept}" if kept else "") + hashmark + fragment


#: Last path segments of pages about a site rather than a story: a rel=canonical
#: pointing there is a template's mistake, not the story's address.
SITE_PAGES: frozenset[str] = frozenset(
    {
        "about", "about-us", "aboutus", "about-me", "contact", "contact-us", "home",
        "index", "team", "staff", "impressum", "imprint", "privacy", "terms",
        "subscribe", "newsletter", "archive", "archives", "news", "blog", "feed",
        "rss", "search", "login", "signup", "welcome", "start", "en", "fr", "de",
    }
)  # fmt: skip
_INDEX_FILE = re.compile(r"(?:index|default|home)\.(?:html?|php|aspx?|jsp)$", re.IGNORECASE)


def registrable_domain(host: str) -> str:
    """The domain a registrant controls (``news.bbc.co.uk`` → ``bbc.co.uk``), from the
    public suffix list bundled with `tld` (nothing is downloaded); the host itself
    for an IP address, a single label or anything the list does not know."""
    from tld import get_fld

    host = host.lower().rstrip(".")
    found = get_fld(host, fix_protocol=True, fail_silently=True)
    return found if isinstance(found, str) and found else host


def plausible_canonical(article_url: str, canonical: str) -> bool:
    """Whether a page's rel=canonical may become the story's URL.

    Only on the same registrable domain as the article (a syndication partner's
    canonical does not move the story to another site) and not the site's root
    or a page about the site (``/``, ``/about``, ``/index.html`` ...): real pages
    declare those by mistake, and adopting them filed a story under the home page.
    """
    try:
        here, there = urlsplit(article_url), urlsplit(canonical)
    except ValueError:
        return False
    if there.scheme not in ("http", "https") or not here.hostname or not there.hostname:
        return False
    if registrable_domain(here.hostname) != registrable_domain(there.hostname):
        return False
    segments = [p for p in there.path.split("/") if p]
    if not segments:
        return False
    last = segments[-1].lower()
    return not (len(segments) == 1 and (last in SITE_PAGES or _INDEX_FILE.fullmatch(last)))


def _has_authority(url: str, scheme: str) -> bool:
    """Whether "//" followed the scheme (``file:///x``), which urlunsplit would lose."""
    rest = url[len(scheme) + 1 :] if scheme else url
    return rest.startswith("//")


def _canonical_netloc(netloc: str, scheme: str) -> str:
    """userinfo kept as is; host lower-cased and IDNA-encoded; default port dropped."""
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = _split_port(hostport)
    if port == _DEFAULT_PORTS.get(scheme) or port == "":
        port = None
    host = _idna(host.lower())
    return f"{userinfo}{at}{host}" + (f":{port}" if port is not None else "")


def _split_port(hostport: str) -> tuple[str, str | None]:
    """(host, port) where port is None when absent; IPv6 brackets respected."""
    head, colon, tail = hostport.rpartition(":")
    if not colon or "]" in tail or (tail and not (tail.isascii() and tail.isdigit())):
        return hostport, None
    return head, tail


def _idna(host: str) -> str:
    """ASCII (punycode) form of an internationalised host; unencodable hosts unchanged."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _upper_escapes(text: str) -> str:
    """Percent escapes in upper case; raw whitespace escaped (it is never valid in a URL)."""
    escaped = _SPACE.sub(lambda m: quote(m.group(0), safe=""), text)
    return _PERCENT.sub(lambda m: m.group(0).upper(), escaped)


def _canonical_query(query: str) -> str:
    """Query without tracking parameters or empty pairs, order otherwise kept."""
    pairs = (p for p in query.split("&") if p and not _is_tracking(p))
    return "&".join(_upper_escapes(p) for p in pairs)


def _is_tracking(pair: str) -> bool:
    name = pair.partition("=")[0].lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


# --------------------------------------------------------------------------- hashes


def normalise_space(text: str) -> str:
    """NFC with every whitespace run made one space: layout changes are not edits."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def text_hash(text: str) -> str:
    """sha256 hex of the text with whitespace collapsed: the content hash of versions."""
    return hash_normalised(normalise_space(text))


def hash_normalised(normalised: str) -> str:
    """text_hash of a text already passed through normalise_space."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def entry_fingerprint(title: str | None, summary: str | None, content: str | None) -> str:
    """Changes whenever the title, summary or content of a feed item changes.

    The fields stay separate (a unit separator between them), so moving text
    from summary to content still counts as a change; whitespace does not.
    """
    return fingerprint_normalised(*(normalise_space(f or "") for f in (title, summary, content)))


def fingerprint_normalised(title: str, summary: str, content: str) -> str:
    """entry_fingerprint of fields already passed through normalise_space (a worker
    preparing an item has the normalised text at hand for its content hash)."""
    return hashlib.sha256(f"{title}\x1f{summary}\x1f{content}".encode()).hexdigest()


# --------------------------------------------------------------------------- identity rules

IdentityRule = Literal["id", "url", "hash"]


class HasIdentity(Protocol):
    """What identity needs from an entry (``aggregator.parse.feeds.ParsedEntry`` fits)."""

    @property
    def id(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def title(self) -> str | None: ...

    @property
    def summary(self) -> str | None: ...

    @property
    def content(self) -> str | None: ...


def choose_rule(entries: Sequence[HasIdentity]) -> IdentityRule:
    """The strongest rule under which every entry of this feed has a distinct key.

    Feeds that give every item the same guid (or none) would otherwise merge
    unrelated stories into one.
    """
    if _all_distinct(e.id.strip() if e.id else None for e in entries):
        return "id"
    if _all_distinct(_url_or_none(e.url) for e in entries):
        return "url"
    return "hash"


def _all_distinct(values: Iterable[str | None]) -> bool:
    seen: set[str] = set()
    for value in values:
        if not value or value in seen:
            return False
        seen.add(value)
    return True


def _url_or_none(url: str | None) -> str | None:
    return canonical_url(url) if url and url.strip() else None


def entry_key(entry: HasIdentity, rule: IdentityRule, text: str | None = None) -> str:
    """``id:<id>``, ``url:<canonical url>`` or ``hash:<text hash>``.

    An entry lacking what the rule needs falls to the next rule rather than
    failing; with ``choose_rule`` that never happens.  The hash uses the plain
    text of the content, or of the summary when a feed carries no content, so
    short items that share a title ("Corrections") stay apart, and markup that
    serialises differently (feedparser vs the fast parse path) keeps the key.
    `text` is that plain text when the caller has it already.
    """
    if rule == "id" and entry.id and entry.id.strip():
        return f"id:{entry.id.strip()}"
    if rule in ("id", "url") and (url := _url_or_none(entry.url)):
        return f"url:{url}"
    if text is None:
        from aggregator.parse.feeds import text_of

        text = text_of(entry.content or entry.summary)
    return f"hash:{text_hash((entry.title or '') + chr(10) + text)}"


# --------------------------------------------------------------------------- near duplicates

_WORD = re.compile(r"\w+")
_SIMHASH_BITS = 64


def _words(text: str) -> list[str]:
    """Case-folded words, punctuation and layout dropped (NFKC folds look-alike forms)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _hash64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")


def shingles(text: str, k: int = 4) -> set[int]:
    """64-bit hashes of the word k-grams; a text shorter than k words is one shingle."""
    words = _words(text)
    if not words:
        return set()
    grams = (" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1)))
    return {_hash64(g) for g in grams}


def simhash(text: str) -> int:
    """64-bit simhash of the text's 4-shingles: similar texts differ in few bits."""
    return _simhash_of(shingles(text))


def _simhash_of(features: Iterable[int]) -> int:
    """Each bit is the majority vote of that bit over the features (ties give 0)."""
    rows = [format(f, "064b") for f in features]
    if not rows:
        return 0
    half = len(rows) / 2
    bits = "".join("1" if column.count("1") > half else "0" for column in zip(*rows))
    return int(bits, 2)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def max_hamming(threshold: float) -> int:
    """Largest simhash distance that can still hide a Jaccard >= threshold.

    Simhash estimates the angle between the shingle sets, whose cosine is at
    least their Jaccard; bits differ with probability angle/pi.  The bound is
    that expectation plus 3.5 standard deviations, so a true near-duplicate is
    rejected by the pre-check with probability well under 1 in 1,000.
    """
    p = math.acos(min(1.0, max(0.0, threshold))) / math.pi
    mean, sd = _SIMHASH_BITS * p, math.sqrt(_SIMHASH_BITS * p * (1 - p))
    return min(_SIMHASH_BITS, math.ceil(mean + 3.5 * sd))


def jaccard(a: set[int], b: set[int]) -> float:
    """|a & b| / |a | b|; two empty sets are not similar (0.0)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def near_duplicate(
    a_text: str,
    b_text: str,
    threshold: float = 0.8,
    *,
    a_simhash: int | None = None,
    b_simhash: int | None = None,
) -> bool:
    """Same story, modulo an edited sentence or an outlet's boilerplate?

    Jaccard similarity of the word 4-shingles against ``threshold``.  With
    stored simhashes the pair is first screened by Hamming distance, which
    costs nothing; without them the exact sets are compared directly, since
    computing the simhash would cost more than the Jaccard it saves.
    """
    screened = a_simhash is not None and b_simhash is not None
    if screened and hamming(a_simhash or 0, b_simhash or 0) > max_hamming(threshold):
        return False
    a, b = shingles(a_text), shingles(b_text)
    if not a or not b or min(len(a), len(b)) < threshold * max(len(a), len(b)):
        return False
    return jaccard(a, b) >= threshold
