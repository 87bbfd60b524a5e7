"""The facade methods the daemon (and the CLI's operations) need beyond polling:
readiness, queue depths, shared cool-downs, source-health alerts, the outbox's
channels, lease release, and one page fetched on request (`topics test --url`).
They call these, never the Store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregator.config.models import Config
from aggregator.types import FeedState, PageText, QueueDepths

if TYPE_CHECKING:  # loaded where used: the read-only commands never need them
    from aggregator.alerts.types import SourceHealth
    from aggregator.ingest.pipeline import Stages
    from aggregator.storage.store import Store


class DaemonAPI:
    """Mixed into :class:`~aggregator.core.Aggregator`."""

    store: Store
    config: Config
    clock: Callable[[], datetime]
    _stages: Callable[[], AbstractAsyncContextManager[Stages]]

    def ping(self) -> bool:
        """Whether the database answers (/readyz)."""
        return self.store.ping()

    def oldest_pending_alert(self) -> datetime | None:
        """Since when the longest-waiting undelivered alert has been due (/readyz)."""
        return self.store.oldest_pending_alert(self.clock())

    def queue_depths(self) -> QueueDepths:
        """Due feeds, pending alerts and due re-checks right now (/metrics)."""
        enabled = [f.name for f in self.config.feeds if f.enabled]
        return self.store.queue_depths(enabled, self.clock())

    def host_cool_downs(self) -> list[tuple[str, datetime]]:
        """(feed URL, until) for every Retry-After still running, whoever was told."""
        return self.store.host_cool_downs(self.clock())

    def feed_states(self, names: Sequence[str] | None = None) -> dict[str, FeedState]:
        """Every feed's stored fetch state (or those of `names`), keyed by feed name."""
        return self.store.feed_states(names)

    def queue_source_alerts(self, problems: Sequence[SourceHealth]) -> int:
        """Queue one alert per problem and subscribed channel (once a day); how many were new."""
        from aggregator.alerts.sources import source_alerts

        drafts = source_alerts(
            self.config, problems, self.clock(), installation=self.store.installation_id()
        )
        return self.store.insert_outbox(drafts)

    def pending_channels(self) -> set[str]:
        """Channels with alerts still to deliver (also those gone from feeds.yaml)."""
        return set(self.store.pending_channels())

    def queued_alert_payloads(self, status: str | None = None) -> list[dict[str, Any]]:
        """Queued alert events as stored (JSON), oldest first (`demo` shows them)."""
        return self.store.outbox_payloads(status=status)

    def release_leases(self, worker: str) -> int:
        """Hand back every claim `worker` holds (after a graceful stop)."""
        return self.store.release_leases(worker)

    def fetch_page(self, url: str, *, force: bool = False) -> PageText:
        """Fetch one page through the pipeline's fetcher (SSRF guard, size and time
        limits) and extract its text in this process: what `topics test --url` tries.
        A host that asked to wait is not asked unless `force` (HostWaitingError)."""
        import asyncio

        from aggregator.extract.article import extract_article
        from aggregator.ingest.rhythm import refuse_waiting

        refuse_waiting(url, [] if force else self.host_cool_downs())

        async def go() -> PageText:
            async with self._stages() as st:
                res = await st.fetcher.get(url)
            page = extract_article(res.content, res.final_url)
            return PageText(res.final_url, page.title, page.text, page.language)

        return asyncio.run(go())
