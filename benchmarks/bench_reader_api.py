"""Reader API speed: ``stream/contents`` of 1,000 items on a database of 1,000,000 stories.

    python -m benchmarks.bench_reader_api                 # SQLite, 1,000,000 stories
    python -m benchmarks.bench_reader_api --size 100000 --backend postgresql

1. fill a fresh database with ``benchmarks.storage.bulk_fill`` (the rows ``Store.ingest``
   writes for a feed-only story, texts from the corpus feeds) over 1,000 feeds carrying 50
   tags; 1% of the stories matched by one topic, 5% read and 0.5% starred by the user;
2. serve the real web app (``create_app``) in-process and time, ``--runs`` times each,
   ``GET /api/greader/reader/api/0/stream/contents/<stream>?n=1000`` for the reading list,
   the reading list unread only (``xt=…/read``), a tag, a feed, the topic, page 50 of the
   reading list (a continuation deep into history) and ``unread-count``; time = request in,
   JSON out (server time, no network).

Bounded: one database, ``--runs`` requests per case (default 20), then it drops the database
(``--keep`` leaves it, ``--reuse URL`` measures it again, ``--save`` stores the figures as
scenario 11 of results.json and BENCHMARKS.md: benchmarks/record.py). The app runs with the
start-up heap frozen, as ``WebServer.start`` serves it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

N_FEEDS = 1000
N_TAGS = 50
USER = "desk"
PASSWORD = "bench-password"


def _fill(kind: str, size: int, log: Any) -> tuple[Any, Any, list[str]]:
    from aggregator.storage.store import Store
    from benchmarks.storage import Backend, Texts, bulk_fill, settle

    be = Backend(kind)
    store = Store.open(be.url)
    now = datetime.now(UTC) - timedelta(days=1)
    names = [f"f{i:04d}" for i in range(N_FEEDS)]
    store.sync_feeds(((n, f"http://127.0.0.1:1/{n}.xml") for n in names), now)
    states = store.feed_states()
    feed_ids = [states[n].id for n in names]
    t0 = time.perf_counter()
    bulk_fill(store, feed_ids, 0, size, Texts(), now)
    log(f"filled {size:,} stories in {time.perf_counter() - t0:.0f} s ({be.size_on_disk(store)})")
    _extras(store, size, now)
    settle(store)
    store.close()
    return be, now, names


def _extras(store: Any, size: int, now: datetime) -> None:
    """Topic matches on 1% of the stories, read 5% and starred 0.5% for the user."""
    from sqlalchemy import text

    rng = random.Random(5)
    matched = sorted(rng.sample(range(1, size + 1), size // 100))
    read = sorted(rng.sample(range(1, size + 1), size // 20))
    starred = sorted(rng.sample(range(1, size + 1), size // 200))
    stamp = now.replace(tzinfo=None)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO match (article_id, version, topic, terms, snippets, created_at) "
                "VALUES (:a, 1, 'export-controls', '[]', '[]', :t)"
            ),
            [{"a": a, "t": stamp} for a in matched],
        )
        conn.execute(
            text(
                "INSERT INTO desk_state (user_name, article_id, read, read_at, starred) "
                "VALUES (:u, :a, :r, :t, :s)"
            ),
            [{"u": USER, "a": a, "r": True, "t": stamp, "s": a in set(starred)} for a in read],
        )
        rest = sorted(set(starred) - set(read))
        if rest:
            conn.execute(
                text(
                    "INSERT INTO desk_state (user_name, article_id, read, starred) "
                    "VALUES (:u, :a, NULL, :s)"
                ),
                [{"u": USER, "a": a, "s": True} for a in rest],
            )


def _config(folder: Path, url: str, names: list[str]) -> Path:
    import yaml

    feeds = [
        {"name": n, "url": f"http://127.0.0.1:1/{n}.xml", "tags": [f"tag{i % N_TAGS:02d}"]}
        for i, n in enumerate(names)
    ]
    data = {
        "database": url,
        "feeds": feeds,
        "topics": [{"name": "export-controls", "query": '"export controls"'}],
        "web": {"users": [{"name": USER, "password": PASSWORD}]},
    }
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _time(
    client: Any, path: str, params: dict[str, Any], headers: dict[str, str], runs: int
) -> dict[str, float]:
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.get(path, params=params, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert r.status_code == 200, (r.status_code, r.text[:300])
    times.sort()
    cpu.sort()

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]

    return {
        "median_ms": statistics.median(times),
        "p95_ms": p95(times),
        # this process's CPU time (app and in-process client): what the request cost
        # without the time spent waiting for a core on a shared machine
        "cpu_median_ms": statistics.median(cpu),
        "cpu_p95_ms": p95(cpu),
        "min_ms": times[0],
        "max_ms": times[-1],
        "n": len(times),
        "items": len(r.json().get("items", [])),
    }


def run(
    kind: str,
    size: int,
    runs: int,
    log: Any = print,
    *,
    keep: bool = False,
    reuse: str | None = None,
) -> dict[str, Any]:
    import tempfile

    from starlette.testclient import TestClient

    from aggregator import make_aggregator
    from aggregator.web.app import create_app
    from aggregator.web.serve import freeze_heap

    be: Any = None
    if reuse:  # a database a --keep run left (same size and feeds), to measure again
        url, names = reuse, [f"f{i:04d}" for i in range(N_FEEDS)]
    else:
        be, _now, names = _fill(kind, size, log)
        url = be.url
    results: dict[str, Any] = {"backend": kind, "stories": size, "runs": runs, "cases": {}}
    try:
        cfg = _config(Path(tempfile.mkdtemp(prefix="aggbench-reader-")), url, names)
        t_start = time.perf_counter()
        with make_aggregator(cfg, extract_workers=0) as agg, TestClient(create_app(agg)) as c:
            freeze_heap()  # as WebServer.start does for `aggregator web` and `run`
            results["stories"] = agg.store.count_articles()
            api = "/api/greader"
            r = c.post(api + "/accounts/ClientLogin", data={"Email": USER, "Passwd": PASSWORD})
            token = dict(x.split("=", 1) for x in r.text.split())["Auth"]
            h = {"Authorization": f"GoogleLogin auth={token}"}
            z = api + "/reader/api/0"
            rl = "user/-/state/com.google/reading-list"
            deep = c.get(z + "/stream/items/ids", params={"s": rl, "n": 10000}, headers=h)
            ids = [int(x["id"]) & ((1 << 40) - 1) for x in deep.json()["itemRefs"]]
            page50 = f"{max(1, ids[-1] - 39_000):x}" if ids else ""
            cases = {
                "reading list": (z + "/stream/contents/" + rl, {}),
                "reading list, unread only": (
                    z + "/stream/contents/" + rl,
                    {"xt": "user/-/state/com.google/read"},
                ),
                "tag (20 feeds)": (z + "/stream/contents/user/-/label/tag07", {}),
                "feed": (z + "/stream/contents/feed/http://127.0.0.1:1/f0007.xml", {}),
                "topic (1% of stories)": (
                    z + "/stream/contents/user/-/label/topic:export-controls",
                    {},
                ),
                "reading list, page 50": (z + "/stream/contents/" + rl, {"c": page50}),
            }
            for name, (path, params) in cases.items():
                results["cases"][name] = _time(c, path, {"n": 1000, **params}, h, runs)
                log(f"  {name}: {results['cases'][name]}")
            results["cases"]["unread-count"] = _time(
                c, z + "/unread-count", {}, h, max(3, runs // 4)
            )
            log(f"  unread-count: {results['cases']['unread-count']}")
        results["seconds"] = time.perf_counter() - t_start
    finally:
        if be is not None and not keep:
            be.drop()
        else:
            log(f"kept the database: --reuse {url}")
    return results


BAR_MS = 200.0
UNREAD = "unread-count"


def markdown(backends: dict[str, dict[str, Any]], notes: list[str] | None = None) -> str:
    """The BENCHMARKS.md section: every backend measured, with its bar verdicts."""
    lines = [
        f"Bar (issue 16): `stream/contents` of 1,000 items (`n=1000`) on a database of "
        f"1,000,000 stories, p95 ≤ {BAR_MS:.0f} ms. Time = request in, JSON out, through the "
        "real app in-process (Starlette's TestClient: no network); `unread-count` (capped "
        'at 1,000 per stream, as Google Reader\'s "1000+") is reported, with no bar.',
        "",
        "Database: `benchmarks.storage.bulk_fill` (the rows `Store.ingest` writes for a "
        "feed-only story) over 1,000 feeds carrying 50 tags; 1% of the stories matched by the "
        "topic, 5% read and 0.5% starred by the user, no watermark (the worst case for "
        "counts: 95% unread). PostgreSQL is vacuumed after the fill, as autovacuum would "
        "(this server runs with autovacuum off).",
        "",
        "Commands: fill once and keep it, `python -m benchmarks.bench_reader_api --size "
        "1000000 --runs 20 --keep [--backend postgresql]`, then measure "
        "`python -m benchmarks.bench_reader_api --reuse URL --runs 20 --save`.",
        "",
        "**The machine is shared** (2 cores, several agents running tests and benchmarks "
        "at the same time): the load average is given per run; figures are noisy, p95 "
        "most of all.",
        "",
        "CPU is this process's CPU time per request (the app and the in-process client), "
        "the request's cost without the time spent waiting for a core.",
        "",
        "| Backend | Case | Items | Median | p95 | Min–max | CPU median / p95 | Bar |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for kind, r in backends.items():
        for name, c in r["cases"].items():
            verdict = "no bar" if name == UNREAD else _verdict(c["p95_ms"])
            cpu = (
                f"{c['cpu_median_ms']:.0f} / {c['cpu_p95_ms']:.0f} ms" if "cpu_p95_ms" in c else "—"
            )
            lines.append(
                f"| {kind} | {name} (n={c['n']}) | {c['items']:,} | {c['median_ms']:.0f} ms | "
                f"{c['p95_ms']:.0f} ms | {c['min_ms']:.0f}–{c['max_ms']:.0f} ms | {cpu} | "
                f"{verdict} |"
            )
    lines.append("")
    for kind, r in backends.items():
        cases = [c for n, c in r["cases"].items() if n != UNREAD]
        met = sum(c["p95_ms"] <= BAR_MS for c in cases)
        cpu = max((c.get("cpu_p95_ms", 0.0) for c in cases), default=0.0)
        lines.append(
            f"- {kind}: bar met in {met} of {len(cases)} `stream/contents` cases (worst p95 "
            f"{max(c['p95_ms'] for c in cases):.0f} ms; worst CPU p95 {cpu:.0f} ms)."
        )
    for kind, r in backends.items():
        lines.append(
            f"- {kind}: {r['stories']:,} stories, measured {r.get('measured', '?')}, load "
            f"average {r.get('load_before', '?')} before and {r.get('load_after', '?')} after."
        )
    lines += [f"- {n}" for n in notes or []]
    return "\n".join(lines) + "\n"


def _verdict(p95: float) -> str:
    return "PASS" if p95 <= BAR_MS else "FAIL"


def glance(backends: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for kind, r in backends.items():
        worst = max((c["p95_ms"], n) for n, c in r["cases"].items() if n != UNREAD)
        rows.append(
            [
                f"scenario 11 ({kind}, reader API stream/contents n=1000 p95 ≤ {BAR_MS:.0f} ms)",
                f"worst p95 {worst[0]:.0f} ms ({worst[1]})",
                "met" if worst[0] <= BAR_MS else "NOT met",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--keep", action="store_true", help="keep the filled database")
    p.add_argument("--reuse", metavar="URL", help="measure a database a --keep run left")
    p.add_argument(
        "--save", action="store_true", help="store in results.json and BENCHMARKS.md (scenario 11)"
    )
    p.add_argument(
        "--note", action="append", default=[], help="a line for the section (kept on --save)"
    )
    o = p.parse_args(argv)
    from benchmarks import record

    kind = o.backend
    if o.reuse:
        kind = "sqlite" if o.reuse.startswith("sqlite") else "postgresql"
    before = record.load_average()
    out = run(kind, o.size, o.runs, keep=o.keep, reuse=o.reuse)
    out["load_before"], out["load_after"] = before, record.load_average()
    out["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(markdown({kind: out}))
    if o.save:
        from benchmarks import report

        prior = record.stored("reader_api")
        backends = {**prior.get("backends", {}), kind: out}
        notes = [*prior.get("notes", []), *o.note]
        entry = {
            "status": "ok",
            "markdown": markdown(backends, notes),
            "notes": notes,
            "seconds": out.get("seconds", 0.0),
            "backends": backends,
            "glance": glance(backends),
        }
        record.save("reader_api", entry, report.reader_section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
