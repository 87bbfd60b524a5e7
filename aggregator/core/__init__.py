"""The Aggregator facade: what the CLI, the daemon, tests and benchmarks call.

``make_aggregator(config)`` takes a path or a loaded Config. Long-lived parts
(database engine, topic index, extraction pool) live on the Aggregator; the
HTTP client is made per event loop (``async with agg.running()``).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from aggregator.config.models import Config, FeedConfig, load_config
from aggregator.core.daemon_api import DaemonAPI
from aggregator.core.desk_api import DeskAPI
from aggregator.core.feeds_api import FeedsAPI
from aggregator.core.records import _document, _feed, _unknown, extracts_pages, topic_specs
from aggregator.core.run import Progress, Run, poll_many, stages_of
from aggregator.exceptions import NotFoundError, UsageError
from aggregator.storage.light import EngineReads, ListingReads, open_reads
from aggregator.testhooks import pause_point
from aggregator.types import (
    Alert,
    Article,
    Change,
    Feed,
    FeedState,
    UpdateResult,
    Version,
)

if TYPE_CHECKING:  # the stages load where they are used: `feeds list` needs none of them
    from aggregator.alerts.dispatch import DispatchReport
    from aggregator.extract.article import Extracted
    from aggregator.extract.pool import WorkerPool
    from aggregator.ingest.decide import PollOutcome
    from aggregator.ingest.pipeline import Stages
    from aggregator.ingest.prepare import PreparedFeed
    from aggregator.monitor.recheck import RecheckResult
    from aggregator.storage.store import Store
    from aggregator.topics import TopicIndex
    from aggregator.topics.crosslingual.service import CrossLingualMatcher

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Aggregator(DaemonAPI, DeskAPI, FeedsAPI):
    """One configured aggregator over one database."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        extract_workers: int | None = None,
        readonly: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock or utcnow
        self._store = store
        self._light: ListingReads | None = None
        if store is None and readonly:  # the listing reads and a schema check: see `store`
            self._light = open_reads(config.database_url())
        elif store is None:
            from aggregator.storage.store import Store

            self._store = Store.open(config.database_url())
        self._topics: TopicIndex | None = None  # built on first use: readers never need it
        self._crosslingual: CrossLingualMatcher | None = None
        workers = extract_workers if extract_workers is not None else min(2, os.cpu_count() or 1)
        self._extract_workers = workers
        self._extractor: WorkerPool[Extracted | PreparedFeed] | None = None
        self._runs: list[Stages] = []  # pipelines running now: a reload reaches them too
        if not readonly:  # a reader only shows: feeds.yaml's new feeds are added by writers
            self._build_topics(config)
            self.store.sync_feeds(((f.name, f.url) for f in config.feeds), self.clock())

    # ------------------------------------------------------------ lifecycle

    @property
    def store(self) -> Store:
        """The database. A read-only Aggregator opens only the listing reads
        (`storage.light`: all `feeds list` and `items list` need, a SQLite file without
        SQLAlchemy), and the full Store when a method first needs it (over the same
        engine, or a second read-only opening of the SQLite file)."""
        if self._store is None:
            from aggregator.storage.store import Store

            light = self._light
            if isinstance(light, EngineReads):
                self._store = Store(light.engine)
            else:
                self._store = Store.open(self.config.database_url(), readonly=True)
        return self._store

    @store.setter
    def store(self, store: Store) -> None:
        self._store = store

    @property
    def _reads(self) -> ListingReads:
        """The listing reads, through whichever of the two is open."""
        reads = self._store if self._store is not None else self._light
        assert reads is not None
        return reads

    @property
    def topics(self) -> TopicIndex:
        """Every topic compiled (built when first needed: `feeds list` never is)."""
        if self._topics is None:
            self._build_topics(self.config)
        assert self._topics is not None
        return self._topics

    @property
    def crosslingual(self) -> CrossLingualMatcher:
        """Cross-lingual matching of the topics that have it (thresholds calibrated on
        stored articles at first use, in a worker process)."""
        if self._crosslingual is None:
            self._build_topics(self.config)
        assert self._crosslingual is not None
        return self._crosslingual

    def _build_topics(self, config: Config) -> None:
        from aggregator.topics import TopicIndex
        from aggregator.topics.crosslingual.service import CrossLingualMatcher, cross_specs

        specs = topic_specs(config)
        self._topics = TopicIndex(specs)
        self._crosslingual = CrossLingualMatcher(cross_specs(specs), self._background)

    @property
    def extractor(self) -> WorkerPool[Extracted | PreparedFeed]:
        """Started on first use: polls of extract:false feeds never pay for it."""
        if self._extractor is None:
            from aggregator.extract.extractor import article_pool
            from aggregator.ingest.prepare import run_job

            self._extractor = article_pool(
                run_job,
                workers=self._extract_workers,
                warm_extract=extracts_pages(self.config),
                max_bytes=self.config.network.max_bytes,
            )
        return self._extractor

    def start_workers(self) -> None:
        """Start the parse/extraction worker processes now rather than in the first poll,
        as the daemon does when it starts (~0.1-1 s: a process start and the model)."""
        import asyncio

        asyncio.run(self.extractor.start())

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
        if self._store is not None:
            self._store.close()
        if self._light is not None and self._light is not self._store:
            self._light.close()  # an engine shared with the Store: disposing twice is harmless

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reload(self, config: Config) -> None:
        """Adopt a new config (live reload): feeds, topics and channels."""
        self._build_topics(config)
        self.config = config
        self.store.sync_feeds(((f.name, f.url) for f in config.feeds), self.clock())
        for st in self._runs:
            st.config, st.topics = self.config, self.topics

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Run]:
        """The pipeline for this event loop (HTTP client, writer): pass the Run it
        yields to poll_due, recheck_due and deliver_due."""
        async with self._stages() as st:
            self._runs.append(st)
            try:
                yield Run(st)
            finally:
                self._runs.remove(st)

    @contextlib.asynccontextmanager
    async def _stages(self) -> AsyncIterator[Stages]:
        """The pipeline's edges for this event loop."""
        from aggregator.http.fetcher import Fetcher
        from aggregator.http.policy import fetch_policy
        from aggregator.ingest.pipeline import Stages

        async with Fetcher(fetch_policy(self.config), now=self.clock) as fetcher:
            st = Stages(
                self.config,
                self.store,
                fetcher,
                self.extractor,
                self.topics,
                self.clock,
                self._plan_alerts,
                self._next_poll,
                crosslingual=self.crosslingual,
            )
            try:
                yield st
            finally:
                if st.writer is not None:
                    await st.writer.aclose()

    def _background(self) -> list[str]:
        """Titles and summaries of recent stored articles: the calibration background."""
        from aggregator.topics.crosslingual.service import CALIBRATION_ARTICLES

        recent = self.store.list_articles(limit=CALIBRATION_ARTICLES)
        return [" ".join(x for x in (a.title, a.summary) if x) for a in recent]

    def _next_poll(
        self, feed: FeedConfig, state: FeedState, outcome: PollOutcome, now: datetime
    ) -> datetime:
        from aggregator.ingest import rhythm as schedule

        return schedule.next_poll(feed, state, outcome, now, self.config)

    def _plan_alerts(
        self, aid: int, draft: Any, matches: Any, now: datetime, feeds: Sequence[str] = ()
    ) -> list[Any]:
        from aggregator.alerts.plan import plan_match_alerts

        return plan_match_alerts(
            self.config, aid, draft, matches, now, feeds, installation=self.store.installation_id()
        )

    # ------------------------------------------------------------ polling

    def select_feeds(self, names: Sequence[str] | None = None) -> list[FeedConfig]:
        """Named feeds (any state), or every enabled feed."""
        if not names:
            return [f for f in self.config.feeds if f.enabled]
        missing = [n for n in names if self.config.feed(n) is None]
        if missing:
            raise NotFoundError(
                f"no feed named {', '.join(map(repr, missing))}", hint="see `aggregator feeds list`"
            )
        return [f for n in names if (f := self.config.feed(n)) is not None]

    async def apoll(
        self,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        *,
        force: bool = False,
    ) -> list[UpdateResult]:
        from aggregator.ingest import rhythm as schedule

        waits = self.cool_downs(force=force)
        feeds, skipped = schedule.skip_waiting(self.select_feeds(names), waits)
        if progress is not None:
            for r in skipped:
                progress(r)
        async with self.running() as run:
            stages_of(run).cool_downs = waits  # their pages too (extraction)
            found = await poll_many(stages_of(run), feeds, progress, force=bool(names) or force)
            return skipped + found

    def poll(
        self,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        *,
        force: bool = False,
    ) -> list[UpdateResult]:
        """Poll now (all enabled feeds, or those named); one result per feed.

        A server's Retry-After (429/503) holds here as in the daemon: its feeds are
        skipped, with `skipped_until`, unless `force`.
        """
        import asyncio

        return asyncio.run(self.apoll(names, progress, force=force))

    async def poll_due(
        self, run: Run, *, worker: str, limit: int = 100, lease: timedelta | None = None
    ) -> list[UpdateResult]:
        """Claim the feeds that are due (a lease per feed, shared safely between
        daemons on PostgreSQL) and poll them. A feed whose host asked to wait (a 429/503
        Retry-After any worker or command met) is not polled: due again when it allows."""
        from aggregator.ingest import rhythm as schedule

        now = self.clock()
        enabled = [f.name for f in self.config.feeds if f.enabled]
        until = now + (lease or self.config.daemon.lease)
        names = self.store.claim_due_feeds(
            enabled, now, worker=worker, lease_until=until, limit=limit
        )
        claimed = [f for n in names if (f := self.config.feed(n)) is not None]
        waits = self.cool_downs()
        feeds, held = schedule.hold_back(claimed, lambda f: f.url, waits)
        stages_of(run).cool_downs = waits  # the pages of the others' entries too
        for f, wait in held:  # a sibling of a feed told to wait: due again when the host allows
            self.store.defer_feeds([f.name], wait, worker=worker)
        return [UpdateResult(f.name, skipped_until=w) for f, w in held] + await poll_many(
            stages_of(run), feeds
        )

    async def recheck_due(
        self,
        run: Run,
        *,
        worker: str,
        limit: int = 50,
        ids: Sequence[int] | None = None,
        force: bool = False,
    ) -> list[RecheckResult]:
        """Re-check articles (and page watches) that are due, or exactly `ids`.

        A story whose host asked to wait (429/503 Retry-After, met by any command) is
        not fetched unless `force`: it is skipped, due again when the host allows.
        """
        import asyncio

        from aggregator.ingest import rhythm as schedule
        from aggregator.monitor.recheck import RecheckResult, recheck

        st = stages_of(run)
        now = self.clock()
        self._sync_watches(now)
        targets = self.store.claim_due_checks(
            now,
            worker=worker,
            limit=limit,
            lease_until=now + self.config.daemon.lease,
            ids=ids,
        )
        targets, held = schedule.hold_back(targets, lambda t: t.url, self.cool_downs(force=force))
        for t, wait in held:
            self.store.defer_checks([t.id], wait, worker=worker)
        skipped = [RecheckResult(t.id, "skipped", skipped_until=w) for t, w in held]
        boilerplate = self._boilerplate({t.site for t in targets if t.site})
        return skipped + list(
            await asyncio.gather(
                *(recheck(st, t, boilerplate.get(t.site or "", frozenset())) for t in targets)
            )
        )

    def _sync_watches(self, now: datetime) -> None:
        for w in self.config.watches:
            if w.enabled:
                self.store.ensure_watch(w.name, w.url, now)

    def _boilerplate(self, sites: set[str]) -> dict[str, frozenset[str]]:
        """Per site, the lines that recur across its recent articles (promo blocks)."""
        from aggregator.changes import learn_boilerplate

        return {s: learn_boilerplate(self.store.site_texts(s)) for s in sites}

    async def deliver_due(
        self,
        run: Run,
        *,
        worker: str,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        only: Sequence[str] | None = None,
        flush: bool = False,
    ) -> DispatchReport:
        """Send the alerts that are due (only `ids` when given, only the channels `only`
        names when given; with `flush`, also those held for grouping); mark each as soon
        as its receiver accepted, never before."""
        from aggregator.alerts import dispatch
        from aggregator.alerts.outbox import StoreOutbox
        from aggregator.alerts.registry import build_channel

        st = stages_of(run)
        pause_point("before-send")
        configs = {c.name: c for c in self.config.alerts}
        chans = {
            n: build_channel(
                c,
                fetcher_factory=lambda: st.fetcher,
                clock=self.clock,
                allow_private=tuple(self.config.network.allow_private),
            )
            for n, c in configs.items()
        }
        return await dispatch.deliver_due(
            StoreOutbox(self.store),
            chans,
            configs,
            now=self.clock(),
            worker=worker,
            rng=random.Random(),
            limit=limit,
            lease=self.config.daemon.lease,
            ids=ids,
            clock=self.clock,
            only=only,
            flush=flush,
        )

    async def test_channel(self, name: str) -> str:
        """Send a test message through one channel; returns what the receiver answered."""
        from aggregator.alerts.plan import stable_alert_id
        from aggregator.alerts.registry import build_channel
        from aggregator.alerts.types import AlertEvent

        configs = {c.name: c for c in self.config.alerts}
        if name not in configs:
            raise NotFoundError(
                f"no alert channel named {name!r}",
                hint=f"channels: {', '.join(configs) or 'none configured'}",
            )
        now = self.clock()
        event = AlertEvent(
            alert_id=stable_alert_id(
                "test", name, now.isoformat(), installation=self.store.installation_id()
            ),
            event="test",
            channel=name,
            topic=None,
            created_at=now,
        )
        async with self._stages() as st:
            ch = build_channel(
                configs[name],
                fetcher_factory=lambda: st.fetcher,
                clock=self.clock,
                allow_private=tuple(self.config.network.allow_private),
            )
            return (await ch.send([event])).detail

    def alerts(self, status: str | None = None, limit: int = 100) -> list[Alert]:
        return self.store.list_alerts(status, limit)

    def retry_alerts(self, ids: Sequence[int] | None, *, resend: bool = False) -> int:
        """Make alerts due again (by id, or every dead one); a sent one only with `resend`."""
        return self.store.retry_alerts(ids, self.clock(), resend=resend)

    def changes(
        self,
        *,
        since: datetime | None = None,
        topic: str | None = None,
        limit: int = 100,
        article_id: int | None = None,
    ) -> list[Change]:
        self._check_topic(topic)
        return self.store.list_changes(since=since, topic=topic, limit=limit, article_id=article_id)

    def recheck(
        self, ids: Sequence[int] | None = None, *, force: bool = False
    ) -> list[RecheckResult]:
        """Re-check now, whatever the schedule: `ids`, or every monitored article.
        Those whose host asked to wait are skipped (`skipped_until`) unless `force`."""
        import asyncio

        async def go() -> list[RecheckResult]:
            async with self.running() as run:
                chosen = list(ids) if ids else None
                if chosen:
                    for i in chosen:
                        self.store.get_article(i)
                limit = len(chosen) if chosen else 100_000
                if chosen is None:
                    self.store.set_next_check(self.store.monitored_ids(), self.clock())
                return await self.recheck_due(
                    run, worker=f"cli-{os.getpid()}", limit=limit, ids=chosen, force=force
                )

        return asyncio.run(go())

    # ------------------------------------------------------------ feed management

    # ------------------------------------------------------------ reading

    def feeds(self) -> list[Feed]:
        states = self._reads.feed_states()
        counts = self._reads.feed_article_counts()
        return [_feed(f, states.get(f.name), counts, self.config) for f in self.config.feeds]

    def articles(
        self,
        *,
        feed: str | None = None,
        since: datetime | None = None,
        topic: str | None = None,
        limit: int = 50,
        published_since: datetime | None = None,
    ) -> list[Article]:
        """Stored articles, newest first seen first. ``since`` filters on when we first
        saw them, ``published_since`` on their published date (articles without one
        are left out)."""
        if feed and self.config.feed(feed) is None and feed not in self._reads.feed_states():
            raise _unknown("feed", feed, [f.name for f in self.config.feeds])
        self._check_topic(topic)
        return self._reads.list_articles(
            feed=feed, since=since, topic=topic, limit=limit, published_since=published_since
        )

    def _check_topic(self, topic: str | None) -> None:
        if topic and topic not in {t.name for t in self.config.topics}:
            raise _unknown("topic", topic, [t.name for t in self.config.topics])

    def article(self, article_id: int) -> Article:
        return self.store.get_article(article_id)

    def versions(self, article_id: int) -> list[Version]:
        self.store.get_article(article_id)
        return self.store.versions(article_id)

    def search(self, query: str, *, limit: int = 20) -> list[tuple[Article, Any]]:
        """Stored articles matching `query`: FTS narrows the candidates, the matcher decides."""
        from aggregator.topics import TopicIndex, TopicSpec, prefilter_terms

        index = TopicIndex([TopicSpec(name="search", query=query)])
        prefixes = prefilter_terms(query)
        out: list[tuple[Article, Any]] = []
        for aid in self.store.fts_candidates(prefixes, limit=max(500, limit * 20)):
            art = self.store.get_article(aid)
            hits = index.match(_document(art))
            if hits:
                out.append((art, hits[0]))
            if len(out) >= limit:
                break
        return out


def make_aggregator(
    config: Config | str | os.PathLike[str] | None = None,
    *,
    clock: Clock | None = None,
    extract_workers: int | None = None,
    readonly: bool = False,
) -> Aggregator:
    """Build an Aggregator from a Config or a feeds.yaml path (default: $AGGREGATOR_CONFIG).

    `readonly`: for showing what is stored; the database is neither created nor
    migrated (a new or old one is a SchemaError saying how to upgrade it).
    """
    cfg = (
        config
        if isinstance(config, Config)
        else load_config(Path(config) if config is not None else None)
    )
    if not isinstance(cfg, Config):
        raise UsageError("make_aggregator needs a Config or a path to feeds.yaml")
    return Aggregator(cfg, clock=clock, extract_workers=extract_workers, readonly=readonly)
