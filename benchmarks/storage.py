"""Scenario 6: per-article ingest cost with 10k / 100k / 1M articles already stored.

For each backend (SQLite in a temp folder; PostgreSQL on 127.0.0.1:5432 in a
database of its own, ``aggbench_<pid>``, dropped afterwards):

1. ``Store.open(url)`` (migrations) and 1,000 feeds via ``sync_feeds``;
2. grow the database to the next size with bulk inserts that write the rows
   ``Store.ingest`` writes for a feed-only article (article, version 1,
   feed entry, full-text row), spread over the 1,000 feeds -- bulk, because
   going through ``ingest`` one by one would take an hour at 1M on PostgreSQL;
3. measure the storage calls the pipeline makes when a feed poll brings 25 new
   items (``feed_state``, ``feed_entries``, ``articles_by_key``,
   ``ingest``, ``update_feed``) over 20 feeds = 500 new articles, ``--runs``
   times; per-article cost = wall time / 500.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
N_FEEDS = 1000
BATCH_FEEDS = 20
ITEMS = 25


METHOD = """For each backend (SQLite in a temp folder; PostgreSQL on 127.0.0.1:5432 in a database \
of its own, `aggbench_<pid>`, dropped afterwards):

1. `Store.open(url)` (migrations) and {feeds:,} feeds via `sync_feeds`;
2. grow the database to the next size with bulk inserts (executemany / COPY) of the rows \
`Store.ingest` writes for a feed-only article (article, version 1, feed entry, full-text row), \
spread over the feeds; bulk, because going through `ingest` would take about an hour at 1M \
on PostgreSQL;
3. time the storage calls of feed polls that each bring {items} new items (`feed_state`, \
`feed_entries`, `articles_by_key`, `ingest`, `update_feed`) for {batch} feeds = {n} new \
articles, `--runs` times; per-article cost = wall time / {n}.

