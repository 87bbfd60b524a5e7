"""Per-user read/starred state and streams through the facade, on SQLite and PostgreSQL:
what the desk shows and what the reader API exposes to apps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aggregator import make_aggregator
from aggregator.core import Aggregator
from aggregator.exceptions import NotFoundError, UsageError
from aggregator.types import StreamFilter
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.web.conftest import TOPIC, Clock

MATCHING = "Les contrôles à l'exportation de puces Nvidia vers la Chine, épisode {i}"
OTHER = "La Bourse de Paris termine la séance {i} en légère hausse"


def bulk_feed(server: LoopbackServer, path: str, items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{server.url(f'{path}/{i}')}</link>"
        f"<guid>{server.url(f'{path}/{i}')}</guid><description>{d}</description></item>"
        for i, (t, d) in enumerate(items)
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{path}'
        f"</title><link>{server.url('/')}</link><language>fr</language>{body}</channel></rss>"
    )
    return server.route(f"{path}.xml", xml, content_type="application/rss+xml")


def agg_with(tmp_path: Path, server: LoopbackServer, db_url: str, n: int = 30) -> Aggregator:
    """Feed `wire` with n stories, every third matching the topic; feed `bourse` with 5 others."""
    items = [
        (MATCHING.format(i=i) if i % 3 == 0 else OTHER.format(i=i), f"Texte {i}.") for i in range(n)
    ]
    feeds = [
        {"name": "wire", "url": bulk_feed(server, "/wire", items), "tags": ["agency"]},
        {
            "name": "bourse",
            "url": bulk_feed(server, "/bourse", [(OTHER.format(i=100 + i), "x") for i in range(5)]),
        },
    ]
    cfg = write_config(tmp_path, feeds, topics=[TOPIC], database=db_url)
    clock = Clock()
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    agg.poll(["wire"])
    clock.now += timedelta(minutes=5)
    agg.poll(["bourse"])
    return agg


def ids(agg: Aggregator, **kw: object) -> list[int]:
    out: list[int] = []
    before = None
    while True:
        page = agg.stream(StreamFilter(**{"limit": 7, **kw, "before": before}))  # type: ignore[arg-type]
        out += [i.article.id for i in page.items]
        if page.next_before is None:
            return out
        before = page.next_before


def test_streams_page_by_keyset_newest_first(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    with agg_with(tmp_path, http_server, db_url) as agg:
        everything = ids(agg)
        assert len(everything) == 35 and everything == sorted(everything, reverse=True)
        topic = ids(agg, topic="export-controls")
        assert len(topic) == 10 and set(topic) < set(everything)
        assert ids(agg, matched=True) == topic
        assert len(ids(agg, feed="bourse")) == 5
        assert ids(agg, tag="agency") == [i for i in everything if i not in ids(agg, feed="bourse")]
        oldest = agg.stream(StreamFilter(oldest_first=True, limit=4))
        assert [i.article.id for i in oldest.items] == sorted(everything)[:4]
        after = agg.stream(StreamFilter(oldest_first=True, limit=4, after=oldest.next_after))
        assert [i.article.id for i in after.items] == sorted(everything)[4:8]
        page = agg.stream(StreamFilter(topic="export-controls", limit=3))
        assert all(i.match is not None and i.match.topic == "export-controls" for i in page.items)
        assert all("Nvidia" in i.match.terms for i in page.items if i.match)


def test_read_unread_starred_per_user(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    with agg_with(tmp_path, http_server, db_url) as agg:
        topic = ids(agg, topic="export-controls")
        agg.set_read("ana", topic[:4])
        agg.set_starred("ana", [topic[1], topic[6]])
        assert ids(agg, user="ana", topic="export-controls", read=False) == topic[4:]
        assert ids(agg, user="ana", topic="export-controls", read=True) == topic[:4]
        assert ids(agg, user="ana", starred=True) == [topic[1], topic[6]]
        assert ids(agg, user="ana", starred=True, read=False) == [topic[6]]
        assert ids(agg, user="ben", topic="export-controls", read=False) == topic  # own state
        state = agg.triage("ana", [topic[1], topic[5]])
        assert state[topic[1]].read and state[topic[1]].starred
        assert not state[topic[5]].read and not state[topic[5]].starred
        assert agg.count_stream(StreamFilter(user="ana", read=False)) == 35 - 4
        agg.set_read("ana", [topic[0]], read=False)
        agg.set_starred("ana", [topic[1]], starred=False)
        assert ids(agg, user="ana", starred=True) == [topic[6]]
        assert topic[0] in ids(agg, user="ana", read=False)
        page = agg.stream(StreamFilter(user="ana", topic="export-controls", limit=50))
        assert [i.triage.read for i in page.items][:4] == [False, True, True, True]


def test_mark_all_read_moves_a_watermark_and_keeps_later_stories_unread(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    with agg_with(tmp_path, http_server, db_url) as agg:
        everything = ids(agg)
        wire_time = agg.article(everything[-1]).first_seen_at
        agg.set_starred("ana", [everything[-1]])
        # everything first seen up to the wire poll: the 30 wire stories, not bourse's 5
        agg.mark_all_read(StreamFilter(user="ana"), until=wire_time)
        unread = ids(agg, user="ana", read=False)
        assert len(unread) == 5 and unread == ids(agg, feed="bourse")
        assert len(ids(agg, user="ana", read=True)) == 30
        assert ids(agg, user="ana", starred=True) == [everything[-1]]  # stars are kept
        # marked unread again below the watermark: unread, and found without a scan
        agg.set_read("ana", [everything[-1], everything[-2]], read=False)
        assert ids(agg, user="ana", read=False) == unread + [everything[-2], everything[-1]]
        assert agg.count_stream(StreamFilter(user="ana", read=False)) == 7
        assert agg.count_stream(StreamFilter(user="ana", read=False), cap=3) == 3
        agg.mark_all_read(StreamFilter(user="ana"))
        assert ids(agg, user="ana", read=False) == []
        assert ids(agg, user="ben", read=False) == everything


def test_mark_all_read_of_one_topic_or_feed_leaves_the_rest(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    with agg_with(tmp_path, http_server, db_url) as agg:
        topic = ids(agg, topic="export-controls")
        n = agg.mark_all_read(StreamFilter(user="ana", topic="export-controls"))
        assert n == 10
        assert ids(agg, user="ana", topic="export-controls", read=False) == []
        assert len(ids(agg, user="ana", read=False)) == 25
        assert agg.mark_all_read(StreamFilter(user="ana", topic="export-controls")) == 0
        agg.mark_all_read(StreamFilter(user="ana", feed="bourse"))
        assert set(ids(agg, user="ana", read=True)) == set(topic) | set(ids(agg, feed="bourse"))


def test_bad_arguments_are_clear_errors(tmp_path: Path, http_server: LoopbackServer) -> None:
    with agg_with(tmp_path, http_server, f"sqlite:///{tmp_path / 'x.db'}", n=3) as agg:
        with pytest.raises(UsageError):
            agg.mark_all_read(StreamFilter())
        aid = ids(agg)[0]
        with pytest.raises(NotFoundError) as e:
            agg.compare_versions(aid, 1, 2)
        assert "no version 2" in str(e.value) and e.value.hint
        assert agg.stream(StreamFilter(feed="no-such-feed")).items == ()


def test_the_secret_is_one_per_database(tmp_path: Path, http_server: LoopbackServer) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with agg_with(tmp_path, http_server, url, n=1) as agg:
        first = agg.desk_secret()
    with make_aggregator(tmp_path / "feeds.yaml", extract_workers=0) as agg:
        assert agg.desk_secret() == first and len(first) == 32
