"""The one translation of foreign errors: each becomes the FetchError subclass of its kind."""

from __future__ import annotations

import httpcore
import pytest

from aggregator.exceptions import (
    AggregatorError,
    BodyTooLargeError,
    FetchError,
    FetchNetworkError,
    FetchProtocolError,
    FetchTimeoutError,
    HTTPStatusError,
    RedirectError,
)
from aggregator.http.bodies import Body, content_encoding, too_large
from aggregator.http.errors import http_error, translate

URL = "https://news.example.com/feed.xml"


@pytest.mark.parametrize(
    "foreign,cls,kind,words",
    [
        (TimeoutError(), FetchTimeoutError, "timeout", "timed out after 30s"),
        (httpcore.ConnectTimeout("slow"), FetchTimeoutError, "timeout", "within 10s"),
        (httpcore.ReadTimeout("quiet"), FetchTimeoutError, "timeout", "stopped responding"),
        (httpcore.ConnectError("[Errno 111] refused"), FetchNetworkError, "network", "refused"),
        (httpcore.ReadError("reset"), FetchNetworkError, "network", "network error"),
        (httpcore.RemoteProtocolError("bad"), FetchProtocolError, "protocol", "invalid HTTP"),
        (httpcore.LocalProtocolError("bad"), FetchProtocolError, "protocol", "could not send"),
    ],
)
def test_foreign_errors_become_the_subclass_of_their_kind(
    foreign: BaseException, cls: type[FetchError], kind: str, words: str
) -> None:
    error = translate(foreign, url=URL, total_timeout=30.0, connect_timeout=10.0)
    assert type(error) is cls and isinstance(error, AggregatorError)
    assert error.kind == kind and error.url == URL and words in error.message
    assert "[Errno" not in error.message


def test_an_http_status_keeps_its_status_retry_after_and_hint() -> None:
    error = http_error(url=URL, where=URL, status=503, reason="", retry_after=120.0)
    assert isinstance(error, HTTPStatusError) and error.kind == "http"
    assert (error.status, error.retry_after) == (503, 120.0)
    assert error.message == f"HTTP 503 Service Unavailable from {URL}"
    assert error.hint is not None and "120s" in error.hint


def test_body_problems_are_protocol_or_size_errors() -> None:
    with pytest.raises(FetchProtocolError, match="2 content encodings"):
        content_encoding({"content-encoding": "gzip, gzip"}, URL)
    body = Body("gzip", 1000, URL)
    with pytest.raises(FetchProtocolError, match="corrupt"):
        body.feed(b"not gzip at all")
    error = too_large(10 * 1024 * 1024, URL, decompressed=True)
    assert isinstance(error, BodyTooLargeError) and error.kind == "too_large"
    assert error.message == "body exceeds 10 MiB after decompression"


def test_every_kind_has_one_class() -> None:
    classes = [
        FetchTimeoutError,
        FetchNetworkError,
        FetchProtocolError,
        HTTPStatusError,
        BodyTooLargeError,
        RedirectError,
    ]
    kinds = [c("x", url=URL).kind for c in classes]
    assert kinds == ["timeout", "network", "protocol", "http", "too_large", "redirects"]
