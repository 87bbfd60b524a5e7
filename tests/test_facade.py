"""The facade is the API: feed management, the daemon's methods and the Run handle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.core import make_aggregator
from aggregator.core.run import Run
from aggregator.exceptions import BlockedURLError, NotFoundError
from aggregator.storage.records import FeedUpdate
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_set_enabled_edits_feeds_yaml_and_enabling_clears_a_410(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        [{"name": "wire", "url": "http://127.0.0.1:9/wire.xml"}],
        database=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    with make_aggregator(path, clock=lambda: T0, extract_workers=0) as agg:
        agg.set_enabled("wire", False)
        assert "enabled: false" in path.read_text()
        assert agg.config.feed("wire") is not None and not agg.config.feed("wire").enabled
        assert [f.enabled for f in agg.feeds()] == [False]
        state = agg.feed_states()["wire"]
        agg.store.update_feed(
            FeedUpdate(
                state.id, T0, T0, 410, ok=False, error="gone", disabled_reason="410 Gone at ..."
            )
        )
        agg.set_enabled("wire", True)
        assert "enabled: false" not in path.read_text()
        [feed] = agg.feeds()
        assert feed.enabled and feed.disabled_reason is None and feed.error_count == 0
        with pytest.raises(NotFoundError):
            agg.set_enabled("nope", True)


async def test_running_yields_a_run_the_due_calls_take(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    rss = (
        "<rss><channel><title>W</title><item><title>A story</title>"
        "<link>http://127.0.0.1/a</link><guid>a</guid></item></channel></rss>"
    )
    url = http_server.route("/wire.xml", rss, content_type="application/rss+xml")
    path = write_config(
        tmp_path,
        [{"name": "wire", "url": url}],
        database=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    with make_aggregator(path, extract_workers=0) as agg:
        assert agg.ping() and agg.oldest_pending_alert() is None
        assert agg.queue_depths().due_feeds == 1
        async with agg.running() as run:
            assert isinstance(run, Run)
            [result] = await agg.poll_due(run, worker="w", limit=10)
            assert result.new == 1 and result.error is None
            assert await agg.recheck_due(run, worker="w") == []
            assert (await agg.deliver_due(run, worker="w")).sent == 0
        assert agg.queue_depths().due_feeds == 0
        assert agg.feed_states()["wire"].last_status == 200
        assert agg.release_leases("w") == 0  # the poll released its own lease


def test_fetch_page_goes_through_the_guarded_fetcher(
    tmp_path: Path, http_server: LoopbackServer, seed_text: str
) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in seed_text.split("\n\n")[:8] if p.strip())
    html = f"<html><head><title>Budget</title></head><body><article>{paragraphs}</article></body></html>"
    url = http_server.route("/story", html)
    path = write_config(tmp_path, [], database=f"sqlite:///{tmp_path / 'db.sqlite'}")
    with make_aggregator(path, extract_workers=0) as agg:
        page = agg.fetch_page(url)
        assert page.url == url and page.text and page.text.split()[0] in seed_text
    blocked = write_config(
        tmp_path, [], database=f"sqlite:///{tmp_path / 'db.sqlite'}", network={"allow_private": []}
    )
    with make_aggregator(blocked, extract_workers=0) as agg, pytest.raises(BlockedURLError):
        agg.fetch_page(url)  # 127.0.0.1 is private: refused before any connection
