"""The real-world farm (issue 17): many hosts, realistic feed sizes, shipped settings.

Users never run with 16 connections to one host: they run the defaults against hundreds
of sites, with extraction on. This scenario serves the farm from ``--hosts`` loopback
addresses (127.0.1.1, 127.0.1.2, ...; Linux routes all of 127.0.0.0/8 to the loopback
device), gives each feed a log-normal number of items around ``--items`` (5 to 4x), and
runs:

- ours exactly as shipped, feed-only (``ours-shipped``) and with extraction on
  (``ours-shipped-extract``: each new item's page fetched and extracted, reported apart
  because the peers do not extract);
- reader and newsboat with their defaults (``reader-defaults``: one worker;
  ``newsboat-defaults``: one reload thread) and with their best settings (``--workers``).

Each client does the same phases as scenarios 1-3 (cold, warm, churn) on the same farm in
the same run; times are medians of ``--runs`` with min-max.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from benchmarks import feeds
from benchmarks.clients import REAL_CLIENTS
from benchmarks.farm import Farm


def run(o: Any, log: Any = print) -> dict[str, Any]:
    opts = copy.copy(o)
    opts.profile = []
    with Farm(
        o.real_feeds,
        o.items,
        desc_len=o.desc_len,
        backend=o.farm,
        gzip_static=not o.no_gzip,
        hosts=o.hosts,
        sizes="real",
    ) as farm:
        t0 = time.perf_counter()
        sizes = farm.generate()
        farm.start()
        items = sum(farm.items_of(i) for i in range(farm.spec.n_feeds))
        meta = {
            "backend": farm.spec.backend,
            "hosts": farm.spec.hosts,
            "feeds": farm.spec.n_feeds,
            "items": items,
            "items_min": min(farm.items_of(i) for i in range(farm.spec.n_feeds)),
            "items_max": max(farm.items_of(i) for i in range(farm.spec.n_feeds)),
            "pages": farm.n_pages,
            "generate_seconds": time.perf_counter() - t0,
            **sizes,
        }
        log(
            f"real-world farm: {meta['feeds']} feeds on {meta['hosts']} hosts, {items} items "
            f"({meta['items_min']}-{meta['items_max']} a feed)"
        )
        clients = [c for c in REAL_CLIENTS if c in o.real_clients]
        return {"meta": meta, **feeds.run(opts, farm, clients, log)}


def _cell(st: dict[str, float] | None, fmt: str = "{:.2f}") -> str:
    if not st:
        return "—"
    return f"{fmt.format(st['median'])} ({fmt.format(st['min'])}–{fmt.format(st['max'])})"


def render(d: dict[str, Any] | None, when: str) -> list[str]:
    L = ["## Real-world farm: many hosts, shipped settings (issue 17)", ""]
    if not d:
        return L + ["Not run.", ""]
    m = d["meta"]
    L += [
        when,
        "",
        f"{m['feeds']:,} feeds on {m['hosts']} loopback hosts ({m['backend']}), {m['items']:,} "
        f"items ({m['items_min']}–{m['items_max']} a feed, log-normal), "
        f"{m['feed_bytes_total'] / 1e6:.1f} MB of feeds, {m['pages']} article pages. Every "
        "client runs the same phases on the same farm in the same run; median (min–max) of "
        "the runs. `ours-shipped` is ours exactly as a user gets it (2 connections per host, "
        "10 in all), feed-only like the peers; `ours-shipped-extract` also fetches and "
        "extracts every new item's page. `-defaults` are the peers out of the box (reader: "
        "1 worker; newsboat: 1 reload thread); without the suffix, their best settings "
        "(16 workers / threads).",
        "",
        "| client | cold s | items/s | warm s | feeds/s (304) | churn s | cold × ours-shipped |",
        "|---|---|---|---|---|---|---|",
    ]
    summ = d.get("summary", {})
    base = ((summ.get("ours-shipped") or {}).get("cold") or {}).get("seconds")
    for c, s in summ.items():
        cold = s["cold"]["seconds"]
        ratio = f"{cold['median'] / base['median']:.2f}×" if cold and base else "—"
        L.append(
            f"| {c} | {_cell(cold)} | {_cell(s['cold']['rate'], '{:,.0f}')} | "
            f"{_cell(s['warm']['seconds'])} | {_cell(s['warm']['rate'], '{:,.0f}')} | "
            f"{_cell(s['churn']['seconds'])} | {ratio} |"
        )
    for c, why in d.get("availability", {}).items():
        if why:
            L.append(f"\n- {c}: {why}")
    return L + [""]
