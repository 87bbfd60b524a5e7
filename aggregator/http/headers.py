"""HTTP headers in and out: decoding, dates, freshness, Retry-After, Basic auth. Pure."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

import httpx


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    """HTTP dates are GMT; a naive datetime (from a clock or a sloppy server) is taken as UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(parsedate_to_datetime(value.strip()))
    except (TypeError, ValueError, IndexError):
        return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date, never negative."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    when = _http_date(text)
    return None if when is None else max(0.0, (when - _aware(now)).total_seconds())


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def parse_max_age(headers: dict[str, str], now: datetime) -> float | None:
    """Freshness in seconds: Cache-Control max-age, else Expires minus Date.

    An Expires that is not a date ('0', '-1') means already stale (RFC 9111), so 0.
    """
    m = _MAX_AGE.search(headers.get("cache-control", ""))
    if m:
        return float(m.group(1))
    if "expires" not in headers:
        return None
    expires = _http_date(headers["expires"])
    if expires is None:
        return 0.0
    base = _http_date(headers.get("date")) or _aware(now)
    return max(0.0, (expires - base).total_seconds())


_SINGLETONS = frozenset(
    {"date", "expires", "last-modified", "etag", "content-type", "location", "retry-after"}
)


def decode_headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated list headers joined with ', ' as HTTP allows.

    A repeated single-value header (two Dates, say) keeps its first value: joined,
    'Mon, 03 Feb 2025 ...' values would no longer parse as dates.
    """
    out: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key not in out:
            out[key] = text
        elif key not in _SINGLETONS:
            out[key] = f"{out[key]}, {text}"
    return out


def latin1(text: str) -> bytes:
    """Header bytes; a stored validator with stray characters degrades to ? and never crashes."""
    return text.encode("latin-1", "replace")


def basic_auth(url: httpx.URL) -> list[tuple[bytes, bytes]]:
    """user:password@ in a feed URL becomes Basic auth, as browsers and feed readers do."""
    if not url.userinfo:
        return []
    token = base64.b64encode(unquote_to_bytes(url.userinfo.decode("ascii")))
    return [(b"Authorization", b"Basic " + token)]
