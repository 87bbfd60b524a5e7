"""Per-item CPU of each stage of a cold poll, in one process, on the farm's feeds.

    python -m benchmarks.stages [--feeds 200]

The wall time of scenario 1 mixes everything (three busy threads and two worker
processes on two cores); this times the stages alone, so that a change to one of
them can be judged on its own: parse, text, language, the rest of prepare_feed,
the pickling between processes, and the database writes (group-committed
`Store.ingest_many` on a fresh SQLite file). No network: the feeds are rendered
in memory.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.farm import Farm


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def _drafts(prepared: Any, feed_id: int, now: datetime) -> Any:
    from aggregator.storage.records import ArticleDraft, EntryLink, IngestBatch

    drafts, links = [], []
    for j, (e, p) in enumerate(zip(prepared.parsed.entries, prepared.prepared)):
        drafts.append(
            ArticleDraft(
                key=p.article_key,
                url=e.url,
                site="127.0.0.1",
                title=e.title,
                author=e.author,
                summary=p.summary_text,
                text=p.text,
                published=e.published,
                updated=e.updated,
                language=p.language,
                extracted=False,
                extract_error=None,
                extractor_version="feed",
                content_hash=p.content_hash,
                comparable_hash="",
                fingerprint=None,
                next_check_at=now + timedelta(minutes=15),
            )
        )
        links.append(EntryLink(f"id:{e.id}", p.fingerprint, draft_index=j))
    return IngestBatch(feed_id, tuple(drafts), tuple(links), now=now)


def run(n_feeds: int) -> dict[str, float]:
    from aggregator.extract.language import detect_language
    from aggregator.ingest.prepare import prepare_feed
    from aggregator.parse.feeds import parse_feed, text_of
    from aggregator.storage.store import Store

    farm = Farm(n_feeds, 25, backend="aiohttp")
    docs = [(farm.render(i), farm.url(i)) for i in range(n_feeds)]
    detect_language("load the model before the clock starts")
    t_parse, parsed = _timed(lambda: [parse_feed(d, url=u) for d, u in docs])
    entries = [e for p in parsed for e in p.entries]
    t_text, texts = _timed(lambda: [text_of(e.content or e.summary) for e in entries])
    t_lang, _ = _timed(lambda: [detect_language(f"{e.title}\n{t}") for e, t in zip(entries, texts)])
    t_prep, preps = _timed(lambda: [prepare_feed(d, u, slim=True) for d, u in docs])
    t_pickle, _ = _timed(lambda: [pickle.loads(pickle.dumps(p)) for p in preps])
    store = Store.open(f"sqlite:///{tempfile.mkdtemp()}/stages.db")
    now = datetime.now(UTC)
    store.sync_feeds([(f"f{i}", u) for i, (_, u) in enumerate(docs)], now)
    states = store.feed_states()
    batches = [_drafts(p, states[f"f{i}"].id, now) for i, p in enumerate(preps)]
    t_write, _ = _timed(
        lambda: [
            store.ingest_many([(b, None) for b in batches[k : k + 20]])
            for k in range(0, len(batches), 20)
        ]
    )
    n = len(entries)
    return {
        "items": n,
        "parse": t_parse / n,
        "text": t_text / n,
        "language": t_lang / n,
        "prepare_feed (all of the worker's work)": t_prep / n,
        "pickle + unpickle": t_pickle / n,
        "database writes": t_write / n,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.stages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--feeds", type=int, default=200)
    res = run(p.parse_args().feeds)
    items = int(res.pop("items"))
    print(f"{items} items; CPU µs per item (process time):")
    for name, secs in res.items():
        print(f"  {name:40s} {secs * 1e6:7.0f}")


if __name__ == "__main__":
    main()
