"""Live reload: feeds.yaml edits take effect within seconds; a broken edit changes nothing."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from aggregator.config import edit as config_edit
from aggregator.core import make_aggregator
from aggregator.daemon.background import BackgroundDaemon
from aggregator.daemon.runner import Options
from aggregator.storage.models import FeedRow
from tests.support.clock import wait_for
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>http://example.org/</link><description>d</description>
<item><title>Item {n}</title><link>http://example.org/{n}</link><guid>g{n}</guid>
<description>text {n}</description></item></channel></rss>"""

RELOAD_WITHIN = 5.0


def make_due(agg: object, *names: str) -> None:
    """Pretend the feeds' next poll time has come (as the clock would, later)."""
    store = agg.store  # type: ignore[attr-defined]
    past = datetime.now(UTC) - timedelta(seconds=1)
    with store.session() as s:
        s.exec(update(FeedRow).where(col(FeedRow.name).in_(names)).values(next_due_at=past))
        s.commit()


def polls(server: LoopbackServer, path: str) -> int:
    return len(server.requests_for(path))


@pytest.mark.slow
def test_feeds_are_added_and_removed_without_a_restart(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    urls = {
        n: http_server.route(f"/{n}.xml", RSS.format(n=n), content_type="application/rss+xml")
        for n in ("a", "b", "c")
    }
    path = write_config(
        tmp_path,
        [{"name": "a", "url": urls["a"]}, {"name": "c", "url": urls["c"]}],
        daemon={"tick": "0.2s", "http_port": 0},
    )
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None)),
    ):
        wait_for(lambda: polls(http_server, "/a.xml") == 1, 10, "the first poll of a")
        config_edit.add_feed(path, {"name": "b", "url": urls["b"]})
        took = wait_for(lambda: polls(http_server, "/b.xml") == 1, RELOAD_WITHIN, "b's first poll")
        assert took < RELOAD_WITHIN
        config_edit.remove_feed(path, "a")
        wait_for(lambda: agg.config.feed("a") is None, RELOAD_WITHIN, "a to be removed")
        make_due(agg, "a", "c")
        wait_for(lambda: polls(http_server, "/c.xml") == 2, 5, "c's next poll")
        time.sleep(0.5)
        assert polls(http_server, "/a.xml") == 1  # removed: never polled again
        assert {a.title for a in agg.articles()} == {"Item a", "Item b", "Item c"}


@pytest.mark.slow
def test_a_broken_edit_is_logged_and_the_last_good_config_keeps_running(
    http_server: LoopbackServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    urls = {
        n: http_server.route(f"/{n}.xml", RSS.format(n=n), content_type="application/rss+xml")
        for n in ("a", "b")
    }
    path = write_config(
        tmp_path, [{"name": "a", "url": urls["a"]}], daemon={"tick": "0.2s", "http_port": 0}
    )
    good = path.read_text()
    caplog.set_level(logging.ERROR, logger="aggregator.daemon")
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None)),
    ):
        wait_for(lambda: polls(http_server, "/a.xml") == 1, 10, "the first poll of a")
        path.write_text(good.replace("feeds:", "feeds:\n- name: Bad Name!\n  url: nope", 1))
        wait_for(lambda: "not reloaded" in caplog.text, RELOAD_WITHIN, "the error to be logged")
        assert "feeds[0].name" in caplog.text and f"{path}:" in caplog.text  # file, line, key
        make_due(agg, "a")
        wait_for(lambda: polls(http_server, "/a.xml") == 2, 5, "a, still configured, polled")
        errors = caplog.text.count("not reloaded")
        time.sleep(1.5)
        assert caplog.text.count("not reloaded") == errors  # reported once, not every second
        path.write_text(good.replace("feeds:", f"feeds:\n- name: b\n  url: {urls['b']}", 1))
        wait_for(lambda: polls(http_server, "/b.xml") == 1, RELOAD_WITHIN, "the fixed edit")
