"""Unread counts (the reader API's unread-count) and the narrower streams, against a
brute-force reading of the desk's rule, on SQLite and PostgreSQL.

The counts are computed in parts for speed at 1M stories (storage/reader_api.py: per
feed above the watermark, less the marked-read, plus the marked-unread below it; tags,
topics and the whole list capped). These tests build every case those parts treat
apart: a watermark, stories marked read above it and unread again below it, starred-only
rows, marks on ids that are no story, a story carried by two feeds of one tag, a story
listed twice by one feed, and caps that cut each count.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from aggregator import make_aggregator
from aggregator.core import Aggregator
from aggregator.storage.models import desk_state, desk_user
from aggregator.types import StreamFilter
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.web.conftest import TOPIC, Clock
from tests.web.test_triage import MATCHING, OTHER, bulk_feed

USER = "desk"


def rss(server: LoopbackServer, path: str, items: list[tuple[str, str, str]]) -> str:
    """A feed of (guid, link, title) items: several guids may share a link (one story)."""
    body = "".join(
        f"<item><title>{t}</title><link>{server.url(link)}</link><guid>{guid}</guid>"
        f"<description>{t} texte.</description></item>"
        for guid, link, t in items
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{path}'
        f"</title><link>{server.url('/')}</link><language>fr</language>{body}</channel></rss>"
    )
    return server.route(f"{path}.xml", xml, content_type="application/rss+xml")


def filled(tmp_path: Path, server: LoopbackServer, db_url: str) -> Aggregator:
    """wire (24 stories, every third on the topic), echo (six of wire's stories again,
    one of them under two guids, and 3 of its own), bourse (5 others); tags: agency =
    wire + echo, all = every feed, solo = bourse alone."""
    items = [
        (MATCHING.format(i=i) if i % 3 == 0 else OTHER.format(i=i), f"Texte {i}.")
        for i in range(24)
    ]
    wire = bulk_feed(server, "/wire", items)
    echo_items = [(f"echo-{i}", f"/wire/{i}", items[i][0]) for i in range(0, 12, 2)]
    echo_items += [("echo-again-0", "/wire/0", items[0][0])]
    echo_items += [(f"own-{i}", f"/echo/{i}", OTHER.format(i=200 + i)) for i in range(3)]
    feeds = [
        {"name": "wire", "url": wire, "tags": ["agency", "all"]},
        {"name": "echo", "url": rss(server, "/echo", echo_items), "tags": ["agency", "all"]},
        {
            "name": "bourse",
            "url": bulk_feed(server, "/bourse", [(OTHER.format(i=100 + i), "x") for i in range(5)]),
            "tags": ["all", "solo"],
        },
    ]
    cfg = write_config(tmp_path, feeds, topics=[TOPIC], database=db_url)
    clock = Clock()
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    agg.poll(["wire"])
    clock.now += timedelta(minutes=5)
    agg.poll(["echo"])
    clock.now += timedelta(minutes=5)
    agg.poll(["bourse"])
    return agg


def reference(agg: Aggregator, cap: int) -> dict[str, object]:
    """Unread per stream, straight from the rule: above the watermark unless marked
    read, below it only when marked unread again."""
    with agg.store.engine.connect() as c:
        w = c.execute(sa.select(desk_user.c.read_through).where(desk_user.c.name == USER))
        mark = int(w.scalar() or 0)
        marks = {a: r for a, r in c.execute(sa.select(desk_state.c.article_id, desk_state.c.read)
                                            .where(desk_state.c.user_name == USER))}  # fmt: skip
        stories = {r[0] for r in c.execute(sa.text("SELECT id FROM article"))}
        entries = list(c.execute(sa.text(
            "SELECT feed.name, feed_entry.article_id FROM feed_entry "
            "JOIN feed ON feed.id = feed_entry.feed_id")))  # fmt: skip
        matched = {r[0] for r in c.execute(sa.text(
            "SELECT article_id FROM match WHERE topic = 'export-controls'"))}  # fmt: skip
    seen = agg.first_seen(list(stories))
    unread = {
        a for a in stories if (marks.get(a) is not True if a > mark else marks.get(a) is False)
    }
    of = {n: {a for f, a in entries if f == n} for n in ("wire", "echo", "bourse")}
    tags = {"agency": of["wire"] | of["echo"], "all": set(stories), "solo": of["bourse"]}
    return {
        "feeds": {n: min(cap, len(s & unread)) for n, s in of.items()},
        "tags": {t: min(cap, len(s & unread)) for t, s in tags.items() if s & unread},
        "topic": min(cap, len(matched & unread)),
        "total": min(cap, len(unread)),
        "newest": {n: seen[max(s)] for n, s in of.items()},
    }


def counted(agg: Aggregator, cap: int) -> dict[str, object]:
    c = agg.reader_unread_counts(USER, cap)
    return {
        "feeds": {n: k for n, (k, _) in c.feeds.items()},
        "tags": {t: k for t, (k, _) in c.tags.items()},
        "topic": c.topics["export-controls"][0],
        "total": c.total[0],
        "newest": {n: when for n, (_, when) in c.feeds.items()},
    }


def assert_counts(agg: Aggregator) -> None:
    for cap in (1000, 10, 3, 1):
        want, got = reference(agg, cap), counted(agg, cap)
        assert got == want, cap


def test_unread_counts_follow_the_rule_through_every_kind_of_mark(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    with filled(tmp_path, http_server, db_url) as agg:
        with agg.store.engine.connect() as c:  # the cases the counts split on, present
            twice = c.execute(sa.text(
                "SELECT count(*) FROM (SELECT feed_id, article_id FROM feed_entry "
                "GROUP BY feed_id, article_id HAVING count(*) > 1) d")).scalar()  # fmt: skip
            shared = c.execute(sa.text(
                "SELECT count(DISTINCT article_id) FROM feed_entry e WHERE EXISTS (SELECT 1 "
                "FROM feed_entry o WHERE o.article_id = e.article_id AND o.feed_id <> e.feed_id)"
            )).scalar()  # fmt: skip
        assert twice == 1 and shared == 6
        everything = agg.stream_ids(StreamFilter(limit=1000))
        assert_counts(agg)  # nothing marked, no watermark
        agg.set_read(USER, everything[::4])  # marked read, no watermark
        agg.set_starred(USER, everything[1::5])  # starred only: read stays NULL
        agg.set_read(USER, [10**9], True)  # no such story
        assert_counts(agg)
        agg.mark_all_read(StreamFilter(user=USER))  # the watermark covers everything
        assert_counts(agg)
        agg.set_read(USER, everything[::3], False)  # unread again, below the watermark
        agg.set_read(USER, [10**9 + 1], False)  # no such story, "unread"
        assert_counts(agg)
        with agg.store.engine.begin() as c:  # stories above the watermark, some read
            top = max(everything)
            c.execute(desk_user.update().values(read_through=top - 9))
        agg.set_read(USER, [top, top - 2, top - 4], True)
        assert_counts(agg)


def test_tag_and_topic_streams_list_each_story_once_newest_first(
    tmp_path: Path, http_server: LoopbackServer, db_url: str
) -> None:
    """The narrower streams read their ids from the entries' or matches' index and join
    the stories after the page is cut: the same ids, once each, and the fingerprints."""
    with filled(tmp_path, http_server, db_url) as agg:
        with agg.store.engine.connect() as c:
            agency = sorted({r[0] for r in c.execute(sa.text(
                "SELECT article_id FROM feed_entry JOIN feed ON feed.id = feed_entry.feed_id "
                "WHERE feed.name IN ('wire', 'echo')"))}, reverse=True)  # fmt: skip
            topic = sorted({r[0] for r in c.execute(sa.text(
                "SELECT article_id FROM match"))}, reverse=True)  # fmt: skip
            prints = dict(c.execute(sa.text("SELECT id, fingerprint FROM article")).all())
        for kw, want in (({"tag": "agency"}, agency), ({"topic": "export-controls"}, topic)):
            got: list[int] = []
            before = None
            while True:
                f = StreamFilter(limit=4, before=before, **kw)  # type: ignore[arg-type]
                rows = agg.store.desk.stream(f, agg.store.desk.feed_ids(["wire", "echo"])
                                             if "tag" in kw else None)  # fmt: skip
                assert all(r.fingerprint == prints[r.article_id] for r in rows)
                got += [r.article_id for r in rows[:4]]
                if len(rows) <= 4:
                    break
                before = rows[3].article_id
            assert got == want, kw
            oldest = agg.stream_ids(StreamFilter(limit=1000, oldest_first=True, **kw))  # type: ignore[arg-type]
            assert oldest == sorted(want)
        agg.set_read(USER, agency[:3])
        unread = agg.stream_ids(StreamFilter(user=USER, read=False, tag="agency", limit=1000))
        assert unread == agency[3:]
        assert agg.count_stream(StreamFilter(user=USER, read=False, tag="agency")) == len(
            agency[3:]
        )