Item texts: {texts}."""


def _api() -> Any:
    """The storage API, or the reason it is not there yet."""
    from aggregator.changes import comparable_hash  # noqa: F401
    from aggregator.ingest import identity  # noqa: F401
    from aggregator.storage import models, records, store  # noqa: F401

    return store


class Texts:
    """A pool of realistic item texts (from the corpora when present), hashed once.

    Articles reuse the pool's texts (with their own key, URL and title), so that
    filling a million rows costs dict building, not a million simhashes.
    """

    def __init__(self, n: int = 3000) -> None:
        from aggregator.changes import comparable_hash
        from aggregator.ingest import identity
        from aggregator.parse.feeds import text_of
        from aggregator.storage.store import search_text
        from benchmarks.corpus import load_material

        m = load_material(600)
        rng = random.Random(7)
        self.source = m.source
        self.items = []
        for _ in range(n):
            title, text = m.title(rng), text_of(m.description(rng))
            self.items.append(
                (
                    title,
                    text,
                    identity.text_hash(text),
                    comparable_hash(text),
                    identity.simhash(text),
                    search_text(text),
                )
            )

    def get(self, i: int) -> tuple[str, str, str, str, int, str]:
        title, *rest = self.items[i % len(self.items)]
        return (f"{title} #{i}", *rest)  # type: ignore[return-value]


def _draft(i: int, texts: Texts, now: datetime) -> Any:
    from aggregator.storage.records import ArticleDraft

    title, text, chash, comp, simh, _ = texts.get(i)
    url = f"https://news{i % 97}.example/{i // 97}/story-{i}.html"
    return ArticleDraft(
        key="url:" + url,
        url=url,
        site=f"news{i % 97}.example",
        title=title,
        author=None,
        summary=text,
        text=text,
        published=now - timedelta(minutes=i % 9999),
        updated=None,
        language="en",
        extracted=False,
        extract_error=None,
        extractor_version="feed",
        content_hash=chash,
        comparable_hash=comp,
        fingerprint=simh,
        monitor=True,
    )


class Backend:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.tmp: str | None = None
        self.dbname: str | None = None
        if kind == "sqlite":
            self.tmp = tempfile.mkdtemp(prefix="aggbench-sqlite-")
            self.url = f"sqlite:///{self.tmp}/bench.db"
        else:
            import psycopg

            self.dbname = f"aggbench_{os.getpid()}"
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}"')
                c.execute(f'CREATE DATABASE "{self.dbname}"')
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.dbname}"

    @classmethod
    def attach(cls, url: str) -> Backend:
        """A database an earlier run kept (``--keep``): measured again, never dropped."""
        be = cls.__new__(cls)
        be.kind = "sqlite" if url.startswith("sqlite") else "postgresql"
        be.tmp, be.dbname, be.url = None, None, url
        return be

    def size_on_disk(self, store: Any) -> str:
        from sqlalchemy import text

        if self.kind == "sqlite":
            p = Path(self.url.split("///", 1)[1])
            n = sum(f.stat().st_size for f in p.parent.glob(p.name + "*"))
        else:
            with store.engine.connect() as c:
                n = c.execute(text("SELECT pg_database_size(current_database())")).scalar()
        return f"{n / 1e6:,.0f} MB"

    def drop(self) -> None:
        if self.kind == "sqlite" and self.tmp:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)
        elif self.dbname:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


def _template(model: Any, **values: Any) -> dict[str, Any]:
    """Every column of ``model``'s table with the model's own defaults, then ``values``."""
    row = model(**values).model_dump()
    return {c.name: row.get(c.name) for c in model.__table__.columns}


def _naive(v: Any, sqlite: bool) -> Any:
    if isinstance(v, datetime):
        v = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else v
    return v


def bulk_fill(
    store: Any,
    feed_ids: list[int],
    start: int,
    stop: int,
    texts: Texts,
    now: datetime,
    chunk: int = 20000,
) -> None:
    """Rows as ``Store.ingest`` writes them for a feed-only article, through the driver
    in bulk (executemany on SQLite, COPY on PostgreSQL)."""
    from aggregator.storage.models import ArticleRow, FeedEntryRow, VersionRow
    from aggregator.storage.sql import search_text, signed64

    sqlite = store.dialect == "sqlite"
    d0 = _draft(0, texts, now)
    a_tpl = _template(
        ArticleRow,
        key="k",
        version_count=1,
        first_seen_at=now,
        last_checked_at=now,
        extracted=False,
        monitor=True,
        language="en",
    )
    v_tpl = _template(
        VersionRow,
        article_id=0,
        number=1,
        text="",
        content_hash="",
        extractor_version=d0.extractor_version,
        fetched_at=now,
    )
    # history: a feed lists its ~25 latest items, so all but those are gone from it
    e_tpl = _template(
        FeedEntryRow,
        feed_id=0,
        article_id=0,
        entry_key="",
        first_seen_at=now,
        last_seen_at=now,
        gone_at=now,
    )
    a_cols, v_cols, e_cols = (
        list(a_tpl),
        [c for c in v_tpl if c != "id"],
        [c for c in e_tpl if c != "id"],
    )
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT coalesce(max(id), 0) FROM article")
        base = cur.fetchone()[0] or 0
        for lo in range(start, stop, chunk):
            hi = min(stop, lo + chunk)
            arts, vers, ents, ftss = [], [], [], []
            for i in range(lo, hi):
                aid = base + (i - start) + 1
                title, text, chash, comp, simh, sbody = texts.get(i)
                url = f"https://news{i % 97}.example/{i // 97}/story-{i}.html"
                a = dict(
                    a_tpl,
                    id=aid,
                    key="url:" + url,
                    url=url,
                    site=f"news{i % 97}.example",
                    title=title,
                    summary=text,
                    text=text,
                    content_hash=chash,
                    fingerprint=signed64(simh),
                    published=now - timedelta(minutes=i % 9999),
                )
                arts.append(tuple(_naive(a[c], sqlite) for c in a_cols))
                v = dict(
                    v_tpl,
                    article_id=aid,
                    title=title,
                    text=text,
                    content_hash=chash,
                    comparable_hash=comp,
                )
                vers.append(tuple(_naive(v[c], sqlite) for c in v_cols))
                e = dict(
                    e_tpl,
                    feed_id=feed_ids[i % len(feed_ids)],
                    article_id=aid,
                    entry_key=f"guid:bench-{i}",
                    fingerprint=chash[:16],
                )
                ents.append(tuple(_naive(e[c], sqlite) for c in e_cols))
                ftss.append((aid, search_text(title), sbody))
            for table, cols, rows in (
                ("article", a_cols, arts),
                ("version", v_cols, vers),
                ("feed_entry", e_cols, ents),
            ):
                names = ", ".join(f'"{c}"' for c in cols)
                if sqlite:
                    marks = ", ".join("?" for _ in cols)
                    cur.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
                else:
                    with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as cp:
                        for r in rows:
                            cp.write_row(r)
            if sqlite:
                cur.executemany(
                    "INSERT INTO article_fts(rowid, title, body) VALUES (?, ?, ?)", ftss
                )
            else:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_fts "
                    "(id bigint, title text, body text) ON COMMIT DELETE ROWS"
                )
                with cur.copy("COPY bench_fts (id, title, body) FROM STDIN") as cp:
                    for r in ftss:
                        cp.write_row(r)
                cur.execute(
                    "INSERT INTO article_fts(article_id, tsv) SELECT id, "
                    "to_tsvector('simple', title || ' ' || body) FROM bench_fts"
                )
            raw.commit()
        if not sqlite:
            for tbl in ("article", "version", "feed_entry"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{tbl}', 'id'), "
                    f"(SELECT max(id) FROM {tbl}))"
                )
            raw.commit()
            old = raw.autocommit
            raw.autocommit = True
            cur.execute("ANALYZE")
            raw.autocommit = old
        else:
            cur.execute("ANALYZE")
            raw.commit()
        cur.close()
    finally:
        raw.close()


def settle(store: Any) -> None:
    """VACUUM (ANALYZE) a PostgreSQL database after a bulk fill: what autovacuum does to
    a table that took a million inserts. This machine's server runs with autovacuum
    off, and without the visibility map no index-only scan is possible, so every count
    read the heap (unread-count at 1M: 5 s unvacuumed, 0.5 s vacuumed). SQLite: no-op
    (bulk_fill ran ANALYZE)."""
    if store.dialect == "sqlite":
        return
    raw = store.engine.raw_connection()
    try:
        raw.autocommit = True
        raw.cursor().execute("VACUUM (ANALYZE)")
    finally:
        raw.close()


def measure_ingest(
    store: Any, feed_names: list[str], first: int, texts: Texts, now: datetime
) -> float:
    """Seconds for BATCH_FEEDS polls with ITEMS new articles each (the pipeline's storage calls)."""
    from aggregator.storage.records import EntryLink, FeedUpdate, IngestBatch

    work = []
    i = first
    for name in feed_names:
        drafts = tuple(_draft(j, texts, now) for j in range(i, i + ITEMS))
        keys = [f"guid:m-{j}" for j in range(i, i + ITEMS)]
        links = tuple(
            EntryLink(k, d.content_hash[:16], draft_index=n)
            for n, (k, d) in enumerate(zip(keys, drafts))
        )
        work.append((name, drafts, keys, links))
        i += ITEMS
    t0 = time.perf_counter()
    for name, drafts, keys, links in work:
        state = store.feed_state(name)
        store.feed_entries(state.id, keys)
        store.articles_by_key([d.key for d in drafts])
        store.ingest(IngestBatch(state.id, drafts, links, now=now), None)
        store.update_feed(
            FeedUpdate(
                state.id,
                polled_at=now,
                next_due_at=now + timedelta(minutes=15),
                status=200,
                etag='"x"',
            )
        )
    return time.perf_counter() - t0


def run_backend(
    kind: str, sizes: list[int], runs: int, texts: Texts, log: Any
) -> list[dict[str, Any]]:
    from aggregator.storage.store import Store

    be = Backend(kind)
    rows: list[dict[str, Any]] = []
    try:
        store = Store.open(be.url)
        now = datetime.now(UTC)
        names = [f"f{i:05d}" for i in range(N_FEEDS)]
        store.sync_feeds(((n, f"http://127.0.0.1:1/{n}.xml") for n in names), now)
        feed_ids = [s.id for s in store.feed_states().values()]
        have = 0
        next_new = 10_000_000
        rng = random.Random(3)
        for size in sizes:
            t0 = time.perf_counter()
            bulk_fill(store, feed_ids, have, size, texts, now)
            fill_s = time.perf_counter() - t0
            have = size
            log(f"    {kind}: {size:,} stored (filled in {fill_s:.0f} s, {be.size_on_disk(store)})")
            per = []
            for _ in range(runs):
                batch = rng.sample(names, BATCH_FEEDS)
                secs = measure_ingest(store, batch, next_new, texts, now)
                next_new += BATCH_FEEDS * ITEMS
                per.append(1000 * secs / (BATCH_FEEDS * ITEMS))
            st = {"median": statistics.median(per), "min": min(per), "max": max(per), "n": len(per)}
            log(
                f"    {kind} @ {size:,}: {st['median']:.3f} ms/article ({st['min']:.3f}–{st['max']:.3f})"
            )
            rows.append(
                {
                    "size": size,
                    "per_article_ms": st,
                    "fill_seconds": fill_s,
                    "db_size": be.size_on_disk(store),
                }
            )
        store.close()
    finally:
        be.drop()
    return rows


def run(opts: Any, log: Any = print) -> dict[str, Any]:
    try:
        _api()
    except Exception as e:  # noqa: BLE001
        return {"status": "not available yet", "detail": f"storage API: {type(e).__name__}: {e}"}
    texts = Texts()
    out: dict[str, Any] = {
        "status": "ok",
        "backends": {},
        "method": METHOD.format(
            feeds=N_FEEDS, batch=BATCH_FEEDS, items=ITEMS, n=BATCH_FEEDS * ITEMS, texts=texts.source
        ),
    }
    for kind in opts.storage_backends:
        try:
            out["backends"][kind] = run_backend(
                kind, sorted(opts.storage_sizes), opts.runs, texts, log
            )
        except Exception as e:  # noqa: BLE001
            import traceback

            log(traceback.format_exc())
            out["backends"][kind] = f"failed: {type(e).__name__}: {str(e)[:300]}"
    verdicts = []
    for kind, rows in out["backends"].items():
        if isinstance(rows, list) and len(rows) >= 2:
            first, last = rows[0], rows[-1]
            r = last["per_article_ms"]["median"] / first["per_article_ms"]["median"]
            ok = "met" if r <= 1.5 else "NOT met"
            verdicts.append(
                f"{kind}: cost at {last['size']:,} is {r:.2f}× the cost at "
                f"{first['size']:,} → {ok if last['size'] >= 1_000_000 and first['size'] <= 10_000 else 'target needs 10k and 1M'}"
            )
    out["verdicts"] = verdicts
    return out
