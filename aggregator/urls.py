"""A shortcut for joining URLs that are already plain absolute http(s) URLs.

urllib.parse.urljoin re-parses and re-assembles every link of every item (about a
tenth of the CPU of parsing a feed); for a URL that is absolute, lower-case
http(s), without dot segments, empty query or fragment, the join returns the URL
unchanged, so the work can be skipped. tests/http/test_urls.py checks that claim on
generated URLs.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

_SEGMENT = r"[A-Za-z0-9_~%!$&'()*+,;=:@-]*(?:\.[A-Za-z0-9_~%!$&'()*+,;=:@-]+)*"
_PLAIN = re.compile(
    r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?"
    rf"(?:/{_SEGMENT})*(?:\?[A-Za-z0-9_~%!$&'()*+,;=:@/.-]+)?"
)


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
#: urllib.parse.uses_relative: a URL with any other scheme (urn:, tag:, mailto:) is
#: returned by urljoin as it is, before any parsing.
_RELATIVE_SCHEMES = frozenset(urllib.parse.uses_relative)


def is_plain_absolute(url: str) -> bool:
    """True when joining `url` to any base gives `url` back."""
    return _PLAIN.fullmatch(url) is not None


def _kept_as_is(url: str) -> bool:
    """An URL whose scheme urljoin never resolves against a base (guids such as
    urn:uuid:… and tag:…), without '//' (which feedparser's join rewrites)."""
    m = _SCHEME.match(url)
    return m is not None and m.group(1).lower() not in _RELATIVE_SCHEMES and "//" not in url


def joiner(join: Callable[[str, str], str]) -> Callable[[str, str], str]:
    """`join` with the shortcut in front."""

    def joined(base: str, url: str) -> str:
        return url if is_plain_absolute(url) or _kept_as_is(url) else join(base, url)

    return joined
