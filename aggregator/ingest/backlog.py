"""How many fetched feed bodies may wait for the parse workers at once.

A feed's processing latency runs from the fetch that sees a new item to its alert.
In a poll burst (hundreds of feeds falling due together) the fetches are fast and the
CPU work (parse, page extraction, matching) is slow, so every body fetched ahead of
the workers only waits in their queue: with ``max_connections × 4`` polls in flight,
40 feeds' bodies queued behind each other and an item waited for the work of all of
them (Little's law: the wait is the queue's depth over the workers' rate). Fetching
a body earlier than the workers can take it gains nothing, so here a poll starts its
fetch only while the bodies ahead of it stay few enough to keep the workers busy.

A 304 costs no CPU, and in a warm poll nearly every fetch is one, so a fetch in
flight counts only as much as the share of recent fetches that brought a body: warm
polls keep all their connections, bursts of changed feeds are paced to the workers.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: Feeds' bodies per extraction worker that may be fetched and not yet processed:
#: enough that a worker never waits for a fetch, few enough that an item waits for a
#: handful of feeds' work, not for a burst's.
AHEAD_PER_WORKER = 6
#: Weight of the newest fetch in the estimate of how many fetches bring a body.
SMOOTHING = 0.1
#: A fetch in flight always counts this much (the estimate never reaches zero).
FLOOR = 0.02


class Backlog:
    """The admission gate of one Run's polls (one event loop at a time)."""

    def __init__(self, workers: int, per_worker: int = AHEAD_PER_WORKER) -> None:
        self.limit = max(workers, 1) * per_worker
        self.body_share = 1.0  # cold: assume every fetch brings a body
        self.fetching = 0
        self.processing = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _load(self) -> float:
        return self.processing + self.fetching * max(self.body_share, FLOOR)

    async def enter(self) -> Ticket:
        """Wait until a body fetched now would not queue behind too many others."""
        if self._waiters or self._load() >= self.limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # our turn came as we were cancelled: pass it on
                raise
        self.fetching += 1
        ticket = Ticket(self)
        self._wake()  # the estimate may leave room for more than one
        return ticket

    def _wake(self) -> None:
        """Let the first waiter in if there is room (it wakes the next in turn)."""
        while self._waiters and self._load() < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Ticket:
    """One poll's place: fetching, then processing a body, then done."""

    def __init__(self, backlog: Backlog) -> None:
        self._backlog = backlog
        self._state = "fetching"

    def fetched(self, body: bool) -> None:
        """The fetch is over: with a body to process (True), or nothing (304, error)."""
        if self._state != "fetching":
            return
        b = self._backlog
        b.fetching -= 1
        b.body_share += SMOOTHING * (float(body) - b.body_share)
        if body:
            b.processing += 1
            self._state = "processing"
        else:
            self._state = "done"
        b._wake()

    def close(self) -> None:
        """The poll is over (whatever happened)."""
        if self._state == "fetching":
            self.fetched(False)
        if self._state == "processing":
            self._backlog.processing -= 1
            self._state = "done"
            self._backlog._wake()
