"""A server's Retry-After holds for a manual `aggregator poll` too (issue 13, item 17)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
