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


# --------------------------------------------------------------------------- authority

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def ambiguous_authority(url: str) -> str | None:
    """Why parsers could disagree about which host `url` reaches, or None if they cannot.

    Python's urlsplit, httpx and a browser (WHATWG) read some authorities differently:
    ``http://a:1\\@b:2/`` is host ``b`` with the password ``1\\`` to the first two and
    host ``a`` to the third, which ends the authority at the backslash. The SSRF guard
    vets one reading while another may be the one a later hop or a proxy acts on, and
    the userinfo is sent as Basic credentials; so any such URL is refused before a
    socket opens, instead of guessing. Checked: what follows ``scheme:`` is ``//`` and
    a host; no backslash, whitespace, control character or percent-escape in the
    authority; at most one ``@``.
    """
    if _CONTROL.search(url):
        return "a control character (tab, newline ...) in the URL"
    scheme, colon, rest = url.partition(":")
    if not colon or not scheme:
        return None  # relative: judged once joined to its base
    if not rest.startswith("//") or rest[2:3] in ("/", "\\"):
        if "\\" in rest[:3] or rest.startswith("/"):
            return "the scheme is not followed by exactly '//' and a host"
        return None  # mailto:, urn: ... are not fetched; the scheme check says so
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    return _authority_problem(authority)


def _authority_problem(authority: str) -> str | None:
    """Malformed authorities (no host, a bad port, stray brackets) are left to the URL
    parser, which rejects them; only forms parsers read differently are reported."""
    if "\\" in authority:
        return "a backslash in the host part"
    if any(c.isspace() for c in authority):
        return "whitespace in the host part"
    if authority.count("@") > 1:
        return "more than one '@' in the host part"
    host = authority.rpartition("@")[2]
    if "%" in host:
        return "a percent-escape in the host name"
    return None


# --------------------------------------------------------------------------- redaction

#: Query parameter names whose values are secrets (compared lower-case, '-' read as '_').
SECRET_PARAMS = frozenset(
    {
        "key",
        "apikey",
        "api_key",
        "token",
        "access_token",
        "auth",
        "auth_token",
        "authorization",
        "sig",
        "signature",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "pass",
        "pwd",
        "session",
        "sessionid",
        "jwt",
        "credential",
        "x_amz_signature",
        "x_amz_credential",
        "x_amz_security_token",
        "x_goog_signature",
        "x_goog_credential",
    }
)
#: ... and names that end like one: private_token, feed_key, hmac_signature, app_secret.
_SECRET_SUFFIXES = ("_token", "_key", "_secret", "_signature", "_password", "_sig")
MASK = "***"
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`]+")
_QUERY_PAIR = re.compile(r"([^&;=#]*)(=)([^&;#]*)")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's value should never be shown."""
    norm = urllib.parse.unquote_plus(name).strip().lower().replace("-", "_")
    return norm in SECRET_PARAMS or norm.endswith(_SECRET_SUFFIXES)


def redact_url(url: str) -> str:
    """`url` with its credentials masked: the password of ``user:pass@`` (all of a lone
    ``token@``, which services use as a bare credential) and the values of secret-looking
    query parameters (``api_key``, ``token``, ``key``, ``sig`` ...). The rest is kept
    byte for byte, so the URL still says which feed it is; a URL with nothing to hide
    comes back unchanged. Works on database URLs too (``postgresql://u:***@host/db``).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    return f"{scheme}://{authority}{_redact_query(tail)}"


def _redact_query(tail: str) -> str:
    path, q, rest = tail.partition("?")
    if not q:
        return tail
    query, hash_, fragment = rest.partition("#")
    masked = _QUERY_PAIR.sub(
        lambda m: f"{m[1]}={MASK}" if is_secret_param(m[1]) and m[3] else m[0], query
    )
    return f"{path}?{masked}{hash_}{fragment}"


def redact_text(text: str) -> str:
    """Every URL inside a message (an error, a log line) passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(m: re.Match[str]) -> str:
    """Sentence punctuation after a URL ("… from https://e.org/f?token=x).") is not its."""
    url = m[0].rstrip(".,;:!?)]}")
    return redact_url(url) + m[0][len(url) :]
