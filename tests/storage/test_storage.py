"""Storage on SQLite and PostgreSQL: migrations, idempotent ingest, concurrent writers."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from aggregator.storage.db import current_revision, make_engine, upgrade
from aggregator.storage.records import ArticleDraft, EntryLink, IngestBatch, MatchDraft
from aggregator.storage.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _draft(key: str, text: str = "Les contrôles à l'exportation de puces") -> ArticleDraft:
    return ArticleDraft(
        key=key,
        url=key.removeprefix("url:"),
        site="x.example",
        title="T",
        author=None,
        summary=None,
        text=text,
        published=NOW,
        updated=None,
        language="fr",
        extracted=False,
        extract_error=None,
        extractor_version="feed",
        content_hash="h",
        comparable_hash="",
        fingerprint=(1 << 63) + 5,
    )


def _batch(feed_id: int, key: str, entry: str) -> IngestBatch:
    return IngestBatch(
        feed_id,
        (_draft(key),),
        (EntryLink(entry, "fp", draft_index=0),),
        matches={0: (MatchDraft("t", ("puces",), ({"text": "x"},)),)},
        now=NOW,
    )


def test_migrations_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)
    from alembic.script import ScriptDirectory

    from aggregator.storage.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert len(heads) == 1  # one chain: each migration revises the one before it
    assert current_revision(engine) == heads[0]


def test_a_0002_database_gains_the_live_entries_index(db_url: str) -> None:
    from sqlalchemy import inspect

    engine = make_engine(db_url)
    upgrade(engine, "0002")
    assert "ix_feed_entry_live" not in {
        i["name"] for i in inspect(engine).get_indexes("feed_entry")
    }
    store = Store.open(db_url)  # migrates to head on open
    assert "ix_feed_entry_live" in {
        i["name"] for i in inspect(store.engine).get_indexes("feed_entry")
    }


def test_ingest_twice_stores_once_and_links_both_feeds(db_url: str) -> None:
    store = Store.open(db_url)
    store.sync_feeds([("a", "http://a.example/f"), ("b", "http://b.example/f")], NOW)
    states = store.feed_states()
    [first] = store.ingest(_batch(states["a"].id, "url:https://x.example/1", "e1"))
    [again] = store.ingest(_batch(states["b"].id, "url:https://x.example/1", "e9"))
    assert first == again
    art = store.get_article(first)
    assert art.feeds == ("a", "b") and art.versions == 1
    assert [m.topic for m in art.matches] == ["t"]
    assert len(store.versions(first)) == 1
    assert store.fts_candidates(["controles"], 10) == [first]


def test_a_group_commit_indexes_every_feeds_articles_once(db_url: str) -> None:
    """ingest_many writes the full-text rows of all its feeds at the end: each new
    article is searchable, a story two feeds share in one group is indexed once."""
    store = Store.open(db_url)
    store.sync_feeds([(f"f{i}", f"http://f{i}.example/") for i in range(3)], NOW)
    states = store.feed_states()
    texts = [
        "Les contrôles à l'exportation de puces",
        "Ausfuhrkontrollen für Chips",
        "Export controls on chips",
    ]
    batches = [
        IngestBatch(
            states[f"f{i}"].id,
            (_draft(f"url:https://x.example/{i}", texts[i]),),
            (EntryLink("e", "fp", draft_index=0),),
            now=NOW,
        )
        for i in range(3)
    ]
    shared = IngestBatch(
        states["f0"].id,
        (_draft("url:https://x.example/2", texts[2]),),
        (EntryLink("e2", "fp", draft_index=0),),
        now=NOW,
    )
    ids = [i for [i] in store.ingest_many([(b, None) for b in [*batches, shared]])]
    assert ids[3] == ids[2]
    assert store.fts_candidates(["controles"], 10) == [ids[0]]
    assert store.fts_candidates(["ausfuhr"], 10) == [ids[1]]
    assert store.fts_candidates(["export"], 10) == [ids[2], ids[0]]
    assert store.fts_candidates(["chips"], 10) == [ids[2], ids[1]]


def _big_batch(feed_id: int, n: int) -> IngestBatch:
    words = " ".join(f"mot{i}" for i in range(4000))
    drafts = tuple(_draft(f"url:https://x.example/big/{i}", f"{i} {words}") for i in range(n))
    links = tuple(EntryLink(f"e{i}", "fp", draft_index=i) for i in range(n))
    return IngestBatch(feed_id, drafts, links, now=NOW)


def test_checkpoint_moves_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = Store.open(f"sqlite:///{path}")
    store.sync_feeds([("a", "http://a.example/f")], NOW)
    store.ingest(_big_batch(store.feed_states()["a"].id, 20))
    before = path.stat().st_size
    assert Path(f"{path}-wal").stat().st_size > 500_000  # the rows are in the log
    store.checkpoint()
    assert path.stat().st_size > before + 500_000
    assert len(store.list_articles(limit=100)) == 20


def test_group_commits_checkpoint_beside_the_writer(tmp_path: Path) -> None:
    from aggregator.ingest.writer import IngestWriter

    path = tmp_path / "w.db"
    store = Store.open(f"sqlite:///{path}")
    store.sync_feeds([(f"f{i}", f"http://f{i}.example/") for i in range(3)], NOW)
    states = store.feed_states()
    before = path.stat().st_size

    async def ingest() -> list[list[int]]:
        writer = IngestWriter(store)
        ids = await asyncio.gather(
            *(writer.write(_big_batch(states[f"f{i}"].id, 5), None) for i in range(3))
        )
        await writer.aclose()  # what Aggregator.running() does on the way out
        return ids

    ids = asyncio.run(ingest())
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 5  # same stories in 3 feeds
    assert path.stat().st_size > before + 500_000  # checkpointed without a commit doing it


def test_checkpoint_is_harmless_everywhere(db_url: str) -> None:
    store = Store.open(db_url)
    store.checkpoint()  # PostgreSQL: nothing to do; SQLite: an empty log
    Store.open("sqlite://").checkpoint()  # in memory: no log at all


def test_concurrent_writers_of_one_story_store_it_once(db_url: str) -> None:
    stores = [Store.open(db_url) for _ in range(2)]
    stores[0].sync_feeds([(f"f{i}", f"http://f{i}.example/") for i in range(8)], NOW)
    states = stores[0].feed_states()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        try:
            barrier.wait()
            stores[i % 2].ingest(_batch(states[f"f{i}"].id, "url:https://x.example/race", "e"))
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [art] = stores[0].list_articles()
    assert len(stores[0].versions(art.id)) == 1
    assert len(stores[0].get_article(art.id).feeds) == 8


def test_simhash_survives_signed_bigint(db_url: str) -> None:
    from aggregator.storage.models import ArticleRow
    from aggregator.storage.store import unsigned64

    store = Store.open(db_url)
    store.sync_feeds([("a", "http://a.example/f")], NOW)
    [aid] = store.ingest(_batch(store.feed_states()["a"].id, "url:https://x.example/2", "e"))
    with store.session() as s:
        row = s.get(ArticleRow, aid)
        assert row is not None and unsigned64(row.fingerprint) == (1 << 63) + 5


def test_fts_body_indexes_a_summary_only_when_the_text_lacks_it() -> None:
    from aggregator.storage.store import fts_body

    assert fts_body("Same words.", "Same words.") == "Same words."
    assert fts_body("Lead.", "Lead.\n\nMore.") == "Lead.\n\nMore."
    assert fts_body(None, "Body.") == "Body."
    assert fts_body("A teaser.", "The page text.") == "A teaser.\nThe page text."


def test_feed_entries_known_listed_and_gone(db_url: str) -> None:
    """What a poll compares against: entries under its keys (gone or not) and every entry
    the feed still lists; gone_keys and seen_keys move entries between the two."""
    from dataclasses import replace

    store = Store.open(db_url)
    store.sync_feeds([("a", "http://a.example/f")], NOW)
    fid = store.feed_states()["a"].id
    drafts = tuple(_draft(f"url:https://x.example/{i}") for i in range(3))
    links = tuple(EntryLink(f"e{i}", f"fp{i}", draft_index=i) for i in range(3))
    store.ingest(IngestBatch(fid, drafts, links, now=NOW))

    listed = store.feed_entries(fid, ["e0", "zz"])
    assert set(listed) == {"e0", "e1", "e2"}  # e1, e2 still listed though not asked for
    assert listed["e0"].fingerprint == "fp0" and not listed["e0"].gone
    assert listed["e0"].when == NOW  # the article's publication date

    store.ingest(IngestBatch(fid, gone_keys=("e1", "e2"), now=NOW))
    after = store.feed_entries(fid, ["e0"])
    assert set(after) == {"e0"}  # gone entries are not read unless asked for
    asked = store.feed_entries(fid, ["e1"])
    assert asked["e1"].gone and not asked["e0"].gone

    store.ingest(replace(IngestBatch(fid, now=NOW), seen_keys=("e1",)))  # listed again
    assert set(store.feed_entries(fid, [])) == {"e0", "e1"}
