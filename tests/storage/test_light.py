"""The listing reads in plain SQL (`storage.light`), on SQLite and PostgreSQL: what a
read-only command opens instead of the ORM Store (a SQLite file through sqlite3 alone),
and what the Store itself runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean

from aggregator.exceptions import SchemaError
from aggregator.storage import light, models
from aggregator.storage.coltypes import UTCDateTime
from aggregator.storage.light import EngineReads, ListingReads, SqliteReads, open_reads
from aggregator.storage.records import (
    ArticleDraft,
    EntryLink,
    FeedMeta,
    FeedUpdate,
    IngestBatch,
    MatchDraft,
)
from aggregator.storage.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("columns", "orm"),
    [(light.FEED_COLUMNS, models.FeedRow), (light.ARTICLE_COLUMNS, models.ArticleRow)],
)
def test_the_columns_read_are_the_models_with_their_kinds(
    columns: dict[str, str | None], orm: object
) -> None:
    """A column read by name must exist, and be converted as the ORM converts it (aware
    UTC times, JSON, booleans): the tables are declared once, in storage.models."""
    table = orm.__table__  # type: ignore[attr-defined]
    for name, kind in columns.items():
        model_type = table.c[name].type
        assert isinstance(model_type, UTCDateTime) == (kind == "time"), name
        assert isinstance(model_type, JSON) == (kind == "json"), name
        assert isinstance(model_type, Boolean) == (kind == "bool"), name


def _draft(key: str, published: datetime | None) -> ArticleDraft:
    return ArticleDraft(
        key=key,
        url=key.removeprefix("url:"),
        site="x.example",
        title=f"Title {key}",
        author="A",
        summary=None,
        text="Les contrôles à l'exportation de puces",
        published=published,
        updated=None,
        language="fr",
        extracted=True,
        extract_error=None,
        extractor_version="feed",
        content_hash="h",
        comparable_hash="",
        fingerprint=5,
    )


def _fill(url: str) -> Store:
    """Two feeds, three articles (one in both feeds, one matched by topic t), and a
    poll's state with warnings on feed a."""
    store = Store.open(url)
    store.sync_feeds([("a", "http://a.example/f"), ("b", "http://b.example/f")], NOW)
    ids = {n: s.id for n, s in store.feed_states().items()}
    old = NOW - timedelta(days=3)
    store.ingest(
        IngestBatch(
            ids["a"],
            (_draft("url:https://x.example/1", old), _draft("url:https://x.example/2", None)),
            (EntryLink("e1", "fp", draft_index=0), EntryLink("e2", "fp", draft_index=1)),
            matches={1: (MatchDraft("t", ("puces",), ({"text": "x"},)),)},
            now=NOW - timedelta(hours=2),
        )
    )
    store.ingest(
        IngestBatch(
            ids["b"],
            (_draft("url:https://x.example/1", old), _draft("url:https://x.example/3", NOW)),
            (EntryLink("e1", "fp", draft_index=0), EntryLink("e3", "fp", draft_index=1)),
            now=NOW,
        )
    )
    meta = FeedMeta("Feed A", None, "url", ("guessed encoding",))
    store.update_feed(
        FeedUpdate(ids["a"], NOW, NOW + timedelta(minutes=15), 200, body_hash="b", meta=meta)
    )
    return store


def test_light_reads_what_the_store_wrote(db_url: str) -> None:
    writer = _fill(db_url)
    reader = open_reads(db_url)
    assert isinstance(reader, SqliteReads if db_url.startswith("sqlite") else EngineReads)
    try:
        for reads in (reader, writer):  # the read-only opening, and the Store's own
            check_listing(reads)
        assert writer.list_articles(feed="b") == reader.list_articles(feed="b")
        assert writer.feed_states() == reader.feed_states()
    finally:
        reader.close()
        writer.close()


def check_listing(reads: ListingReads) -> None:
    states = reads.feed_states()
    a = states["a"]
    assert a.next_due_at == NOW + timedelta(minutes=15)
    assert a.next_due_at.tzinfo is not None  # aware UTC, as the ORM gives
    assert a.warnings == ("guessed encoding",) and a.title == "Feed A"
    assert reads.feed_states(["b"]).keys() == {"b"}
    assert reads.feed_states([]) == {}
    counts = reads.feed_article_counts()
    assert counts == {states["a"].id: 2, states["b"].id: 2}

    newest = reads.list_articles()
    urls = [x.url for x in newest]
    assert urls == ["https://x.example/3", "https://x.example/2", "https://x.example/1"]
    both = newest[2]
    assert both.feeds == ("a", "b") and both.extracted is True
    assert both.first_seen_at == NOW - timedelta(hours=2)
    assert both.published == NOW - timedelta(days=3)
    assert both.text is None and both.summary is None  # a listing: no bodies
    urls = [x.url for x in reads.list_articles(feed="a")]
    assert urls == ["https://x.example/2", "https://x.example/1"]
    assert [x.url for x in reads.list_articles(topic="t")] == ["https://x.example/2"]
    since = reads.list_articles(since=NOW - timedelta(hours=1))
    assert [x.url for x in since] == ["https://x.example/3"]
    assert len(reads.list_articles(since=NOW - timedelta(hours=2))) == 3  # bound included
    recent = reads.list_articles(published_since=NOW - timedelta(days=1))
    assert [x.url for x in recent] == ["https://x.example/3"]  # undated ones left out
    assert len(reads.list_articles(limit=1)) == 1
    assert [x.url for x in reads.list_articles(ids=[newest[0].id])] == ["https://x.example/3"]
    assert reads.list_articles(ids=[]) == []


def test_light_never_creates_a_database(tmp_path: Path) -> None:
    path = tmp_path / "none" / "agg.db"
    with pytest.raises(SchemaError, match="does not exist yet"):
        open_reads(f"sqlite:///{path}")
    assert not path.parent.exists()
    path.parent.mkdir()
    path.touch()
    with pytest.raises(SchemaError, match="is new: it has no tables"):
        open_reads(f"sqlite:///{path}?timeout=1")
    assert path.stat().st_size == 0  # not even a first page written


def test_other_sqlite_urls_go_through_sqlalchemy(tmp_path: Path) -> None:
    plain = f"sqlite:///{tmp_path / 'a.db'}"
    _fill(plain).close()
    reads = SqliteReads.open_current(plain + "?timeout=2")
    assert reads is not None
    reads.close()
    for url in (
        "sqlite://",
        "sqlite:///:memory:",
        plain.replace("sqlite:", "sqlite+pysqlite:"),
        f"sqlite:///{tmp_path}/a%2Edb",
    ):
        assert SqliteReads.open_current(url) is None, url
    engine_reads = open_reads(plain.replace("sqlite:", "sqlite+pysqlite:"))
    assert isinstance(engine_reads, EngineReads) and len(engine_reads.list_articles()) == 3
    engine_reads.close()
