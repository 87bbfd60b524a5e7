"""Ambiguous authorities are refused before any socket opens (issue 13, item 10).

``http://127.0.0.2:8002\\@127.0.0.1:8001/`` is host 127.0.0.1 with the password
``8002\\`` to Python and httpx, and host 127.0.0.2 to a browser. It used to be sent
to 127.0.0.1 with that as Basic auth. Two real servers: neither may hear of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.exceptions import BlockedURLError, FetchError
from aggregator.http.fetcher import Fetcher
from aggregator.http.policy import FetchPolicy
from aggregator.urls import ambiguous_authority
from tests.support.httpserver import LoopbackServer

ALLOW_ONE = FetchPolicy(allow_private=("127.0.0.1/32",), total_timeout=5)


@pytest.fixture
def other() -> Iterator[LoopbackServer]:
    server = LoopbackServer(host="127.0.0.2")
    server.route("/", b"<rss/>")
    try:
        yield server
    finally:
        server.close()


def forms(a: LoopbackServer, b: LoopbackServer) -> list[str]:
    one, two = f"127.0.0.1:{a.port}", f"127.0.0.2:{b.port}"
    return [
        f"http://{two}\\@{one}/",
        f"http://{one}\\@{two}/",
        f"http://{two}\\.{one}/",
        f"http:\\\\{one}/",
        f"http:/{one}/",
        f"http:///{one}/",
        f"http://x@{two}@{one}/",
        f"http://{one} @{two}/",
        f"http://{one}\t/",
        f"http://127.0.0.1%2e:{a.port}/",
        f"http://[127.0.0.1]:{a.port}/",
    ]


async def test_ambiguous_forms_reach_no_server(
    http_server: LoopbackServer, other: LoopbackServer
) -> None:
    http_server.route("/", b"<rss/>")
    async with Fetcher(ALLOW_ONE) as f:
        for url in forms(http_server, other):
            with pytest.raises(FetchError) as info:
                await f.get(url)
            assert info.value.kind in ("blocked", "protocol"), url
            assert "ambiguous" in info.value.message or "valid" in info.value.message, url
    assert http_server.requests == [] and other.requests == []


async def test_a_redirect_to_an_ambiguous_url_is_not_followed(
    http_server: LoopbackServer, other: LoopbackServer
) -> None:
    target = f"http://127.0.0.2:{other.port}\\@127.0.0.1:{http_server.port}/"
    http_server.route("/hop", b"", status=302, headers={"Location": target})
    async with Fetcher(ALLOW_ONE) as f:
        with pytest.raises(BlockedURLError) as info:
            await f.get(http_server.url("/hop"))
    assert "backslash" in info.value.message
    assert [r.path for r in http_server.requests] == ["/hop"] and other.requests == []


def test_plain_urls_are_not_ambiguous() -> None:
    for url in (
        "https://feeds.example.org/rss.xml",
        "https://user:p%40ss@example.org:8443/feed?x=1#f",
        "http://[2001:db8::1]:8080/",
        "http://example.org/path\\in\\path",  # past the authority: a path byte like any other
        "http://example.org:/",
    ):
        assert ambiguous_authority(url) is None, url


def test_feeds_yaml_and_feeds_add_refuse_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "database: sqlite:///agg.db\nfeeds:\n"
        "  - name: x\n    url: 'http://127.0.0.2:8002\\@127.0.0.1:8001/'\n"
    )
    assert main(["--config", str(cfg), "feeds", "list"]) == 2
    err = capsys.readouterr().err
    assert "feeds[0].url" in err and "backslash" in err
    cfg.write_text("database: sqlite:///agg.db\nfeeds: []\n")
    code = main(["--config", str(cfg), "feeds", "add", "http://127.0.0.2:8002\\@127.0.0.1:8001/"])
    assert code != 0
    assert "backslash" in capsys.readouterr().err
    assert "127.0.0.2" not in cfg.read_text()
