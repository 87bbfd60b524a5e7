"""Group commit for ingest: feeds whose items are ready at the same time share one
database transaction, written off the event loop.

A cold poll of a thousand feeds used to commit a thousand times, and every
SQLite commit also flushes a full-text index segment; the event loop, which
also fetches, waited for each. Here the first batch starts a drain task; while
the writer thread commits a group, the next batches queue up and go together.
A caller still gets its article ids only once they are committed, so nothing
downstream (feed state, alerts) runs ahead of the data it depends on.

If a group's transaction fails, its batches are retried one by one, so one bad
feed fails alone. Once a batch that queued alerts is committed, `on_alerts` is
called (the daemon delivers them at once instead of at its next tick).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aggregator.storage.records import IngestBatch
from aggregator.storage.store import Store

AlertFactory = Callable[..., Any]
#: Enough to amortise a commit; small enough that one transaction stays short.
MAX_GROUP = 64
#: How long a first batch waits for company before its group is written: feeds
#: come out of the parse workers one by one, and a lone feed per transaction is
#: what this module exists to avoid. Nobody notices 50 ms before an alert.
LINGER_S = 0.05

_Pending = tuple[IngestBatch, AlertFactory | None, "asyncio.Future[list[int]]"]


class IngestWriter:
    """Writes IngestBatches for one event loop; see the module docstring."""

    def __init__(self, store: Store, max_group: int = MAX_GROUP, linger: float = LINGER_S) -> None:
        self.store = store
        self.max_group = max_group
        self.linger = linger
        self._pending: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self.on_alerts: Callable[[], None] | None = None

    async def write(self, batch: IngestBatch, alerts_for: AlertFactory | None) -> list[int]:
        """Store one feed's batch; returns its article ids once committed."""
        planned: list[Any] = []
        if alerts_for is not None and self.on_alerts is not None:
            alerts_for = _noting(alerts_for, planned)
        ids = await self._write(batch, alerts_for)
        if planned and self.on_alerts is not None:
            self.on_alerts()
        return ids

    async def _write(self, batch: IngestBatch, alerts_for: AlertFactory | None) -> list[int]:
        if not self.store.shares_threads:  # in-memory SQLite: one thread, one connection
            return self.store.ingest(batch, alerts_for)
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, alerts_for, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_group and self.linger > 0:
                await asyncio.sleep(self.linger)
            group = self._pending[: self.max_group]
            del self._pending[: self.max_group]
            await self._write_group(group)

    async def _write_group(self, group: list[_Pending]) -> None:
        try:
            results = await asyncio.to_thread(self.store.ingest_many, [(b, a) for b, a, _ in group])
        except Exception:  # noqa: BLE001 - retried alone below, each failing on its own
            for item in group:
                await self._write_alone(item)
            return
        for (_, _, future), ids in zip(group, results):
            if not future.done():
                future.set_result(ids)
        self._checkpoint_behind()

    async def aclose(self) -> None:
        """Wait for the groups and the checkpoint still in flight."""
        for task in (self._task, self._checkpoint):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    def _checkpoint_behind(self) -> None:
        """Start a checkpoint beside the writer unless one is running (see Store.checkpoint)."""
        if not self.store.checkpoints:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._checkpoint = asyncio.create_task(asyncio.to_thread(self.store.checkpoint))

    async def _write_alone(self, item: _Pending) -> None:
        batch, alerts_for, future = item
        try:
            ids = await asyncio.to_thread(self.store.ingest, batch, alerts_for)
        except Exception as e:  # noqa: BLE001 - handed to the feed's own coroutine
            if not future.done():
                future.set_exception(e)
            return
        if not future.done():
            future.set_result(ids)


def _noting(alerts_for: AlertFactory, planned: list[Any]) -> AlertFactory:
    """`alerts_for`, keeping what it planned (called in the writer thread)."""

    def plan(*args: Any) -> Any:
        drafts = alerts_for(*args)
        planned.extend(drafts or ())
        return drafts

    return plan
