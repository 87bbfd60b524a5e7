"""``python -m benchmarks``: run the scenarios, write BENCHMARKS.md.

Examples::

    python -m benchmarks                      # everything, 5 runs, 1,000 feeds x 25 items
    python -m benchmarks --quick              # smoke run (100 feeds, 2 runs, small storage)
    python -m benchmarks --only cold,warm,churn --clients reader,newsboat
    python -m benchmarks --only storage --storage-sizes 10000,100000
    python -m benchmarks --only feeds --profile pyinstrument

Raw results go to benchmarks/results.json; a run with --only keeps the other
scenarios' previous results (with their date) in the report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.machine import machine_info, versions

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = (
    "farm",
    "cold",
    "warm",
    "churn",
    "real",
    "latency",
    "extract",
    "topics",
    "storage",
    "memory",
    "desk",
    "crosslingual",
    "startup",
)
FEED_SCENARIOS = {"farm", "cold", "warm", "churn"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=None, help="runs per scenario (default 5; quick 2)")
    p.add_argument("--feeds", type=int, default=None, help="feeds in the farm (default 1000)")
    p.add_argument("--items", type=int, default=25, help="items per feed (default 25)")
    p.add_argument("--desc-len", type=int, default=600, help="mean item description length")
    p.add_argument("--churn", type=float, default=0.10, help="share of feeds changed per cycle")
    p.add_argument("--churn-cycles", type=int, default=1, help="churn cycles per run")
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds of latency per farm response (uses the aiohttp farm)",
    )
    p.add_argument("--farm", choices=("auto", "nginx", "aiohttp"), default="auto")
    p.add_argument("--no-gzip", action="store_true", help="serve feeds uncompressed")
    p.add_argument(
        "--workers",
        type=int,
        default=16,
        help="threads for reader (update_feeds workers) and newsboat (reload-threads)",
    )
    p.add_argument("--clients", default="ours,reader,newsboat,ours-defaults")
    p.add_argument(
        "--only",
        default=None,
        help=f"comma list of scenarios: {', '.join(SCENARIOS)} (or 'feeds' for farm+1-3)",
    )
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    p.add_argument(
        "--profile",
        default=None,
        help="profile our scenarios 1-3 with: pyinstrument, py-spy (comma list)",
    )
    p.add_argument(
        "--storage-sizes",
        default=None,
        help="articles already stored (default 10000,100000,1000000)",
    )
    p.add_argument("--storage-backends", default="sqlite,postgresql")
    p.add_argument("--hosts", type=int, default=200, help="hosts of the real-world farm")
    p.add_argument("--real-feeds", type=int, default=None, help="feeds of the real-world farm")
    p.add_argument(
        "--real-clients",
        default="ours-shipped,ours-shipped-extract,reader,reader-defaults,newsboat,newsboat-defaults",
    )
    p.add_argument("--latency-feeds", type=int, default=1000, help="feeds of the latency run")
    p.add_argument("--latency-rate", type=float, default=2.0, help="new items per second")
    p.add_argument("--latency-duration", type=float, default=300.0, help="seconds publishing")
    p.add_argument("--latency-interval", default="2m", help="poll interval of the latency run")
    p.add_argument(
        "--latency-settle",
        type=float,
        default=420.0,
        help="seconds to wait for stragglers (an interval, a group window and a margin)",
    )
    p.add_argument("--memory-feeds", type=int, default=None, help="feeds for scenario 7 (10000)")
    p.add_argument(
        "--max-foreign",
        type=float,
        default=0.15,
        help="rerun a run when other processes used more than this share of the CPU",
    )
    p.add_argument("--retries", type=int, default=2, help="reruns allowed per noisy run")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="seconds to wait for a calm machine before each run (0: don't)",
    )
    p.add_argument("--timeout", type=int, default=900, help="seconds before a worker is killed")
    p.add_argument(
        "--render", action="store_true", help="only rewrite the markdown from the saved raw results"
    )
    p.add_argument("--out", default=None, help="markdown output (default BENCHMARKS.md)")
    p.add_argument("--json", default=None, help="raw results (default benchmarks/results.json)")
    o = p.parse_args(argv)
    o.runs = o.runs or (2 if o.quick else 5)
    if o.quick:
        o.quiet_wait = min(o.quiet_wait, 10)
        o.retries = 0
    o.feeds = o.feeds or (100 if o.quick else 1000)
    o.memory_feeds = o.memory_feeds or (1000 if o.quick else 10000)
    o.real_feeds = o.real_feeds or (100 if o.quick else 1000)
    o.real_clients = [c for c in o.real_clients.split(",") if c]
    o.storage_sizes = [
        int(x)
        for x in (o.storage_sizes or ("1000,10000" if o.quick else "10000,100000,1000000")).split(
            ","
        )
    ]
    o.storage_backends = [b for b in o.storage_backends.split(",") if b]
    o.clients = [c for c in o.clients.split(",") if c]
    o.profile = [x for x in o.profile.split(",") if x] if o.profile else []
    if o.only:
        sel = set()
        for s in o.only.split(","):
            s = s.strip()
            if s == "feeds":
                sel |= FEED_SCENARIOS
            elif s in SCENARIOS:
                sel.add(s)
            else:
                p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)} or feeds")
        o.selected = sel
    else:
        o.selected = set(SCENARIOS)
    if o.quick and not o.out:
        o.out = "/tmp/BENCHMARKS.quick.md"
        o.json = o.json or "/tmp/aggbench-results.quick.json"
    o.out = o.out or str(REPO / "BENCHMARKS.md")
    o.json = o.json or str(REPO / "benchmarks" / "results.json")
    return o


def log(msg: str) -> None:
    print(msg, flush=True)


def options_dict(o: argparse.Namespace) -> dict[str, Any]:
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(o).items()}


QUICK_KWARGS = {"quick": True, "sweep": False, "repeat": 1}


def external(modname: str, quick: bool = False) -> dict[str, Any]:
    """Scenarios 4 and 5 belong to other engineers: call their run() -> str if present."""
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        if e.name in (modname, modname.rsplit(".", 1)[0]):
            return {"status": "not available yet", "detail": f"{modname} does not exist"}
        return {"status": "error", "detail": f"import failed: {e}"}
    except Exception as e:  # noqa: BLE001
        return {"status": "error", "detail": f"import failed: {type(e).__name__}: {e}"}
    if not hasattr(mod, "run"):
        return {"status": "not available yet", "detail": f"{modname} has no run()"}
    kwargs: dict[str, Any] = {}
    if quick:
        import inspect

        params = inspect.signature(mod.run).parameters
        kwargs = {k: v for k, v in QUICK_KWARGS.items() if k in params}
    try:
        text = mod.run(**kwargs)
    except Exception as e:  # noqa: BLE001
        return {
            "status": "error",
            "detail": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-1500:],
        }
    return {"status": "ok", "markdown": str(text), "seconds": time.perf_counter() - t0}


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM/SIGINT (also when started in the background): unwind so the farm stops."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    if o.render:
        Path(o.out).write_text(report.render(json.loads(Path(o.json).read_text())))
        log(f"wrote {o.out} from {o.json}")
        return 0
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: dict[str, Any] = {}
    jpath = Path(o.json)
    if o.only and jpath.exists():
        try:
            results = json.loads(jpath.read_text())
        except ValueError:
            results = {}
    results.setdefault("scenarios", {})
    results["machine"] = machine_info()
    results["versions"] = versions()
    results["last_command"] = "python -m benchmarks " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    sc = results["scenarios"]

    def stamp(d: dict[str, Any]) -> dict[str, Any]:
        d["date"] = started
        d["command"] = results["last_command"]
        d["options"] = options_dict(o)
        return d

    log(f"machine: {results['machine']}")
    if o.selected & FEED_SCENARIOS:
        from benchmarks import farmcheck, feeds
        from benchmarks.farm import Farm

        log(f"farm: {o.feeds} feeds x {o.items} items, generating ...")
        with Farm(
            o.feeds,
            o.items,
            desc_len=o.desc_len,
            latency=o.latency,
            backend=o.farm,
            gzip_static=not o.no_gzip,
        ) as farm:
            t0 = time.perf_counter()
            sizes = farm.generate()
            gen_s = time.perf_counter() - t0
            farm.start()
            meta = {
                "backend": farm.spec.backend,
                "port": farm.spec.port,
                "material": farm.material.source,
                "corpus_desc_median": farm.material.corpus_median_len,
                "corpus_desc_mean": farm.material.corpus_mean_len,
                "desc_len_mean": sum(farm.material.lengths) / len(farm.material.lengths),
                "pages": farm.n_pages,
                "generate_seconds": gen_s,
                "gzip": farm.spec.gzip,
                "latency": farm.spec.latency,
                **sizes,
            }
            log(f"farm up on {farm.base} ({farm.spec.backend}); {meta['material']}")
            if "farm" in o.selected:
                log("farm alone ...")
                fc = farmcheck.measure(farm, quick=o.quick)
                log(
                    f"  python sweep: {fc['python']['full_feeds_per_s']:.0f} feeds/s (200), "
                    f"{fc['python']['cond_feeds_per_s']:.0f} feeds/s (304)"
                )
                if fc["wrk"]:
                    log(
                        f"  wrk: {fc['wrk']['full']['requests_per_s']} req/s (200), "
                        f"{fc['wrk']['cond']['requests_per_s']} req/s (304)"
                    )
                sc["farm"] = stamp({"meta": meta, **fc})
            if o.selected & {"cold", "warm", "churn"}:
                log(f"scenarios 1-3, clients {o.clients}, {o.runs} runs ...")
                sc["feeds"] = stamp({"meta": meta, **feeds.run(o, farm, o.clients, log)})
    if "real" in o.selected:
        from benchmarks import realworld

        log(f"real-world farm: {o.real_feeds} feeds on {o.hosts} hosts ...")
        sc["real"] = stamp(realworld.run(o, log))
    if "latency" in o.selected:
        from benchmarks import latency

        log("publish-to-alert latency ...")
        sc["latency"] = stamp(latency.run(o, log))
    for key, mod in (
        ("extract", "benchmarks.bench_extract"),
        ("topics", "benchmarks.bench_topics"),
        ("desk", "benchmarks.bench_desk"),
        ("crosslingual", "benchmarks.bench_crosslingual"),
    ):
        if key in o.selected:
            log(f"{key}: {mod}.run() ...")
            sc[key] = stamp(external(mod, quick=o.quick))
            log(f"  {sc[key]['status']}")
    if "storage" in o.selected:
        from benchmarks import storage

        log(f"storage: sizes {o.storage_sizes} on {o.storage_backends} ...")
        sc["storage"] = stamp(storage.run(o, log))
    if "startup" in o.selected:
        from benchmarks import startup

        log("CLI start-up: feeds list, items list ...")
        sc["startup"] = stamp(startup.run(o, log))
    if "memory" in o.selected:
        from benchmarks import memory

        log(f"memory: {o.memory_feeds} feeds ...")
        sc["memory"] = stamp(memory.run(o, log))

    jpath.write_text(json.dumps(results, indent=1, default=str))
    Path(o.out).write_text(report.render(results))
    log(f"wrote {o.out} and {jpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
