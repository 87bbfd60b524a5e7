"""Rough edges found walking the CLI as a new user would (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.cli.main import main
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>One</title><link>{link}</link><guid>g1</guid></item>
</channel></rss>"""


def test_feeds_test_takes_the_name_of_a_configured_feed(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`feeds list` shows names; `feeds test NAME` tries that feed's URL."""
    feed = http_server.route(
        "/f.xml", RSS.format(link="http://example.org/1"), content_type="application/rss+xml"
    )
    cfg = write_config(tmp_path, [{"name": "wire", "url": feed}])
    assert main(["--config", str(cfg), "feeds", "test", "wire", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["url"] == feed and [e["title"] for e in report["entries"]] == ["One"]
    assert len(http_server.requests_for("/f.xml")) == 1
    # a name that is not configured is still read as a URL, with the scheme hint
    assert main(["--config", str(cfg), "feeds", "test", "nosuch"]) == 1
    assert "https://nosuch" in capsys.readouterr().err


def test_recheck_that_fails_to_fetch_says_so_and_exits_1(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `poll`: a failed fetch is a runtime failure, not "1 re-checked"."""
    page = http_server.route(
        "/story.html",
        "<html><body><article><h1>Chips</h1><p>"
        + "Export rules on chips tightened again this week. " * 20
        + "</p></article></body></html>",
        content_type="text/html",
    )
    feed = http_server.route("/f.xml", RSS.format(link=page), content_type="application/rss+xml")
    cfg = write_config(tmp_path, [{"name": "site", "url": feed}])
    assert main(["--config", str(cfg), "poll"]) == 0
    assert main(["--config", str(cfg), "recheck", "1"]) == 0
    assert "1 re-checked" in capsys.readouterr().out
    http_server.route("/story.html", b"boom", status=500)
    assert main(["--config", str(cfg), "recheck", "1"]) == 1
    out = capsys.readouterr().out
    assert "#1: error" in out and "500" in out
    assert "0 re-checked, 1 failed" in out
    assert main(["--config", str(cfg), "items", "show", "1"]) == 0  # nothing stored is lost
    assert "Chips" in capsys.readouterr().out
