"""Daemon soak: 500 feeds for 1,000 cycles with an injected clock; memory must stay flat.

Run with ``python -m benchmarks.bench_soak`` (``--feeds``/``--cycles`` for a
shorter run). One long-lived daemon (one ``agg.running()``, as in production)
runs a cycle per injected minute, so 1,000 cycles cover ~17 hours of feed
life: every due poll, conditional GETs, new items, topic matches, failing
feeds backing off, source-health events, queue-depth gauges. The network is
replaced at the Fetcher boundary by an in-process fake site, so the run
measures the daemon and not the loopback stack; the database is a real SQLite
file.

The bar: resident memory grows less than 10% between the end of the warm-up
(the first 10% of the cycles) and the last cycle. The table also shows live
Python objects and loaded modules: on 2025-era dependencies a one-time step
of ~8 MiB around cycle 630 is the change monitor importing dateparser (~240
modules) for the first time, after which both stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import logging
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from aggregator.core import make_aggregator
from aggregator.core.run import stages_of
from aggregator.daemon.runner import Daemon, Options
from aggregator.exceptions import FetchError
from aggregator.http.fetcher import FetchResult

FEEDS = 500
CYCLES = 1000
WARMUP = 0.10
BAR = 0.10
T0 = datetime(2025, 2, 3, 6, 0, tzinfo=UTC)
TICK = timedelta(minutes=1)
ITEMS_PER_DOC = 10


def rss_bytes() -> int:
    """Resident set size now (not the peak): /proc/self/statm's second field."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


# ------------------------------------------------------------------ the fake site


def _period(i: int) -> int:
    """Minutes between new items of feed i: from every half hour to twice a day."""
    return (30, 60, 120, 240, 480, 720)[i % 6]


def _document(i: int, now: datetime) -> bytes:
    latest = int((now - T0).total_seconds() // 60) // _period(i)
    host = f"https://site{i % 50}.example.org"
    items = "".join(
        f"<item><title>Feed {i} story {n}{' on export controls for chips' if n % 5 == 0 else ''}"
        f"</title><link>{host}/articles/{i}/{n}</link><guid>{i}-{n}</guid>"
        f"<description>Story {n} of feed {i}, with a few words of summary text.</description>"
        f"</item>"
        for n in range(max(0, latest - ITEMS_PER_DOC + 1), latest + 1)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
        f"<link>{host}/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def _page(path: str) -> bytes:
    """An article page (re-checks of monitored articles fetch it)."""
    words = " ".join(f"word{k}" for k in range(120))
    return (
        f"<html><head><title>{path}</title></head><body><article><h1>{path}</h1>"
        f"<p>{words}.</p><p>{words}.</p></article></body></html>"
    ).encode()


@dataclass
class FakeSite:
    """The Fetcher's interface over generated feeds, pages and a webhook receiver:
    conditional GETs answered with 304, and a few broken feeds (HTTP 503)."""

    clock: Any
    requests: int = 0
    posts: int = 0
    cooled: dict[str, float] = field(default_factory=dict)

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
    ) -> FetchResult:
        self.requests += 1
        path = "/" + url.split("/", 3)[3]
        if path.startswith("/articles/"):
            return self._answer(url, _page(path), etag, "text/html")
        i = int(path.rsplit("/", 1)[1].split(".")[0])
        if i % 25 == 0:  # 4% of feeds are down
            raise FetchError(
                f"HTTP 503 Service Unavailable from {url}",
                kind="http",
                url=url,
                status=503,
                retry_after=None,
            )
        return self._answer(url, _document(i, self.clock()), etag, "application/rss+xml")

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> FetchResult:
        self.posts += 1
        return self._result(url, 200, b"ok", None, "text/plain")

    def _answer(self, url: str, body: bytes, etag: str | None, ctype: str) -> FetchResult:
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if etag == tag:
            return self._result(url, 304, b"", tag, ctype)
        return self._result(url, 200, body, tag, ctype)

    def _result(
        self, url: str, status: int, body: bytes, tag: str | None, ctype: str
    ) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=url,
            status=status,
            headers={},
            content=body,
            etag=tag,
            last_modified=None,
            not_modified=status == 304,
            permanent_redirect=None,
            content_type=ctype,
            max_age=None,
            elapsed=0.0,
            content_hash=hashlib.sha256(body).hexdigest(),
        )

    def cool_down(self, host: str, seconds: float) -> None:
        self.cooled[host] = seconds

    async def aclose(self) -> None:
        return None


# ------------------------------------------------------------------ the run


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def write_config(folder: Path, feeds: int) -> Path:
    data = {
        "database": "sqlite:///soak.db",
        "defaults": {"interval": "30m", "extract": False, "monitor": False},
        "daemon": {"jitter": 0.1},
        "feeds": [
            {
                "name": f"feed-{i:04d}",
                "url": f"https://site{i % 50}.example.org/feeds/{i}.xml",
                "interval": f"{(15, 30, 60, 120)[i % 4]}m",
                "monitor": i % 10 == 1,
            }
            for i in range(feeds)
        ],
        "topics": [{"name": "export-controls", "query": '"export controls" AND chips'}],
        "alerts": [
            {
                "name": "desk",
                "kind": "webhook",
                "url": "https://hooks.example.org/desk",
                "events": ["match", "source"],
                "group_window": "5m",
            }
        ],
    }
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Sample:
    cycle: int
    rss: int
    wall: float
    blocks: int  # Python objects alive (sys.getallocatedblocks): a Python-level leak grows it
    connections: int  # database connections held by the pool (each has its own page cache)
    modules: int  # a lazy import late in the run (dateparser, ~240 modules) is a step, not a leak


