"""The listing reads in SQLAlchemy Core (`storage.light`), on SQLite and PostgreSQL: what
a read-only command opens instead of the ORM Store, and what the Store itself runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean

from aggregator.exceptions import SchemaError
from aggregator.storage import light, models
from aggregator.storage.coltypes import UTCDateTime
from aggregator.storage.light import LightStore
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
    ("core", "orm"),
    [
        (light.FEED, models.FeedRow),
        (light.ARTICLE, models.ArticleRow),
        (light.FEED_ENTRY, models.FeedEntryRow),
        (light.MATCH, models.MatchRow),
    ],
)
def test_the_core_columns_are_the_models_columns_with_their_types(
    core: object, orm: object
) -> None:
    """A column read by name must exist, and convert as the ORM converts it (aware UTC
    times, booleans, JSON): the tables are declared once, in storage.models."""
    table = orm.__table__  # type: ignore[attr-defined]
    assert core.name == table.name  # type: ignore[attr-defined]
    for c in core.c:  # type: ignore[attr-defined]
        model_type = type(table.c[c.name].type)
        for special in (UTCDateTime, JSON, Boolean):
            assert isinstance(c.type, special) == issubclass(model_type, special), c.name


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
    reader = LightStore.open_current(db_url)
    try:
        states = reader.feed_states()
        assert states == writer.feed_states()
        a = states["a"]
        assert a.next_due_at == NOW + timedelta(minutes=15)
        assert a.next_due_at.tzinfo is not None  # aware UTC, as the ORM gives
        assert a.warnings == ("guessed encoding",) and a.title == "Feed A"
        assert reader.feed_states(["b"]).keys() == {"b"}
        counts = reader.feed_article_counts()
        assert counts == {states["a"].id: 2, states["b"].id: 2}

        newest = reader.list_articles()
        assert [x.url for x in newest] == [
            "https://x.example/3",
            "https://x.example/2",
            "https://x.example/1",
        ]
        both = newest[2]
        assert both.feeds == ("a", "b") and both.extracted is True
        assert both.first_seen_at.tzinfo is not None and both.published is not None
        assert both.text is None and both.summary is None  # a listing: no bodies
        urls = [x.url for x in reader.list_articles(feed="a")]
        assert urls == ["https://x.example/2", "https://x.example/1"]
        assert [x.url for x in reader.list_articles(topic="t")] == ["https://x.example/2"]
        since = reader.list_articles(since=NOW - timedelta(hours=1))
        assert [x.url for x in since] == ["https://x.example/3"]
        recent = reader.list_articles(published_since=NOW - timedelta(days=1))
        assert [x.url for x in recent] == ["https://x.example/3"]  # undated ones left out
        assert len(reader.list_articles(limit=1)) == 1
        assert writer.list_articles(feed="b") == reader.list_articles(feed="b")
    finally:
        reader.close()
        writer.close()


def test_light_never_creates_a_database(tmp_path: Path) -> None:
    path = tmp_path / "none" / "agg.db"
    with pytest.raises(SchemaError, match="does not exist yet"):
        LightStore.open_current(f"sqlite:///{path}")
    assert not path.parent.exists()
