"""Credentials in feed URLs never leave the config (issue 13, item 9).

A feed URL carries ``user:pass@`` and ``?api_key=…&token=…&sig=…``; its server fails,
so the URL travels through every place that shows one: the poll's output and
log lines, `feeds list` (text and JSON), the feed's stored last_error, the daemon's
logs, and a source-health alert sent to a real webhook receiver.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.urls import redact_text, redact_url
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.support.receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("s3cr3t-pass", "K3Y-v4lue", "T0K-v4lue", "S1G-v4lue")


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_redact_url_masks_userinfo_and_secret_parameters_only() -> None:
    assert (
        redact_url("https://desk:s3cr3t@feeds.example.org/rss?api_key=K&page=2&Token=T#top")
        == "https://desk:***@feeds.example.org/rss?api_key=***&page=2&Token=***#top"
    )
    assert redact_url("https://ghp_abc123@example.org/feed") == "https://***@example.org/feed"
    assert redact_url("https://e.org/f?sig=1&X-Amz-Signature=2&feed_key=3&keyword=ai") == (
        "https://e.org/f?sig=***&X-Amz-Signature=***&feed_key=***&keyword=ai"
    )
    assert redact_url("https://example.org/rss.xml") == "https://example.org/rss.xml"
    assert redact_url("postgresql+psycopg://app:pw@db:5432/news") == (
        "postgresql+psycopg://app:***@db:5432/news"
    )
    assert redact_text("HTTP 500 from https://u:p@e.org/?token=x (redirected).") == (
        "HTTP 500 from https://u:***@e.org/?token=*** (redirected)."
    )


@pytest.mark.slow
def test_a_failing_feed_with_credentials_leaks_them_nowhere(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.route("/feed.xml", b"down", status=500)
    receiver = WebhookReceiver(http_server)
    url = (
        f"http://desk:s3cr3t-pass@127.0.0.1:{http_server.port}/feed.xml"
        "?api_key=K3Y-v4lue&token=T0K-v4lue&sig=S1G-v4lue&edition=fr"
    )
    config = write_config(
        tmp_path,
        [{"name": "wire", "url": url}],
        alerts=[
            {
                "name": "ops",
                "kind": "webhook",
                "url": receiver.url,
                "events": ["source"],
                "group_window": "0s",
            }
        ],
        daemon={"failing_after": "0s", "http_port": 0},
    )

    poll = cli(config, "poll")
    assert poll.returncode == 1, poll.stdout + poll.stderr
    assert "HTTP 500" in poll.stdout + poll.stderr
    assert leaks(poll.stdout + poll.stderr) == []

    listed = cli(config, "feeds", "list")
    assert listed.returncode == 0, listed.stderr
    assert "desk:***@127.0.0.1" in listed.stdout and "api_key=***" in listed.stdout
    assert "edition=fr" in listed.stdout and "last error:" in listed.stdout
    assert leaks(listed.stdout) == []
    as_json = cli(config, "feeds", "list", "--json")
    [feed] = json.loads(as_json.stdout)
    assert feed["url"].startswith("http://desk:***@") and feed["last_error"]
    assert leaks(as_json.stdout) == []

    with sqlite3.connect(tmp_path / "test.db") as db:
        [(stored_error,)] = db.execute("SELECT last_error FROM feed").fetchall()
    assert "HTTP 500" in stored_error and leaks(stored_error) == []

    daemon = cli(config, "run", "--once")  # health, after delivery, queues the alert
    assert daemon.returncode == 0, daemon.stderr
    assert leaks(daemon.stdout + daemon.stderr) == []
    again = cli(config, "run", "--once")  # ... which this cycle's delivery sends
    assert again.returncode == 0, again.stderr
    assert leaks(again.stdout + again.stderr) == []
    payloads = receiver.payloads()
    assert payloads, daemon.stderr  # the source-health alert went out
    assert payloads[0]["data"]["source"]["url"].startswith("http://desk:***@")
    assert leaks(json.dumps(payloads)) == []