async def soak(config: Path, cycles: int, log: Any) -> dict[str, Any]:
    clock = Clock()
    samples: list[Sample] = []
    polls = new = errors = rechecks = delivered = 0
    with make_aggregator(config, clock=clock, extract_workers=0) as agg:
        daemon = Daemon(agg, Options(signals=False, watch=False, announce=lambda _: None))
        async with agg.running() as run:
            site = FakeSite(clock)
            stages_of(run).fetcher = site  # type: ignore[assignment]
            daemon.attach(run)
            start = time.perf_counter()
            for n in range(1, cycles + 1):
                report = await daemon.cycle_now()
                polls += len(report.polls)
                new += sum(r.new for r in report.polls)
                errors += sum(1 for r in report.polls if r.error)
                rechecks += report.rechecks
                delivered += report.delivered
                clock.now += TICK
                if n % max(1, cycles // 20) == 0 or n == cycles:
                    gc.collect()
                    samples.append(
                        Sample(
                            n,
                            rss_bytes(),
                            time.perf_counter() - start,
                            sys.getallocatedblocks(),
                            _pooled(agg),
                            len(sys.modules),
                        )
                    )
                    log(
                        f"cycle {n}: {polls} polls, {new} new, rss "
                        f"{samples[-1].rss / 2**20:.1f} MiB, {samples[-1].blocks:,} blocks, "
                        f"{samples[-1].connections} db connections"
                    )
            outbox = len(agg.alerts(limit=100_000))
            articles = agg.store.count_articles()
    return {
        "samples": samples,
        "polls": polls,
        "new": new,
        "errors": errors,
        "requests": site.requests,
        "articles": articles,
        "outbox": outbox,
        "rechecks": rechecks,
        "delivered": delivered,
        "posts": site.posts,
    }


def _pooled(agg: Any) -> int:
    pool = agg.store.engine.pool
    return int(pool.checkedin() + pool.checkedout()) if hasattr(pool, "checkedin") else 0


def verdict(samples: list[Sample], cycles: int) -> tuple[Sample, Sample, float]:
    warm_cycle = max(1, int(cycles * WARMUP))
    warm = next(s for s in samples if s.cycle >= warm_cycle)
    last = samples[-1]
    return warm, last, (last.rss - warm.rss) / warm.rss


def render(res: dict[str, Any], feeds: int, cycles: int) -> str:
    warm, last, growth = verdict(res["samples"], cycles)
    wall = last.wall
    ok = growth < BAR
    lines = [
        f"### Daemon soak: {feeds} feeds x {cycles} cycles (injected clock, 1 cycle = 1 minute)",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| injected time covered | {cycles * TICK.total_seconds() / 3600:.1f} h |",
        f"| polls (fetch attempts) | {res['polls']:,} ({res['errors']:,} failed) |",
        f"| new items seen / articles stored | {res['new']:,} / {res['articles']:,} |",
        f"| article re-checks | {res['rechecks']:,} |",
        (
            f"| outbox rows (topic matches, source health) / delivered | {res['outbox']:,} / "
            f"{res['delivered']:,} ({res['posts']:,} webhook POSTs) |"
        ),
        (
            f"| wall time | {wall:.1f} s ({cycles / wall:.1f} cycles/s, "
            f"{res['polls'] / wall:.0f} polls/s) |"
        ),
        f"| RSS after warm-up (cycle {warm.cycle}) | {warm.rss / 2**20:.1f} MiB |",
        f"| RSS at the end (cycle {last.cycle}) | {last.rss / 2**20:.1f} MiB |",
        (
            f"| Python objects (allocated blocks) after warm-up / at the end | {warm.blocks:,} / "
            f"{last.blocks:,} ({(last.blocks - warm.blocks) / warm.blocks * 100:+.1f}%) |"
        ),
        (
            f"| database connections pooled after warm-up / at the end | {warm.connections} / "
            f"{last.connections} |"
        ),
        f"| modules loaded after warm-up / at the end | {warm.modules} / {last.modules} |",
        (
            f"| growth after warm-up | {growth * 100:+.1f}% (bar: < {BAR * 100:.0f}%) "
            f"{'PASS' if ok else 'FAIL'} |"
        ),
        "",
        "RSS by cycle (MiB): "
        + ", ".join(f"{s.cycle}: {s.rss / 2**20:.1f}" for s in res["samples"]),
    ]
    return "\n".join(lines) + "\n"


def run(feeds: int = FEEDS, cycles: int = CYCLES, log: Any = print) -> str:
    """The benchmark as markdown (what `python -m benchmarks` collects)."""
    logging.getLogger("aggregator").setLevel(logging.ERROR)  # broken feeds warn every poll
    with tempfile.TemporaryDirectory(prefix="aggsoak-") as tmp:
        config = write_config(Path(tmp), feeds)
        res = asyncio.run(soak(config, cycles, log))
    return render(res, feeds, cycles)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--feeds", type=int, default=FEEDS)
    p.add_argument("--cycles", type=int, default=CYCLES)
    o = p.parse_args()
    print(run(o.feeds, o.cycles))


if __name__ == "__main__":
    main()
