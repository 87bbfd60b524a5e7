"""The feed readers under test, each driven through the same phases.

A worker process (``python -m benchmarks.clients ARGS.json``) runs one client
once against a running farm: set up (untimed), cold poll, warm poll (every feed
answers 304), then one or more churn cycles (a share of the feeds changed).
Each phase's wall time is measured around the client's own poll call; the
farm's access log tells what went over the wire during that phase.

Churn happens between polls by moving pre-rendered files into place (the
parent process renders them before the worker starts), so the worker needs
nothing but file renames to change the farm.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.farm import log_counts, log_mark

CLIENTS = ("ours", "reader", "newsboat", "ours-defaults")
#: The real-world scenario's clients: each with the settings a user gets out of the box,
#: and the peers also with their best settings (the one-host scenarios' 16 workers).
REAL_CLIENTS = (
    "ours-shipped",
    "ours-shipped-extract",
    "reader",
    "reader-defaults",
    "newsboat",
    "newsboat-defaults",
)


def apply_staged(root: str, cycle: int) -> int:
    """Move the files rendered for churn cycle ``cycle`` into the served folder."""
    staged = Path(root) / "staged" / str(cycle)
    n = 0
    for p in sorted(staged.iterdir()):
        os.replace(p, Path(root) / "feeds" / p.name)
        n += 1
    return n


# ---------------------------------------------------------------------------
# clients: each returns (setup, poll(phase) -> counts dict, close)
# ---------------------------------------------------------------------------


class OursClient:
    name = "ours"
    #: Network settings over the defaults (see the comment where they are used).
    network: ClassVar[dict[str, Any]] = {"max_per_host": 16, "max_connections": 16}
    #: ``defaults:`` over the benchmark's (feed-only, like the peers).
    defaults: ClassVar[dict[str, Any]] = {"extract": False}

    def __init__(self, urls: list[str], workdir: Path, workers: int) -> None:
        import yaml

        from aggregator import make_aggregator

        cfg = {
            "database": "sqlite:///bench.db",
            # the farm is one host: our per-host politeness (2 connections by default, right
            # for real sites) would be all that limits us; 16, like reader's workers and
            # newsboat's reload threads against the same farm
            # the farm's hosts are loopback addresses, which the SSRF guard refuses unless
            # allowed; this is reachability, not a performance setting
            "network": {"allow_private": ["127.0.0.0/8"], **self.network},
            "defaults": {"interval": "15m", **self.defaults},
            "feeds": [{"name": Path(u).stem, "url": u} for u in urls],
            "topics": [],
            "alerts": [],
        }
        path = workdir / "feeds.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.agg = make_aggregator(str(path))
        # as the daemon does when it starts: the polls then time the work, not process start-up
        self.agg.start_workers()
        self.n = len(urls)

    def poll(self, phase: str) -> dict[str, Any]:
        results = self.agg.poll()
        c: dict[str, Any] = {
            "results": len(results),
            "new": 0,
            "updated": 0,
            "not_modified": 0,
            "errors": 0,
        }
        errs: list[str] = []
        for r in results:
            c["new"] += int(getattr(r, "new", 0) or 0)
            c["updated"] += int(getattr(r, "updated", 0) or 0)
            c["not_modified"] += 1 if getattr(r, "not_modified", False) else 0
            if getattr(r, "error", None):
                c["errors"] += 1
                if len(errs) < 3:
                    errs.append(str(r.error)[:200])
        if errs:
            c["error_samples"] = errs
        return c

    def close(self) -> None:
        self.agg.close()


class OursDefaultsClient(OursClient):
    """Ours with the default politeness (2 connections per host, 10 in all): what the
    single-host farm gets without the benchmark's setting, for comparison."""

    name = "ours-defaults"
    network: ClassVar[dict[str, Any]] = {}


class OursShippedClient(OursClient):
    """Ours exactly as shipped (politeness, concurrency), feed-only like the peers: the
    real-world scenario's headline client."""

    name = "ours-shipped"
    network: ClassVar[dict[str, Any]] = {}


class OursShippedExtractClient(OursShippedClient):
    """As shipped, with extraction on (each new item's page fetched and extracted), as a
    user runs it; reported apart, since the peers do not extract."""

    name = "ours-shipped-extract"
    defaults: ClassVar[dict[str, Any]] = {}


class ReaderClient:
    name = "reader"

    def __init__(self, urls: list[str], workdir: Path, workers: int) -> None:
        from reader import make_reader

        self.reader = make_reader(str(workdir / "reader.sqlite"))
        for u in urls:
            self.reader.add_feed(u)
        self.workers = workers

    def poll(self, phase: str) -> dict[str, Any]:
        c: dict[str, Any] = {"results": 0, "new": 0, "updated": 0, "not_modified": 0, "errors": 0}
        errs: list[str] = []
        # new feeds are scheduled; after the first update they are not due for an
        # hour, hence scheduled=False for the warm and churn polls
        for res in self.reader.update_feeds_iter(scheduled=(phase == "cold"), workers=self.workers):
            c["results"] += 1
            v = res.value
            if v is None:
                c["not_modified"] += 1
            elif isinstance(v, Exception):
                c["errors"] += 1
                if len(errs) < 3:
                    errs.append(repr(v)[:200])
            else:
                c["new"] += v.new
                c["updated"] += v.modified
        if errs:
            c["error_samples"] = errs
        return c

    def close(self) -> None:
        c = self.reader.get_entry_counts()
        self.total = c.total
        self.reader.close()


