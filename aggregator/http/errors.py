"""The one translation of foreign errors into :class:`FetchError`, with words a newsroom can use.

httpcore, asyncio and the socket layer each raise their own exceptions; callers of the
fetcher only ever see :class:`~aggregator.exceptions.FetchError` (``raise ... from e``
keeps the cause for logs).  An HTTP status >= 400 becomes one here too, with the hint a
user can act on.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import httpcore

from aggregator.exceptions import (
    FetchError,
    FetchNetworkError,
    FetchProtocolError,
    FetchTimeoutError,
    HTTPStatusError,
)

__all__ = ["FOREIGN", "http_error", "translate"]

FOREIGN = (
    TimeoutError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
)
"""Every exception type a request may raise that is not ours: caught once, in the fetcher."""


def translate(
    e: BaseException, *, url: str, total_timeout: float, connect_timeout: float
) -> FetchError:
    """The FetchError a foreign error means; `url` is the URL the caller asked for."""
    if isinstance(e, TimeoutError):
        return FetchTimeoutError(
            f"timed out after {total_timeout:g}s (total deadline)",
            url=url,
            hint="the server is too slow; it will be tried again later",
        )
    if isinstance(e, httpcore.ConnectTimeout):
        detail = f" ({_message(e)})" if str(e) else ""
        return FetchTimeoutError(f"could not connect within {connect_timeout:g}s{detail}", url=url)
    if isinstance(e, httpcore.TimeoutException):
        return FetchTimeoutError(f"the server stopped responding for {total_timeout:g}s", url=url)
    if isinstance(e, httpcore.LocalProtocolError):
        return FetchProtocolError(f"could not send the request ({e})", url=url)
    if isinstance(e, httpcore.ProtocolError):
        return FetchProtocolError(f"the server sent an invalid HTTP response ({e})", url=url)
    if isinstance(e, httpcore.ConnectError):
        return FetchNetworkError(f"could not connect: {_message(e)}", url=url)
    return FetchNetworkError(f"network error: {_message(e)}", url=url)


def http_error(
    *, url: str, where: str, status: int, reason: str, retry_after: float | None
) -> FetchError:
    """An HTTP error status as a FetchError; `where` names the URL that answered."""
    reason = reason or _phrase(status)
    text = f"HTTP {status} {reason}" if reason else f"HTTP {status}"
    return HTTPStatusError(
        f"{text} from {where}",
        url=url,
        status=status,
        retry_after=retry_after,
        hint=_http_hint(status, retry_after),
    )


def _message(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return re.sub(r"\[Errno -?\d+\]\s*", "", text)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _http_hint(status: int, retry_after: float | None) -> str | None:
    """What a newsroom user can do about an HTTP error."""
    if status in (429, 503):
        wait = f" in {retry_after:g}s" if retry_after is not None else " later"
        return f"the site asks us to slow down; it will be tried again{wait}"
    if status == 410:
        return "the site says this address is gone for good; remove or replace it in feeds.yaml"
    if status == 404:
        return "check the address; the site may have moved or removed it"
    if status in (401, 403):
        return "the site refuses access; it may need a login or block automated readers"
    if status >= 500:
        return "the site has a problem on its side; it will be tried again later"
    return None
