"""Fetches paced to the parse workers (ingest.backlog): in a burst of changed feeds a
fetched body waits behind a few feeds' work, not behind the whole burst's."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from aggregator.ingest.backlog import AHEAD_PER_WORKER, Backlog, Ticket
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, Request, Response


def _rss(n: int, items: int = 3) -> bytes:
    entries = "".join(
        f"<item><title>Story {n}-{i} about the harbour</title>"
        f"<link>https://example.org/{n}/{i}</link><guid>{n}-{i}</guid>"
        f"<description>Feed {n} reports story {i} in a few words.</description></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
        f"<link>https://example.org/{n}</link>{entries}</channel></rss>"
    ).encode()


def test_a_burst_of_changed_feeds_is_fetched_no_faster_than_the_workers_take_it(
    http_server: LoopbackServer,
    tmp_path: Path,
    make_agg: AggFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 feeds fall due together (the daemon's poll burst). Before, all of them were
    fetched at once (40 polls in flight) and the last body waited for the other 29
    feeds' parse; now at most AHEAD_PER_WORKER bodies are fetched and not processed
    (a body is processed when the workers are done with it: its turn ends before the
    write, which groups many feeds per commit)."""
    lock = threading.Lock()
    events: list[tuple[float, int]] = []  # (+1 fetched, -1 processed)
    close = Ticket.close

    def processed(ticket: Ticket) -> None:
        if ticket._state != "done":
            with lock:
                events.append((time.monotonic(), -1))
        close(ticket)

    monkeypatch.setattr(Ticket, "close", processed)

    def serve(n: int) -> object:
        def handle(req: Request) -> Response:
            with lock:
                events.append((time.monotonic(), +1))
            return Response(200, _rss(n), {"Content-Type": "application/rss+xml"})

        return handle

    feeds = []
    for n in range(30):
        url = http_server.handle(f"/burst{n}.xml", serve(n))  # type: ignore[arg-type]
        feeds.append({"name": f"f{n}", "url": url, "extract": False})

    with make_agg(write_config(tmp_path, feeds), extract_workers=1) as agg:
        results = agg.poll()
    assert [r.error for r in results] == [None] * 30
    assert sum(r.new for r in results) == 90
    ahead = peak = 0
    for _, step in sorted(events):
        ahead += step
        peak = max(peak, ahead)
    assert peak <= AHEAD_PER_WORKER  # one worker


def test_fetches_that_bring_no_body_do_not_hold_back_the_others() -> None:
    """A warm poll (304s) keeps its connections: a fetch in flight counts only as much
    as the share of recent fetches that brought a body."""

    async def scenario() -> tuple[int, int]:
        gate = Backlog(workers=1, per_worker=2)
        cold = [await gate.enter(), await gate.enter()]
        third = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        held = not third.done()
        cold[0].fetched(True)  # a body to parse: still two ahead
        await asyncio.sleep(0)
        held = held and not third.done()
        cold[1].fetched(False)  # a 304: its place is free
        await asyncio.sleep(0)
        assert held and third.done()
        cold[0].close()
        cold[1].close()
        third.result().fetched(False)
        for _ in range(40):  # a run of 304s
            (await gate.enter()).fetched(False)
        warm = []
        while len(warm) < 50:
            t = asyncio.ensure_future(gate.enter())
            await asyncio.sleep(0)
            if not t.done():
                t.cancel()
                break
            warm.append(t.result())
        for w in warm:
            w.close()
        return len(warm), gate.fetching + gate.processing

    admitted, left = asyncio.run(scenario())
    assert admitted > 10  # against 2 for bodies
    assert left == 0
