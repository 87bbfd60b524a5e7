"""The plain-absolute-URL shortcut never changes what urljoin would give."""

from __future__ import annotations

from urllib.parse import urljoin

import feedparser.urls
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.urls import is_plain_absolute, joiner

BASE = "https://feeds.example.org/a/b/feed.xml?x=1"


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.com/2026/11/story.html",
        "http://127.0.0.1:8080/feeds/f00001.rss",
        "https://e.example/a?utm_source=x&id=3",
        "https://e.example",
        "https://e.example/",
        "https://e.example/~user/a.b.c",
        "https://e.example/a;p=1/b",
    ],
)
def test_plain_urls_join_to_themselves(url: str) -> None:
    assert is_plain_absolute(url)
    assert urljoin(BASE, url) == url == feedparser.urls._urljoin(BASE, url)


@pytest.mark.parametrize(
    "url",
    [
        "/relative",
        "story.html",
        "https://e.example/a/../b",
        "https://e.example/./a",
        "https://e.example/a?",
        "https://e.example/a#frag",
        "HTTP://E.example/",
        "//e.example/a",
        "https://e.example/a/..",
        "javascript:alert(1)",
        "https://e.example/a b",
        "ftp://e.example/",
    ],
)
def test_other_urls_take_the_full_join(url: str) -> None:
    assert not is_plain_absolute(url)


_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "e.example",
        "a",
        "/",
        ".",
        "..",
        "?",
        "#",
        "=",
        "&",
        ":",
        "8080",
        "%20",
        " ",
        "-",
        "_",
        "~",
        "b.c",
        "HTTP://",
        ";",
        "@",
        "\\",
        "//",
        "x",
        "urn:",
        "tag:",
        "mailto:",
        "URN:",
        "uuid:",
        "javascript:",
        "data:",
        ":",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_shortcut_agrees_with_urljoin(url: str) -> None:
    join = joiner(urljoin)
    assert join(BASE, url) == urljoin(BASE, url)
    fp = joiner(feedparser.urls._urljoin)
    assert fp(BASE, url) == feedparser.urls._urljoin(BASE, url)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_site_shortcut_agrees_with_urlsplit(url: str) -> None:
    from urllib.parse import urlsplit

    from aggregator.ingest.pipeline import _site

    try:
        expected = urlsplit(url).hostname
    except ValueError:
        return  # not a URL an article could carry (the parser drops it)
    assert _site(url) == expected


def test_site_of_a_url_whose_query_follows_the_host() -> None:
    """Found by the property above: a '?' or '#' straight after the host is not part of it."""
    from aggregator.ingest.pipeline import _site

    assert _site("http://e.example?https://x/") == "e.example"
    assert _site("https://e.example#frag") == "e.example"
