"""Politeness: bounded concurrency overall and per host, spacing, and cool-downs.

One feed host must not be hammered by the many feeds it serves, and a 429/503 from it
holds every request to it, whichever feed asked.  Times are on ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aggregator.http.guard import norm_host

__all__ = ["HostGates"]


@dataclass
class _HostGate:
    """Per-host politeness: concurrency limit, spacing and cool-down (monotonic times)."""

    slots: asyncio.Semaphore
    next_start: float = 0.0
    cool_until: float = 0.0
    users: int = 0

    def is_quiet(self, now: float) -> bool:
        return self.users == 0 and self.cool_until <= now and self.next_start <= now


async def _sleep_until(moment: Callable[[], float]) -> None:
    """Sleep until `moment()` passes; re-read, since a cool-down may be extended meanwhile."""
    while (delay := moment() - time.monotonic()) > 0:
        await asyncio.sleep(delay)


class HostGates:
    """The turns of one fetcher's requests; a host's gate lives only while it is in use."""

    def __init__(self, *, max_connections: int, max_per_host: int, min_interval: float) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._max_per_host = max_per_host
        self._min_interval = min_interval
        self._gates: dict[str, _HostGate] = {}

    def cool_down(self, host: str, seconds: float) -> None:
        """Hold every request to `host` for `seconds` (extends, never shortens, a cool-down)."""
        gate = self._gate(host)
        gate.cool_until = max(gate.cool_until, time.monotonic() + seconds)

    def cooling_until(self, host: str) -> float | None:
        """When `host`'s cool-down ends, on the time.monotonic() clock; None if not cooling."""
        gate = self._gates.get(norm_host(host))
        return gate.cool_until if gate and gate.cool_until > time.monotonic() else None

    def _gate(self, host: str) -> _HostGate:
        key = norm_host(host)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _HostGate(asyncio.Semaphore(self._max_per_host))
        return gate

    @asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        """Wait for a host slot, the cool-down, a global slot and the host spacing, in that order.

        The global slot is taken last so a queue for one slow host never starves the others.
        """
        gate = self._gate(host)
        gate.users += 1
        try:
            async with gate.slots:
                await _sleep_until(lambda: gate.cool_until)
                async with self._slots:
                    await _sleep_until(lambda: gate.next_start)
                    gate.next_start = time.monotonic() + self._min_interval
                    yield
        finally:
            gate.users -= 1
            if gate.is_quiet(time.monotonic()):
                self._gates.pop(norm_host(host), None)