class ReaderDefaultsClient(ReaderClient):
    """reader with its default ``update_feeds(workers=1)``."""

    name = "reader-defaults"

    def __init__(self, urls: list[str], workdir: Path, workers: int) -> None:
        super().__init__(urls, workdir, 1)


class NewsboatClient:
    name = "newsboat"

    def __init__(self, urls: list[str], workdir: Path, workers: int) -> None:
        self.dir = workdir
        (workdir / "urls").write_text("".join(f"{u}\n" for u in urls))
        (workdir / "config").write_text(
            f"reload-threads {workers}\n"
            "download-timeout 60\n"
            "download-retries 1\n"
            "max-items 0\n"
            f'error-log "{workdir}/error.log"\n'
        )
        self.cache = workdir / "cache.db"
        self.env = dict(
            os.environ, HOME=str(workdir), XDG_CONFIG_HOME=str(workdir), XDG_DATA_HOME=str(workdir)
        )
        self.before = 0

    def _count(self) -> int:
        if not self.cache.exists():
            return 0
        with sqlite3.connect(self.cache) as db:
            return db.execute("SELECT count(*) FROM rss_item").fetchone()[0]

    def poll(self, phase: str) -> dict[str, Any]:
        p = subprocess.run(
            [
                "newsboat",
                "-u",
                str(self.dir / "urls"),
                "-c",
                str(self.cache),
                "-C",
                str(self.dir / "config"),
                "-x",
                "reload",
            ],
            env=self.env,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=900,
        )
        # the item count is read after the clock stops (see run_worker)
        c: dict[str, Any] = {"exit": p.returncode}
        if p.returncode:
            c["stderr"] = p.stderr.decode(errors="replace")[-300:]
        return c

    def after(self, c: dict[str, Any]) -> None:
        n = self._count()
        c["new"] = n - self.before
        self.before = n
        log = self.dir / "error.log"
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()
            c["errors"] = len(lines)
            log.unlink()

    def close(self) -> None:
        pass


class NewsboatDefaultsClient(NewsboatClient):
    """newsboat with its default ``reload-threads 1``."""

    name = "newsboat-defaults"

    def __init__(self, urls: list[str], workdir: Path, workers: int) -> None:
        super().__init__(urls, workdir, 1)


FACTORY: dict[str, Callable[..., Any]] = {
    "ours": OursClient,
    "ours-defaults": OursDefaultsClient,
    "ours-shipped": OursShippedClient,
    "ours-shipped-extract": OursShippedExtractClient,
    "reader": ReaderClient,
    "reader-defaults": ReaderDefaultsClient,
    "newsboat": NewsboatClient,
    "newsboat-defaults": NewsboatDefaultsClient,
}


def run_worker(args: dict[str, Any]) -> dict[str, Any]:
    root = args["root"]
    workdir = Path(args["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    out: dict[str, Any] = {"client": args["client"], "phases": {}}
    client = FACTORY[args["client"]](args["urls"], workdir, args["workers"])
    profiler = None
    if args.get("profile"):
        from benchmarks.profiling import PhaseProfiler

        profiler = PhaseProfiler(args["profile"])

    plan: list[tuple[str, int | None, bool]] = [("cold", None, True)]
    if args["client"].startswith("newsboat"):
        # newsboat stores the validators only after its second reload
        plan.append(("warm-prime", None, False))
    plan.append(("warm", None, True))
    for cyc in range(args["churn_cycles"]):
        plan.append((f"churn{cyc}", cyc, True))

    for phase, cycle, timed in plan:
        if cycle is not None:
            out["phases"].setdefault("_churned", []).append(apply_staged(root, cycle))
        mark = log_mark(root)
        if profiler:
            profiler.start(phase)
        t0 = time.perf_counter()
        counts = client.poll(phase.split("-")[0] if phase.startswith("warm") else phase)
        secs = time.perf_counter() - t0
        if profiler:
            profiler.stop(phase)
        if hasattr(client, "after"):
            client.after(counts)
        counts["seconds"] = secs
        counts["timed"] = timed
        counts["wire"] = log_counts(root, mark)
        out["phases"][phase] = counts
    client.close()
    if hasattr(client, "total"):
        out["total_entries"] = client.total
    if profiler:
        out["profile"] = profiler.save()
    return out


def main() -> None:
    args = json.loads(Path(sys.argv[1]).read_text())
    try:
        res = run_worker(args)
    except Exception as e:  # noqa: BLE001 - reported to the parent, not raised
        res = {
            "client": args["client"],
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-2000:],
        }
    Path(args["out"]).write_text(json.dumps(res))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # don't wait for client threads left behind
