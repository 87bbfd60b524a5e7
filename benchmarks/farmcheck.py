"""How fast is the farm alone?  (So that it is never mistaken for the bottleneck.)

Two measurements, both bounded in time:
- a Python aiohttp client fetching every feed once (all 200, gzip as the
  clients ask for it) and again with the ETags it got (all 304): the time of a
  full sweep, directly comparable with the cold and warm scenarios;
- wrk (when installed), rotating over every feed path for a few seconds,
  unconditional and with If-Modified-Since: the farm's request rate ceiling.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from benchmarks.farm import FILE_EPOCH, Farm


async def _sweep(
    urls: list[str], conc: int, etags: dict[str, str] | None
) -> tuple[float, dict[int, int], dict[str, str], int]:
    import aiohttp

    statuses: dict[int, int] = {}
    got: dict[str, str] = {}
    nbytes = 0
    conn = aiohttp.TCPConnector(limit=conc, force_close=False)
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as s:
        sem = asyncio.Semaphore(conc)

        async def one(u: str) -> None:
            nonlocal nbytes
            h = {"Accept-Encoding": "gzip"}
            if etags and u in etags:
                h["If-None-Match"] = etags[u]
            async with sem, s.get(u, headers=h) as r:
                body = await r.read()
                nbytes += len(body)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if "ETag" in r.headers:
                    got[u] = r.headers["ETag"]

        t0 = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        secs = time.perf_counter() - t0
    return secs, statuses, got, nbytes


def python_sweeps(farm: Farm, repeats: int = 3, conc: int = 64) -> dict[str, Any]:
    urls = farm.urls()
    full, cond = [], []
    st_full: dict[int, int] = {}
    st_cond: dict[int, int] = {}
    nbytes = 0
    for _ in range(repeats):
        secs, st_full, etags, nbytes = asyncio.run(_sweep(urls, conc, None))
        full.append(secs)
        secs, st_cond, _, _ = asyncio.run(_sweep(urls, conc, etags))
        cond.append(secs)
    n = len(urls)
    return {
        "feeds": n,
        "concurrency": conc,
        "full_seconds": statistics.median(full),
        "full_feeds_per_s": n / statistics.median(full),
        "full_statuses": st_full,
        "full_mb": nbytes / 1e6,
        "cond_seconds": statistics.median(cond),
        "cond_feeds_per_s": n / statistics.median(cond),
        "cond_statuses": st_cond,
    }


def _wrk_once(farm: Farm, seconds: int, conn: int, headers: list[str]) -> dict[str, Any]:
    paths = [u.split(str(farm.spec.port), 1)[1] for u in farm.urls()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n")
        f.write(
            "local i = 0\n"
            "request = function()\n"
            "  i = i + 1\n"
            "  if i > #paths then i = 1 end\n"
            "  return wrk.format(nil, paths[i])\n"
            "end\n"
        )
        script = f.name
    cmd = ["wrk", "-t1", f"-c{conn}", f"-d{seconds}s", "-s", script]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(farm.base + "/")
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 30)
    Path(script).unlink(missing_ok=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    tps = re.search(r"Transfer/sec:\s+([\d.]+\w+)", p.stdout)
    lat = re.search(r"Latency\s+([\d.]+\w+)", p.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    return {
        "requests_per_s": float(rps.group(1)) if rps else None,
        "transfer_per_s": tps.group(1) if tps else None,
        "latency_avg": lat.group(1) if lat else None,
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "raw": p.stdout[-800:] if not rps else "",
    }


def wrk(farm: Farm, seconds: int = 3, conn: int = 32) -> dict[str, Any] | None:
    if not shutil.which("wrk"):
        return None
    lm = format_datetime(datetime.fromtimestamp(FILE_EPOCH, tz=UTC), usegmt=True)
    gz = ["Accept-Encoding: gzip"] if farm.spec.gzip else []
    return {
        "seconds": seconds,
        "connections": conn,
        "full": _wrk_once(farm, seconds, conn, gz),
        "cond": _wrk_once(farm, seconds, conn, gz + [f"If-Modified-Since: {lm}"]),
    }


def measure(farm: Farm, quick: bool = False) -> dict[str, Any]:
    farm.reset()
    out: dict[str, Any] = {"python": python_sweeps(farm, repeats=1 if quick else 3)}
    out["wrk"] = wrk(farm, seconds=2 if quick else 3)
    return out
