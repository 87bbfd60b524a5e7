"""The per-event-loop handle `Aggregator.running()` yields, and concurrent polls.

The pipeline's edges (`ingest.pipeline.Stages`: fetcher, extraction pool, topic
index, writer) are internal; callers get a :class:`Run`, which they hand back to
``poll_due``/``recheck_due``/``deliver_due`` and which offers the two things a
daemon does to a running pipeline: share a host's cool-down, and time extractions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aggregator.config.models import FeedConfig
from aggregator.types import UpdateResult

if TYPE_CHECKING:  # the pipeline loads when a poll runs, not when the facade is imported
    from aggregator.ingest.pipeline import Stages

Progress = Callable[[UpdateResult], None]


class Run:
    """The pipeline as it runs on one event loop (opaque but for these methods)."""

    def __init__(self, stages: Stages) -> None:
        self._stages = stages

    def cool_down(self, host: str, seconds: float) -> None:
        """Make every fetch to `host` wait `seconds` (a 429/503 another worker met)."""
        cool = getattr(self._stages.fetcher, "cool_down", None)
        if cool is not None and seconds > 0:
            cool(host, seconds)

    def on_alerts(self, notify: Callable[[], None]) -> None:
        """Call `notify()` on this loop each time a poll has committed new alerts."""
        self._stages.ingest_writer().on_alerts = notify

    def observe_extraction(self, observe: Callable[[float], None]) -> None:
        """Call `observe(seconds)` after each page extraction (the daemon's histogram)."""
        self._stages.extractor = _Timed(self._stages.extractor, observe)  # type: ignore[assignment]


def stages_of(run: Run) -> Stages:
    """The internal edges behind a Run (for the facade only)."""
    return run._stages


class _Timed:
    """A worker pool whose run() calls are timed; everything else passes through."""

    def __init__(self, inner: Any, observe: Callable[[float], None]) -> None:
        self._inner = inner
        self._observe = observe

    async def run(self, data: bytes, spec: Any) -> Any:
        start = time.perf_counter()
        try:
            return await self._inner.run(data, spec)
        finally:
            self._observe(time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def poll_many(
    st: Stages,
    feeds: Sequence[FeedConfig],
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> list[UpdateResult]:
    """Poll feeds concurrently (the fetcher bounds connections); never raises per feed.

    A second bound keeps fetched-but-unprocessed bodies from piling up in memory
    while the parse workers catch up.
    """
    import asyncio

    from aggregator.ingest.pipeline import poll_feed

    in_flight = asyncio.Semaphore(st.config.network.max_connections * 4)

    async def one(feed: FeedConfig) -> UpdateResult:
        try:
            async with in_flight:
                result = await poll_feed(st, feed, force=force)
        except Exception as e:  # noqa: BLE001 - one bad feed never stops the others
            result = UpdateResult(feed.name, error=f"internal error: {e!r}", error_kind="internal")
        if progress:
            progress(result)
        return result

    if len(feeds) > 1:
        st.states = st.store.feed_states([f.name for f in feeds])
    try:
        return list(await asyncio.gather(*(one(f) for f in feeds)))
    finally:
        st.states = {}
        st.flush_feed_updates()
