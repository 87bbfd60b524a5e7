"""Scenario 7: peak resident memory of ``aggregator run --once`` with 10,000 feeds.

The daemon runs as a child process against a farm of its own (same generator,
``--memory-feeds`` feeds x ``--items`` items, first poll = cold ingest of all
of them, no extraction). Peak RSS is measured two ways: the kernel's high-water
mark of the main process (``ru_maxrss`` from ``wait4``) and, sampled every
50 ms, the sum of RSS over the whole process tree (extraction or worker
processes included).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _cli() -> list[str]:
    exe = Path(sys.executable).parent / "aggregator"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "aggregator"]


def available() -> str | None:
    if not (REPO / "aggregator" / "cli.py").exists():
        return "aggregator/cli.py does not exist yet"
    p = subprocess.run(
        _cli() + ["run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO,
    )
    if p.returncode or "--once" not in p.stdout:
        return "`aggregator run --once` does not exist yet"
    return None


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_kb(root: int) -> tuple[int, int]:
    """(RSS sum, PSS sum) in kB of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ppid = int(parts[1])
            rss[int(d)] = int(parts[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    total, pss, todo = 0, 0, [root]
    while todo:
        p = todo.pop()
        if p in rss:
            total += rss[p]
            pss += _pss_kb(p)
        todo.extend(children.get(p, []))
    return total, pss


def run_once(config: Path, timeout: int) -> dict[str, Any]:
    peak_tree = 0
    peak_pss = 0
    errf = open(config.parent / "stderr.txt", "w+b")  # noqa: SIM115
    proc = subprocess.Popen(
        _cli() + ["--config", str(config), "run", "--once", "--http-port", "0"],
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=errf,
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_pss
        while not done.is_set():
            rss, pss = _tree_kb(proc.pid)
            peak_tree, peak_pss = max(peak_tree, rss), max(peak_pss, pss)
            done.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    th.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted (SIGTERM to the benchmark): no daemon left behind
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        done.set()
    secs = time.perf_counter() - t0
    th.join()
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "seconds": secs,
        "maxrss_mb": ru.ru_maxrss / 1024,
        "tree_peak_mb": peak_tree / 1024,
        "tree_pss_peak_mb": peak_pss / 1024,
        "stderr": err[-600:],
    }


def run(opts: Any, log: Any = print) -> dict[str, Any]:
    why = available()
    if why:
        return {"status": "not available yet", "detail": why}
    import yaml

    from benchmarks.farm import Farm

    n = opts.memory_feeds
    runs = max(1, opts.runs)
    samples: list[dict[str, Any]] = []
    with Farm(
        n, opts.items, desc_len=opts.desc_len, backend=opts.farm, gzip_static=not opts.no_gzip
    ) as farm:
        farm.generate()
        farm.start()
        for r in range(runs):
            work = Path(tempfile.mkdtemp(prefix="aggbench-mem-"))
            cfg = {
                "database": "sqlite:///bench.db",
                "network": {"allow_private": ["127.0.0.1/32"]},
                "defaults": {"interval": "15m", "extract": False},
                "feeds": [{"name": farm.name(i), "url": farm.url(i)} for i in range(n)],
                "topics": [],
                "alerts": [],
            }
            path = work / "feeds.yaml"
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            res = run_once(path, max(opts.timeout, 2400))
            log(
                f"    run {r + 1}/{runs}: exit {res['exit']}, {res['seconds']:.1f} s, "
                f"maxrss {res['maxrss_mb']:.0f} MB, tree RSS {res['tree_peak_mb']:.0f} MB, "
                f"tree PSS {res['tree_pss_peak_mb']:.0f} MB"
            )
            samples.append(res)
            shutil.rmtree(work, ignore_errors=True)
    ok = [s for s in samples if s["exit"] == 0]
    if not ok:
        return {"status": "error", "detail": f"`run --once` failed: {samples[-1]['stderr']}"}

    def st(key: str) -> dict[str, float]:
        xs = [s[key] for s in ok]
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}

    peak = [max(s["maxrss_mb"], s["tree_pss_peak_mb"]) for s in ok]
    return {
        "status": "ok",
        "method": (
            f"`aggregator --config feeds.yaml run --once` with {n:,} feeds × {opts.items} "
            "items on the farm (a cold first poll of every feed, no extraction, SQLite). "
            "Peak = the larger of the main process' peak RSS (ru_maxrss) and the peak PSS "
            "of its whole process tree (main + parse/extraction workers; PSS shares the "
            "pages forked workers have in common instead of counting them in every "
            "process), sampled every 50 ms."
        ),
        "peak_mb": {
            "median": statistics.median(peak),
            "min": min(peak),
            "max": max(peak),
            "n": len(peak),
        },
        "seconds": st("seconds"),
        "notes": [
            (
                f"main process ru_maxrss: {statistics.median([s['maxrss_mb'] for s in ok]):.0f} MB; "
                f"process tree PSS: {statistics.median([s['tree_pss_peak_mb'] for s in ok]):.0f} MB; "
                f"process tree RSS sum (counts shared pages once per process): "
                f"{statistics.median([s['tree_peak_mb'] for s in ok]):.0f} MB"
            )
        ],
        "samples": samples,
    }
