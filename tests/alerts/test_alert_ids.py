"""Alert ids (webhook-id, Message-ID) are globally unique and stable per story (issue 13.7).

Receivers deduplicate on them, as README advises: two databases (a rebuilt one,
a staging install) must never give different stories the same id, and the
same story must keep its id within one database.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from aggregator.alerts.plan import match_alert_id, stable_alert_id
from aggregator.storage.store import Store
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<link>http://example.org/</link><description>d</description>
<item><title>{title}</title><link>http://example.org/{slug}</link><guid>{slug}</guid>
<description>{title}: the alpha story</description></item></channel></rss>"""


def _deliver(agg: Any) -> Any:
    async def go() -> Any:
        async with agg.running() as st:
            return await agg.deliver_due(st, worker="test")

    return asyncio.run(go())


def _config(tmp: Path, server: LoopbackServer, hook: str, smtp: SmtpServer, db: str) -> Path:
    return write_config(
        tmp,
        [{"name": "wire", "url": server.url("/wire.xml")}],
        database=db,
        topics=[{"name": "alpha", "query": "alpha"}],
        alerts=[
            {"name": "desk", "kind": "webhook", "url": hook, "group_window": "0s"},
            {
                "name": "mail",
                "kind": "email",
                "to": ["desk@example.org"],
                "from": "aggregator@example.org",
                "group_window": "0s",
                "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            },
        ],
    )


def _story(server: LoopbackServer, slug: str) -> None:
    body = RSS.format(title=f"Story {slug}", slug=slug).encode()
    server.route("/wire.xml", body, content_type="application/rss+xml")


def test_a_rebuilt_database_never_reuses_an_alert_id_for_another_story(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    receiver = WebhookReceiver(http_server)
    with SmtpServer() as smtp:
        first, second = tmp_path / "one", tmp_path / "two"
        for folder, slug in ((first, "one"), (second, "two")):
            folder.mkdir()
            _story(http_server, slug)
            cfg = _config(folder, http_server, receiver.url, smtp, f"sqlite:///{folder}/a.db")
            with make_agg(cfg) as agg:
                agg.poll()
                report = _deliver(agg)
                assert report.sent == 2, report.errors
            shutil.rmtree(folder)  # the database is rebuilt from scratch
        messages = [m.message() for m in smtp.messages]
    # both stories are article 1 of their database, on the same channel names
    hooks = [r.headers["webhook-id"] for r in receiver.received]
    assert [p["data"]["article"]["title"] for p in receiver.payloads()] == [
        "Story one",
        "Story two",
    ]
    assert len(set(hooks)) == 2, hooks
    ids = [m["Message-ID"] for m in messages]
    assert len(set(ids)) == 2, ids
    assert all(i.startswith("<") and i.endswith(">") and "@" in i for i in ids)


def test_the_installation_id_is_made_with_the_database_and_kept(db_url: str) -> None:
    store = Store.open(db_url)
    made = store.installation_id()
    store.close()
    again = Store.open(db_url)  # a new engine reads it back, it is not made again
    assert again.installation_id() == made and len(made) == 32
    again.close()


def test_ids_are_stable_per_story_and_distinct_across_installations() -> None:
    a, b = "a" * 32, "b" * 32
    key = "url:https://example.org/story"
    assert match_alert_id(a, "desk", key) == match_alert_id(a, "desk", key)
    assert match_alert_id(a, "desk", key) != match_alert_id(b, "desk", key)
    assert match_alert_id(a, "desk", key) != match_alert_id(a, "desk", key + "2")
    assert match_alert_id(a, "desk", key) != match_alert_id(a, "ops", key)
    assert stable_alert_id("test", "desk", "x", installation=a) != stable_alert_id(
        "test", "desk", "x", installation=b
    )


@pytest.mark.parametrize("event", ["match", "change", "source", "test"])
def test_ids_fit_the_outbox_column_and_headers(event: str) -> None:
    alert_id = stable_alert_id(event, "c" * 100, "k" * 500, installation="f" * 32)
    assert len(alert_id) <= 80 and alert_id.startswith(event + "-")
