"""Scenarios 1-3 (cold ingest, warm poll, churn) for every client, same farm, same run."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.farm import Farm

REPO = Path(__file__).resolve().parent.parent


def availability(client: str) -> str | None:
    """None when the client can run, else why not."""
    if client.startswith("ours"):
        p = subprocess.run(
            [sys.executable, "-c", "from aggregator import make_aggregator"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if p.returncode:
            last = (p.stderr.strip().splitlines() or ["?"])[-1]
            return f"not available yet ({last[:200]})"
        return None
    if client.startswith("reader"):
        p = subprocess.run(
            [sys.executable, "-c", "import reader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if p.returncode:
            return "not installed (pip install -r benchmarks/requirements.txt)"
        return None
    if client.startswith("newsboat"):
        return None if shutil.which("newsboat") else "not installed (apt-get install newsboat)"
    return f"unknown client {client!r}"


def _ticks() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / os.sysconf(
        "SC_CLK_TCK"
    )


def _tree_cpu(root: int) -> float:
    return sum(_tree_cpu_map(root).values())


def _tree_cpu_map(root: int) -> dict[int, float]:
    kids: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    tck = os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parts = f.read().rsplit(")", 1)[1].split()
                kids.setdefault(int(parts[1]), []).append(int(d))
                cpu[int(d)] = (int(parts[11]) + int(parts[12])) / tck
            except (OSError, IndexError, ValueError):
                pass
    out: dict[int, float] = {}
    todo = [root]
    while todo:
        p = todo.pop()
        if p in cpu:
            out[p] = cpu[p]
        todo.extend(kids.get(p, []))
    return out


def cpu_snapshot(farm: Farm) -> tuple[float, float, float]:
    """(machine busy s, our children's CPU s, farm server CPU s)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    farm_cpu = _tree_cpu(farm.proc.pid) if farm.proc else 0.0
    return _ticks(), ru.ru_utime + ru.ru_stime, farm_cpu


class TreeCPU:
    """CPU seconds of a process and all its descendants, sampled every 0.25 s (so that
    grandchildren nobody waits for, like a process pool's workers, are counted too)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._th.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.25)

    def sample(self) -> None:
        for pid, cpu in _tree_cpu_map(self.root).items():
            self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def stop(self) -> None:
        self._stop.set()
        self._th.join()

    def total(self) -> float:
        return sum(self.seen.values())


def foreign_share(
    a: tuple[float, float, float], b: tuple[float, float, float], wall: float, tree: float = 0.0
) -> float:
    """Share of the machine's CPU used by processes outside the benchmark during a run."""
    ours = max(b[1] - a[1], tree)
    foreign = (b[0] - a[0]) - ours - (b[2] - a[2])
    return max(0.0, foreign) / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0


def spawn(client: str, farm: Farm, opts: Any, profile: str | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"aggbench-{client}-"))
    args = {
        "client": client,
        "root": str(farm.root),
        "urls": farm.urls(),
        "workdir": str(work / "w"),
        "workers": opts.workers,
        "churn_cycles": opts.churn_cycles,
        "profile": profile,
        "out": str(work / "out.json"),
    }
    (work / "args.json").write_text(json.dumps(args))
    load = os.getloadavg()[0]
    cpu0 = cpu_snapshot(farm)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.clients", str(work / "args.json")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree = TreeCPU(proc.pid)
    tree.start()
    try:
        _, err = proc.communicate(timeout=opts.timeout)
        if (work / "out.json").exists():
            res = json.loads((work / "out.json").read_text())
        else:
            res = {"client": client, "error": f"worker exited {proc.returncode}: {err[-1500:]}"}
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        res = {"client": client, "error": f"timed out after {opts.timeout} s"}
    finally:
        tree.stop()
    res["worker_seconds"] = time.perf_counter() - t0
    res["loadavg_before"] = load
    res["foreign_cpu_share"] = foreign_share(
        cpu0, cpu_snapshot(farm), res["worker_seconds"], tree.total()
    )
    shutil.rmtree(work, ignore_errors=True)
    return res


