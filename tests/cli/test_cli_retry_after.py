"""A server's Retry-After holds for a manual `aggregator poll` too (issue 13, item 17)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.cli.main import main
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>One</title><link>http://example.org/1</link><guid>g1</guid></item>
</channel></rss>"""


@pytest.mark.slow
def test_a_429_with_retry_after_is_honoured_by_the_next_poll_until_forced(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = http_server.route("/busy.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    sibling = http_server.route("/other.xml", RSS, content_type="application/rss+xml")
    cfg = write_config(
        tmp_path, [{"name": "busy", "url": busy}, {"name": "sibling", "url": sibling}]
    )
    polled = lambda path: len(http_server.requests_for(path))  # noqa: E731

    assert main(["--config", str(cfg), "poll", "busy"]) == 1  # the only feed polled failed
    assert polled("/busy.xml") == 1
    first = capsys.readouterr().out
    assert "429" in first

    before = datetime.now(UTC)
    assert main(["--config", str(cfg), "poll"]) == 0
    out = capsys.readouterr().out
    assert polled("/busy.xml") == 1  # not requested again
    assert polled("/other.xml") == 0  # the same server: its wish holds for every feed on it
    line = next(li for li in out.splitlines() if li.startswith("busy"))
    assert "skipped" in line and "Retry-After" in line and "--force" in line
    m = re.search(r"from (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", line)
    assert m is not None
    until = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before + timedelta(minutes=59) < until <= before + timedelta(hours=1, minutes=1)
    assert "2 skipped" in out

    assert main(["--config", str(cfg), "poll", "busy"]) == 0  # naming it is not forcing it
    assert polled("/busy.xml") == 1 and "skipped" in capsys.readouterr().out

    http_server.route("/busy.xml", RSS, content_type="application/rss+xml")
    assert main(["--config", str(cfg), "poll", "--force"]) == 0
    out = capsys.readouterr().out
    assert polled("/busy.xml") == 2 and polled("/other.xml") == 1
    assert "skipped" not in out
    assert main(["--config", str(cfg), "poll"]) == 0  # the wait ended with a good answer
    assert polled("/busy.xml") == 3


def _throttle(http_server: LoopbackServer, tmp_path: Path, capsys: Any) -> Path:
    """A feed whose host answered 429 Retry-After: 3600 to `poll` (a standing wish)."""
    busy = http_server.route("/busy.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    cfg = write_config(tmp_path, [{"name": "busy", "url": busy}])
    assert main(["--config", str(cfg), "poll"]) == 1
    capsys.readouterr()
    http_server.route("/busy.xml", RSS, content_type="application/rss+xml")  # would answer now
    return cfg


def _refusal(err: str) -> None:
    """One line naming the host, until when (UTC) and that --force overrides."""
    assert "Traceback" not in err
    assert "asked to wait" in err and "Retry-After" in err and "--force" in err
    m = re.search(r"until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", err)
    assert m is not None, err
    until = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert datetime.now(UTC) + timedelta(minutes=58) < until


def test_feeds_test_and_feeds_add_refuse_a_host_that_asked_to_wait_until_forced(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _throttle(http_server, tmp_path, capsys)
    url = http_server.url("/new.xml")
    http_server.route("/new.xml", RSS, content_type="application/rss+xml")
    asked = lambda: len(http_server.requests_for("/new.xml"))  # noqa: E731

    for cmd in (["feeds", "test", url], ["feeds", "add", url, "--name", "new"]):
        assert main(["--config", str(cfg), *cmd]) == 1
        _refusal(capsys.readouterr().err)
        assert asked() == 0  # the same host: not asked at all
    assert "new.xml" not in cfg.read_text()

    assert main(["--config", str(cfg), "feeds", "test", url, "--force"]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert main(["--config", str(cfg), "feeds", "add", url, "--name", "new", "--force"]) == 0
    assert asked() == 2 and "new.xml" in cfg.read_text()


def test_feeds_add_refuses_a_page_announcing_a_feed_on_a_waiting_host(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page is on a host that may be asked; the feed it announces is not."""
    cfg = _throttle(http_server, tmp_path, capsys)
    announced = http_server.route("/new.xml", RSS, content_type="application/rss+xml")
    other = LoopbackServer()
    try:
        page = other.route(
            "/",
            f'<html><head><link rel="alternate" type="application/rss+xml" '
            f'href="{announced}"></head><body>hi</body></html>',
            content_type="text/html",
        )
        assert main(["--config", str(cfg), "feeds", "add", page, "--name", "found"]) == 1
        _refusal(capsys.readouterr().err)
        assert len(other.requests_for("/")) == 1
        assert http_server.requests_for("/new.xml") == []
        assert main(["--config", str(cfg), "feeds", "add", page, "--name", "found", "--force"]) == 0
        assert len(http_server.requests_for("/new.xml")) == 1
    finally:
        other.close()


def test_recheck_and_topics_test_url_skip_a_host_that_asked_to_wait(
    http_server: LoopbackServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    seed_text: str,
) -> None:
    """The on-demand page fetches: `recheck ID` says skipped and until when; `topics
    test --url` refuses; both fetch with --force."""
    paragraphs = "".join(f"<p>{p}</p>" for p in seed_text.split("\n") if p.strip())
    page = http_server.route(
        "/story.html",
        f"<html><body><article><h1>Chips</h1>{paragraphs}</article></body></html>",
        content_type="text/html",
    )
    feed = http_server.route(
        "/feed.xml",
        RSS.replace("http://example.org/1", page),
        content_type="application/rss+xml",
    )
    cfg = write_config(tmp_path, [{"name": "site", "url": feed}])
    assert main(["--config", str(cfg), "poll"]) == 0
    http_server.route("/feed.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    assert main(["--config", str(cfg), "poll"]) == 1
    capsys.readouterr()
    asked = lambda: len(http_server.requests_for("/story.html"))  # noqa: E731
    before = asked()

    assert main(["--config", str(cfg), "recheck", "1"]) == 0
    out = capsys.readouterr().out
    assert "#1: skipped" in out and "Retry-After" in out and "--force" in out
    assert re.search(r"from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", out)
    assert "0 re-checked, 1 skipped" in out
    query = ["topics", "test", "--query", "Nvidia", "--url", page]
    assert main(["--config", str(cfg), *query]) == 1
    _refusal(capsys.readouterr().err)
    assert asked() == before

    assert main(["--config", str(cfg), "recheck", "1", "--force"]) == 0
    assert "1 re-checked" in capsys.readouterr().out
    assert main(["--config", str(cfg), *query, "--force"]) == 0
    assert asked() == before + 2
