"""What a new user tripped on (issue 14), tried through the real `aggregator` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator import make_aggregator
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

ATOM_UPDATED_ONLY = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Only updated</title><id>urn:x</id><updated>2025-02-03T10:00:00Z</updated>
  <entry><title>Old story</title><id>urn:x:1</id><link href="{base}/1.html"/>
    <updated>2025-02-03T09:30:00Z</updated><summary>one</summary></entry>
  <entry><title>Dated story</title><id>urn:x:2</id><link href="{base}/2.html"/>
    <published>2025-02-01T08:00:00Z</published><updated>2025-02-03T09:45:00Z</updated>
    <summary>two</summary></entry>
</feed>
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, in a fresh interpreter, as a user runs it."""
    env = {**os.environ, "PYTHONUTF8": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.mark.slow  # several fresh interpreters
def test_atom_updated_only_is_the_published_date(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    base = http_server.url("")
    http_server.route(
        "/atom.xml", ATOM_UPDATED_ONLY.format(base=base), content_type="application/atom+xml"
    )
    cfg = write_config(tmp_path, [{"name": "atom", "url": http_server.url("/atom.xml")}])
    with make_aggregator(cfg) as agg:
        [result] = agg.poll()
        assert result.error is None and result.new == 2
    done = cli("--config", str(cfg), "items", "list", "--json")
    assert done.returncode == 0, done.stderr
    items = {i["title"]: i for i in json.loads(done.stdout)}
    assert items["Old story"]["published"].startswith("2025-02-03T09:30:00")
    assert items["Old story"]["published_source"] == "updated"
    assert items["Dated story"]["published"].startswith("2025-02-01T08:00:00")
    assert items["Dated story"]["published_source"] == "published"
    since = cli("--config", str(cfg), "items", "list", "--json", "--published-since", "2025-02-02")
    assert [i["title"] for i in json.loads(since.stdout)] == ["Old story"]
    helptext = cli("items", "list", "--help").stdout
    assert "first seen" in helptext and "--published-since" in helptext


CHIPS_FEED = """<rss version="2.0"><channel><title>Chips</title><link>{base}/</link>
<item><title>New chip export rules</title><link>{base}/a.html</link><guid>a</guid>
<description>Chips face new export rules.</description></item>
<item><title>Chip makers react</title><link>{base}/b.html</link><guid>b</guid>
<description>Makers of chips react to the rules.</description></item>
</channel></rss>"""


def _chips_config(server: LoopbackServer, tmp_path: Path, hook: str, window: str) -> Path:
    server.route(
        "/chips.xml", CHIPS_FEED.format(base=server.url("")), content_type="application/rss+xml"
    )
    return write_config(
        tmp_path,
        [{"name": "chips", "url": server.url("/chips.xml")}],
        topics=[{"name": "chips", "query": "chip*"}],
        alerts=[{"name": "hook", "kind": "webhook", "url": hook, "group_window": window}],
        network={"allow_private": ["127.0.0.1/32"], "timeout": "5s"},
    )


@pytest.mark.slow  # several fresh interpreters
def test_poll_says_alerts_are_queued_and_delivers_with_deliver(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    from tests.support.receiver import WebhookReceiver

    receiver = WebhookReceiver(http_server)
    cfg = _chips_config(http_server, tmp_path, receiver.url, "2m")
    done = cli("--config", str(cfg), "poll")
    assert done.returncode == 0, done.stderr
    assert "2 alerts queued; `aggregator run` delivers them (or poll with --deliver)" in done.stdout
    assert receiver.received == []
    once = cli("--config", str(cfg), "run", "--once", "--http-port", "0")
    assert once.returncode == 0, once.stderr
    said = once.stdout + once.stderr
    # a 2m group_window holds nothing back (issue 14.4): a cron run leaves none queued
    assert "alerts: 2 sent, 0 failed (will be retried), 0 failed for good, 0 still queued" in said
    assert len(receiver.received) == 2

    other = tmp_path / "deliver"
    other.mkdir()
    cfg2 = _chips_config(http_server, other, receiver.url, "2m")
    done = cli("--config", str(cfg2), "poll", "--deliver")
    assert done.returncode == 0, done.stderr
    assert "2 alerts queued and delivered: 2 sent, 0 failed (will be retried)" in done.stdout
    assert len(receiver.received) == 4


@pytest.mark.slow  # several fresh interpreters
def test_alerts_retry_sends_exactly_the_ids_named_and_asks_before_resending(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    from tests.support.receiver import WebhookReceiver

    receiver = WebhookReceiver(http_server)
    receiver.script(500, 500)
    cfg = _chips_config(http_server, tmp_path, receiver.url, "0s")
    assert cli("--config", str(cfg), "poll", "--deliver").returncode == 0
    listed = json.loads(cli("--config", str(cfg), "alerts", "list", "--json").stdout)
    before = {a["id"]: a["status"] for a in listed}
    posted = len(receiver.received)
    receiver.script()  # from now on the receiver accepts
    receiver._script.clear()
    assert len(before) == 2 and "sent" not in before.values()  # the receiver said 500
    first, second = sorted(before)
    done = cli("--config", str(cfg), "alerts", "retry", str(first))
    assert done.returncode == 0, done.stderr
    assert "retried 1 alert(s): 1 sent" in done.stdout
    status = {
        a["id"]: a["status"]
        for a in json.loads(cli("--config", str(cfg), "alerts", "list", "--json").stdout)
    }
    assert status == {first: "sent", second: before[second]}  # the other one was not touched
    again = cli("--config", str(cfg), "alerts", "retry", str(first))
    assert again.returncode == 2
    assert "already sent" in again.stderr and "--resend" in again.stderr
    resent = cli("--config", str(cfg), "alerts", "retry", str(first), "--resend")
    assert resent.returncode == 0 and "1 sent" in resent.stdout
    assert len(receiver.received) == posted + 2  # the failures, the retry, the resend


@pytest.mark.slow  # fresh interpreters
def test_unknown_names_exit_2_with_did_you_mean(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [], topics=[{"name": "export-controls", "query": "chips"}])
    assert cli("--config", str(cfg), "db", "upgrade").returncode == 0  # read commands create none
    for args in (
        ("changes", "list", "--topic", "export-control"),
        ("items", "list", "--topic", "export-control"),
    ):
        done = cli("--config", str(cfg), *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "unknown topic 'export-control'" in done.stderr
        assert "did you mean 'export-controls'?" in done.stderr


@pytest.mark.slow  # fresh interpreters
def test_an_empty_feeds_yaml_warns_and_a_broken_one_lists_every_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("")
    assert cli("--config", str(cfg), "db", "upgrade").returncode == 0  # read commands create none
    done = cli("--config", str(cfg), "items", "list")
    assert done.returncode == 0, done.stderr
    assert "has no feeds and no topics: nothing will be polled" in done.stderr
    cfg.write_text("defaults:\n  interval: 15\nfeeds:\n  - name: a\n    url: nope\n")
    done = cli("--config", str(cfg), "feeds", "list")
    assert done.returncode == 2
    assert "2 problems" in done.stderr and "feeds.yaml:2: defaults.interval" in done.stderr
    assert "feeds.yaml:5: feeds[0].url" in done.stderr and "Traceback" not in done.stderr


def test_every_flag_and_argument_has_help() -> None:
    import argparse

    from aggregator.cli.main import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
            elif not action.help and not isinstance(
                action, (argparse._HelpAction, argparse._VersionAction)
            ):
                missing.append(f"{path} {action.option_strings or action.dest}")

    walk(build_parser(), "aggregator")
    assert missing == []


@pytest.mark.slow  # fresh interpreters
def test_help_version_and_config_after_the_subcommand(tmp_path: Path) -> None:
    helptext = cli("--help").stdout
    assert "poll feeds, match topics, alert the desk" in helptext
    assert "aggregator demo" in helptext and "--version" in helptext
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("aggregator ")
    cfg = write_config(tmp_path, [{"name": "only-feed", "url": "https://a.example.org/rss"}])
    assert cli("db", "upgrade", "--config", str(cfg)).returncode == 0
    after = cli("feeds", "list", "--config", str(cfg), cwd=tmp_path.parent)
    assert after.returncode == 0, after.stderr
    assert "only-feed" in after.stdout


def test_migrations_are_quiet_and_an_up_to_date_database_skips_alembic(
    tmp_path: Path,
) -> None:
    import logging

    from aggregator.storage import db

    engine = db.make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        db.upgrade(engine)
        first = [r.getMessage() for r in records if r.levelno >= logging.INFO]
        records.clear()
        db.upgrade(engine)
        second = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    assert len(first) == 1 and "migrated: empty -> " in first[0]
    assert second == []
    assert db.stored_revisions(engine) == db.head_revisions()
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from aggregator.storage import db; "
            f"db.upgrade(db.make_engine('sqlite:///{tmp_path / 'q.db'}')); "
            "print('alembic' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


OFFLINE = """\
database: sqlite:///off.db
defaults:
  interval: 15m
  extract: false
feeds:
  - name: one
    url: https://feeds.does-not-exist.invalid/rss.xml
    tags: [wire]
  - name: two
    url: https://news.does-not-exist.invalid/atom.xml
"""


@pytest.mark.slow  # fresh interpreters, DNS lookups
def test_all_feeds_failing_on_dns_is_said_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(OFFLINE)
    once = cli("--config", str(cfg), "run", "--once", "--http-port", "0", "--no-web")
    assert once.returncode == 0, once.stderr
    assert "feeds: all 2 feeds failing: DNS (one, two)" in once.stderr
    listed = cli("--config", str(cfg), "feeds", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.rstrip().endswith("all 2 feeds failing: DNS")
    assert "tags wire" in listed.stdout and " next " in listed.stdout
    cfg.write_text("database: sqlite:///off.db\nfeeds: []\n")
    empty = cli("--config", str(cfg), "feeds", "list")
    assert "no feeds configured" in empty.stdout


def test_healthz_json_names_the_failing_feeds_and_their_cause() -> None:
    import json as _json
    from datetime import UTC, datetime, timedelta

    from aggregator.daemon.health import FailingFeeds, failure_cause
    from aggregator.daemon.httpd import ObservabilityServer, Readiness

    readiness = Readiness(
        ping=lambda: True,
        oldest_alert=lambda: None,
        clock=lambda: datetime.now(UTC),
        max_heartbeat_age=10,
        max_alert_age=timedelta(minutes=30),
    )
    dns = "could not connect: could not find the address of x.invalid (Name or service not known)"
    assert failure_cause(dns) == "DNS"
    assert failure_cause("HTTP 503 Service Unavailable from https://x/") == "HTTP 503"
    readiness.feeds = FailingFeeds(17, tuple((f"feed-{i}", "DNS") for i in range(17)))
    server = ObservabilityServer("127.0.0.1", 0, readiness, lambda: b"")
    try:
        assert server.respond("/healthz") == (200, "text/plain; charset=utf-8", b"ok\n")
        status, ctype, body = server.respond("/healthz", "application/json")
        assert (status, ctype) == (200, "application/json")
        document = _json.loads(body)
        assert document["feeds"]["summary"] == "all 17 feeds failing: DNS"
        assert document["feeds"]["causes"] == {"DNS": 17} and document["status"] == "ok"
        assert _json.loads(server.respond("/healthz?format=json")[2])["feeds"]["failing"] == 17
    finally:
        server.httpd.server_close()


EDITABLE = """\
# Desk config — keep this comment
database: sqlite:///agg.db
feeds:
  # the wire
  - name: wire
    url: https://wire.example.org/rss.xml
    tags: [en, world]   # inline comment
  - name: other
    url: https://other.example.org/rss.xml
"""


@pytest.mark.slow  # fresh interpreters
def test_feeds_edit_changes_one_feed_and_keeps_comments(tmp_path: Path) -> None:
    import yaml

    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(EDITABLE)
    done = cli(
        "feeds",
        "edit",
        "wire",
        "--interval",
        "30m",
        "--tag",
        "agency",
        "--untag",
        "en",
        "--no-extract",
        "--monitor",
        "--config",
        str(cfg),
    )
    assert done.returncode == 0, done.stderr
    assert "edited wire:" in done.stdout and "every 30m" in done.stdout
    text = cfg.read_text()
    assert "# Desk config — keep this comment" in text and "# the wire" in text
    [wire, other] = yaml.safe_load(text)["feeds"]
    assert wire["interval"] == "30m" and wire["extract"] is False and wire["monitor"] is True
    assert wire["tags"] == ["world", "agency"]
    assert other == {"name": "other", "url": "https://other.example.org/rss.xml"}
    bad = cli("--config", str(cfg), "feeds", "edit", "wire", "--interval", "15")
    assert bad.returncode == 2 and "has no unit" in bad.stderr
    assert cfg.read_text() == text  # a refused edit changes nothing
    missing = cli("--config", str(cfg), "feeds", "edit", "nope", "--interval", "1h")
    assert missing.returncode == 2 and "no feed named 'nope'" in missing.stderr


RSS_ONE = (
    "<rss version='2.0'><channel><title>{t}</title><link>http://x/</link>"
    "<item><title>a</title><link>http://x/a</link><guid>a</guid></item></channel></rss>"
)


@pytest.mark.slow  # fresh interpreters
def test_feeds_add_on_a_page_with_several_feeds_and_the_discovery_hints(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.route("/news.xml", RSS_ONE.format(t="News"), content_type="application/rss+xml")
    http_server.route("/sport.xml", RSS_ONE.format(t="Sport"), content_type="application/rss+xml")
    http_server.route(
        "/",
        "<html><head><title>Home</title>"
        '<link rel="alternate" type="application/rss+xml" title="News" href="/news.xml">'
        '<link rel="alternate" type="application/rss+xml" title="Sport" href="/sport.xml">'
        "</head><body>hi</body></html>",
    )
    http_server.route("/api.json", '{"status": "ok"}', content_type="application/json")
    cfg = write_config(tmp_path, [])
    page = http_server.url("/")
    first = cli("--config", str(cfg), "feeds", "add", page)
    assert first.returncode == 0, first.stderr
    assert "note: the page announces 2 feeds:" in first.stdout
    assert f"1. {http_server.url('/news.xml')}  (added)" in first.stdout
    assert f"2. {http_server.url('/sport.xml')}" in first.stdout and "--pick N" in first.stdout
    second = cli("--config", str(cfg), "feeds", "add", page, "--pick", "2", "--name", "sport")
    assert second.returncode == 0, second.stderr
    import yaml

    urls = [f["url"] for f in yaml.safe_load(cfg.read_text())["feeds"]]
    assert urls == [http_server.url("/news.xml"), http_server.url("/sport.xml")]
    wrong = cli("--config", str(cfg), "feeds", "add", page, "--pick", "5")
    assert wrong.returncode == 2 and "pick a number from 1 to 2" in wrong.stderr
    again = cli("--config", str(cfg), "feeds", "add", http_server.url("/news.xml"), "--name", "x")
    assert again.returncode == 2 and "already the URL of feed" in again.stderr
    api = cli("--config", str(cfg), "feeds", "add", http_server.url("/api.json"))
    assert api.returncode != 0 and "not a JSON Feed" in api.stderr
    assert "hint:" in api.stderr and "RSS, Atom or JSON Feed link" in api.stderr
    bare = cli("--config", str(cfg), "feeds", "add", "example.org/feed.xml")
    assert "hint: add the scheme: https://example.org/feed.xml" in bare.stderr


OPML = Path(__file__).resolve().parents[1] / "fixtures" / "opml" / "miniflux.opml"


@pytest.mark.slow  # fresh interpreters
def test_opml_import_export_import_is_lossless(tmp_path: Path) -> None:
    """A Miniflux export (folders, a nested folder, titles, htmlUrl) in, out and in again."""
    from aggregator.config.models import load_config

    first = tmp_path / "first"
    first.mkdir()
    (first / "feeds.yaml").write_text("feeds: []\n")
    done = cli("--config", str(first / "feeds.yaml"), "feeds", "import", str(OPML))
    assert done.returncode == 0, done.stderr
    edit = cli(
        "--config",
        str(first / "feeds.yaml"),
        "feeds",
        "edit",
        "ars-technica",
        "--interval",
        "30m",
        "--no-extract",
        "--no-monitor",
    )
    assert edit.returncode == 0, edit.stderr
    one = load_config(first / "feeds.yaml").feeds
    ars = next(f for f in one if f.name == "ars-technica")
    assert ars.title == "Ars Technica" and ars.html_url == "https://arstechnica.com/"
    semi = next(f for f in one if f.name == "semianalysis")
    assert semi.tags == ["tech", "chips"]  # the nested folder's path
    exported = cli("--config", str(first / "feeds.yaml"), "feeds", "export")
    assert exported.returncode == 0, exported.stderr
    assert 'htmlUrl="https://arstechnica.com/"' in exported.stdout
    assert 'interval="30m"' in exported.stdout and '<outline text="tech"' in exported.stdout
    second = tmp_path / "second"
    second.mkdir()
    (second / "feeds.yaml").write_text("feeds: []\n")
    (second / "out.opml").write_text(exported.stdout)
    again = cli("--config", str(second / "feeds.yaml"), "feeds", "import", str(second / "out.opml"))
    assert again.returncode == 0, again.stderr
    assert load_config(second / "feeds.yaml").feeds == one