def machine_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU in use over ``seconds`` (anyone's)."""
    a = _ticks()
    time.sleep(seconds)
    return (_ticks() - a) / (seconds * (os.cpu_count() or 1))


def wait_quiet(max_wait: float, threshold: float = 0.15, log: Any = print) -> float:
    """Wait (up to ``max_wait`` s) until other work on the machine calms down."""
    t0 = time.monotonic()
    busy = machine_busy()
    while busy > threshold and time.monotonic() - t0 < max_wait:
        busy = machine_busy(2.0)
    waited = time.monotonic() - t0
    if waited > 5:
        log(f"    (waited {waited:.0f} s for the machine to calm down; busy {busy:.0%})")
    return busy


def measured(
    c: str, farm: Farm, opts: Any, r: int, log: Any, profile: str | None = None
) -> dict[str, Any]:
    """One run of client ``c``; repeated (up to --retries times) when others used the CPU."""
    discarded: list[float] = []
    for attempt in range(opts.retries + 1):
        if opts.quiet_wait:
            wait_quiet(opts.quiet_wait, log=log)
        farm.reset()
        rng = random.Random(1000 + r)
        for cyc in range(opts.churn_cycles):
            farm.stage_churn(cyc, opts.churn, rng)
        res = spawn(c, farm, opts, profile=profile)
        share = res.get("foreign_cpu_share", 0.0)
        if share <= opts.max_foreign or attempt == opts.retries or "error" in res:
            res["discarded_noisy"] = discarded
            return res
        log(f"    {c}: discarded (other processes used {share:.0%} of the CPU): {brief(res)}")
        discarded.append(share)
    raise AssertionError("unreachable")


def run(opts: Any, farm: Farm, clients: list[str], log: Any = print) -> dict[str, Any]:
    avail = {c: availability(c) for c in clients}
    for c, why in avail.items():
        if why:
            log(f"  {c}: {why}")
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    for r in range(opts.runs):
        for c in clients:
            if avail[c]:
                continue
            res = measured(c, farm, opts, r, log)
            runs[c].append(res)
            log(f"  run {r + 1}/{opts.runs} {c}: {brief(res)}")
    profiles: dict[str, Any] = {}
    if opts.profile and "ours" in clients and not avail["ours"]:
        for kind in opts.profile:
            res = measured("ours", farm, opts, 0, log, profile=kind)
            log(f"  profile ({kind}) ours: {brief(res)}")
            profiles[kind] = res
    farm.reset()
    return {
        "availability": avail,
        "runs": runs,
        "profiles": profiles,
        "summary": {c: summarise(runs[c]) for c in clients if runs[c]},
    }


def brief(res: dict[str, Any]) -> str:
    if "error" in res:
        return "ERROR " + res["error"].splitlines()[0][:200]
    parts = []
    for ph, v in res["phases"].items():
        if ph.startswith("_"):
            continue
        extra = f" new={v['new']}" if "new" in v else ""
        if v.get("errors"):
            extra += f" errors={v['errors']}"
        parts.append(f"{ph} {v['seconds']:.2f}s{extra} {v['wire']}")
    return "; ".join(parts)


def _stat(xs: list[float]) -> dict[str, float] | None:
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {
        "runs": len(runs),
        "failed": len(runs) - len(ok),
        "errors": [r["error"][:300] for r in runs if "error" in r][:3],
        "loadavg_before": _stat([r["loadavg_before"] for r in runs if "loadavg_before" in r]),
        "discarded_noisy": sum(len(r.get("discarded_noisy", [])) for r in runs),
        "foreign_cpu_share": _stat(
            [r["foreign_cpu_share"] for r in runs if "foreign_cpu_share" in r]
        ),
    }
    for phase in ("cold", "warm", "churn"):
        secs, rates, new, errs, wires, results = [], [], [], [], [], []
        for r in ok:
            for name, v in r["phases"].items():
                if name == phase or (phase == "churn" and name.startswith("churn")):
                    secs.append(v["seconds"])
                    new.append(v.get("new", 0))
                    errs.append(v.get("errors", 0))
                    wires.append(v.get("wire", {}))
                    results.append(v.get("results"))
                    feeds = sum(n for k, n in v.get("wire", {}).items() if k.startswith("feed"))
                    if phase == "cold":
                        rates.append(v.get("new", 0) / v["seconds"])
                    else:
                        rates.append(feeds / v["seconds"])
        out[phase] = {
            "seconds": _stat(secs),
            "rate": _stat(rates),
            "new": _stat([float(x) for x in new]),
            "errors": max(errs) if errs else 0,
            "wire": wires[-1] if wires else {},
            "results": results[-1] if results else None,
        }
        if phase == "warm":
            prime = [r["phases"].get("warm-prime") for r in ok if "warm-prime" in r["phases"]]
            if prime:
                out["warm_prime_wire"] = prime[-1]["wire"]
    return out
