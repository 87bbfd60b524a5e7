"""The Aggregator facade: what the CLI, the daemon, tests and benchmarks call.

``make_aggregator(config)`` takes a path or a loaded Config. Long-lived parts
(database engine, topic index, extraction pool) live on the Aggregator; the
HTTP client is made per event loop (``async with agg.running()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from aggregator import desk
from aggregator.alerts import dispatch
from aggregator.alerts.dispatch import DispatchReport
from aggregator.alerts.outbox import StoreOutbox
from aggregator.alerts.plan import stable_alert_id
from aggregator.alerts.registry import build_channel
from aggregator.alerts.types import AlertEvent
from aggregator.changes import learn_boilerplate
from aggregator.config.models import Config, FeedConfig, load_config
from aggregator.core.daemon_api import DaemonAPI
from aggregator.core.records import _document, _feed, _unknown, extracts_pages, topic_specs
from aggregator.core.run import Progress, Run, poll_many, stages_of
from aggregator.exceptions import NotFoundError, UsageError
from aggregator.extract.article import Extracted
from aggregator.extract.extractor import article_pool
from aggregator.extract.pool import WorkerPool
from aggregator.http.fetcher import Fetcher
from aggregator.http.policy import fetch_policy
from aggregator.ingest import feedtools
from aggregator.ingest import rhythm as schedule
from aggregator.ingest.decide import PollOutcome
from aggregator.ingest.pipeline import Stages
from aggregator.ingest.prepare import PreparedFeed, run_job
from aggregator.monitor.recheck import RecheckResult, recheck
from aggregator.storage.store import Store
from aggregator.testhooks import pause_point
from aggregator.topics import TopicIndex, TopicSpec, prefilter_terms
from aggregator.topics.crosslingual.service import (
    CALIBRATION_ARTICLES,
    CrossLingualMatcher,
    cross_specs,
)
from aggregator.types import (
    AddedFeed,
    Alert,
    Article,
    Change,
    Feed,
    FeedState,
    ReaderItem,
    ReaderToken,
    StreamFilter,
    StreamPage,
    Triage,
    UnreadCounts,
    UpdateResult,
    Version,
    VersionDiff,
)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Aggregator(DaemonAPI):
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
        self.store = store or Store.open(config.database_url(), readonly=readonly)
        self.topics = TopicIndex(topic_specs(config))
        self.crosslingual = self._cross_matcher(config)
        workers = extract_workers if extract_workers is not None else min(2, os.cpu_count() or 1)
        self._extract_workers = workers
        self._extractor: WorkerPool[Extracted | PreparedFeed] | None = None
        self._runs: list[Stages] = []  # pipelines running now: a reload reaches them too
        if not readonly:  # a reader only shows: feeds.yaml's new feeds are added by writers
            self.store.sync_feeds(((f.name, f.url) for f in config.feeds), self.clock())

    # ------------------------------------------------------------ lifecycle

    @property
    def extractor(self) -> WorkerPool[Extracted | PreparedFeed]:
        """Started on first use: polls of extract:false feeds never pay for it."""
        if self._extractor is None:
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
        asyncio.run(self.extractor.start())

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reload(self, config: Config) -> None:
        """Adopt a new config (live reload): feeds, topics and channels."""
        self.topics = TopicIndex(topic_specs(config))
        self.crosslingual = self._cross_matcher(config)
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

    def _cross_matcher(self, config: Config) -> CrossLingualMatcher:
        """Cross-lingual matching of the topics that have it (thresholds calibrated on
        stored articles at first use, in a worker process)."""
        return CrossLingualMatcher(cross_specs(topic_specs(config)), self._background)

    def _background(self) -> list[str]:
        """Titles and summaries of recent stored articles: the calibration background."""
        recent = self.store.list_articles(limit=CALIBRATION_ARTICLES)
        return [" ".join(x for x in (a.title, a.summary) if x) for a in recent]

    def _next_poll(
        self, feed: FeedConfig, state: FeedState, outcome: PollOutcome, now: datetime
    ) -> datetime:
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
        waits = [] if force else self.store.host_cool_downs(self.clock())
        feeds, skipped = schedule.skip_waiting(self.select_feeds(names), waits)
        if progress is not None:
            for r in skipped:
                progress(r)
        async with self.running() as run:
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
        return asyncio.run(self.apoll(names, progress, force=force))

    async def poll_due(
        self, run: Run, *, worker: str, limit: int = 100, lease: timedelta | None = None
    ) -> list[UpdateResult]:
        """Claim the feeds that are due (a lease per feed, shared safely between
        daemons on PostgreSQL) and poll them."""
        now = self.clock()
        enabled = [f.name for f in self.config.feeds if f.enabled]
        until = now + (lease or self.config.daemon.lease)
        names = self.store.claim_due_feeds(
            enabled, now, worker=worker, lease_until=until, limit=limit
        )
        feeds = [f for n in names if (f := self.config.feed(n)) is not None]
        return await poll_many(stages_of(run), feeds)

    async def recheck_due(
        self, run: Run, *, worker: str, limit: int = 50, ids: Sequence[int] | None = None
    ) -> list[RecheckResult]:
        """Re-check articles (and page watches) that are due, or exactly `ids`."""
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
        boilerplate = self._boilerplate({t.site for t in targets if t.site})
        return list(
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
        return {s: learn_boilerplate(self.store.site_texts(s)) for s in sites}

    async def deliver_due(
        self,
        run: Run,
        *,
        worker: str,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        only: Sequence[str] | None = None,
    ) -> DispatchReport:
        """Send the alerts that are due (only `ids` when given, only the channels `only`
        names when given); mark each as soon as its receiver accepted, never before."""
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
        )

    async def test_channel(self, name: str) -> str:
        """Send a test message through one channel; returns what the receiver answered."""
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

    def recheck(self, ids: Sequence[int] | None = None) -> list[RecheckResult]:
        """Re-check now, whatever the schedule: `ids`, or every monitored article."""

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
                    run, worker=f"cli-{os.getpid()}", limit=limit, ids=chosen
                )

        return asyncio.run(go())

    # ------------------------------------------------------------ feed management

    def add_feed(
        self,
        url: str,
        *,
        name: str | None = None,
        title: str | None = None,
        tags: Sequence[str] = (),
        interval: str | None = None,
        extract: bool | None = None,
        pick: int | None = None,
    ) -> AddedFeed:
        """Validate `url` as a feed through the SSRF guard, append it to feeds.yaml
        (comments kept) and adopt the new config; what `aggregator feeds add` does."""
        added, cfg = feedtools.add_feed(
            self.config,
            url,
            name=name,
            title=title,
            tags=tags,
            interval=interval,
            extract=extract,
            pick=pick,
        )
        self.reload(cfg)
        return added

    def remove_feed(self, name: str) -> None:
        """Drop a feed from feeds.yaml (its stored stories are kept)."""
        self.reload(feedtools.remove_feed(self.config, name))

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a feed in feeds.yaml (comments kept). Enabling also clears
        a stored disable (a 410 Gone): the user says the feed is back."""
        self.reload(feedtools.set_enabled(self.config, name, enabled))
        if enabled:
            self.store.clear_disabled(name)

    def edit_feed(self, name: str, *, title: str | None = None, add_tags: Sequence[str] = (),
                  remove_tags: Sequence[str] = ()) -> None:  # fmt: skip
        """Retitle a feed or change its tags in feeds.yaml (comments kept)."""
        self.reload(feedtools.edit_feed(self.config, name, title, add_tags, remove_tags))

    # ------------------------------------------------------------ reading

    def feeds(self) -> list[Feed]:
        states = self.store.feed_states()
        counts = self.store.feed_article_counts()
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
        if feed and self.config.feed(feed) is None and feed not in self.store.feed_states():
            raise _unknown("feed", feed, [f.name for f in self.config.feeds])
        self._check_topic(topic)
        return self.store.list_articles(
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

    # ------------------------------------------------------------ the desk

    def desk_secret(self) -> bytes:
        """The key the web layer signs sessions, CSRF and feed tokens with (kept in the
        database, so every daemon serving it agrees)."""
        return self.store.desk.secret()

    def stream(self, f: StreamFilter) -> StreamPage:
        """A page of stories, newest first: wire copies grouped, the match shown, triage."""
        return desk.stream_page(self.store, self.config, f)

    def count_stream(self, f: StreamFilter, cap: int = 1000) -> int:
        """How many stories the stream holds (unread badges), counting at most `cap`."""
        return self.store.desk.count(f, desk.feed_scope(self.store, self.config, f), cap)

    def triage(self, user: str, ids: Sequence[int]) -> dict[int, Triage]:
        return self.store.desk.triage(user, ids)

    def set_read(self, user: str, ids: Sequence[int], read: bool = True) -> int:
        """Mark stories read (or unread again) for one desk user."""
        return self.store.desk.set_read(user, ids, read, self.clock())

    def set_starred(self, user: str, ids: Sequence[int], starred: bool = True) -> int:
        return self.store.desk.set_starred(user, ids, starred, self.clock())

    def mark_all_read(self, f: StreamFilter, until: datetime | None = None) -> int:
        """Every story of the stream `f` (its user, topic, feed ...) first seen at or
        before `until` (default now) becomes read."""
        if f.user is None:
            raise UsageError("mark_all_read needs the desk user whose stories to mark")
        scope = desk.feed_scope(self.store, self.config, f)
        return self.store.desk.mark_all_read(f, scope, until or self.clock(), self.clock())

    def stream_ids(self, f: StreamFilter) -> list[int]:
        """Up to f.limit + 1 story ids of a stream, one per story (no wire-copy grouping,
        as reader apps expect): the reader API's pages."""
        scope = desk.feed_scope(self.store, self.config, f)
        return [r.article_id for r in self.store.desk.stream(f, scope)]

    # ------------------------------------------------------------ the reader API

    def reader_installation_id(self) -> str:
        """The random id of this database that the reader API's item ids derive from."""
        return self.store.installation_id()

    def add_reader_token(self, user: str, token_hash: str, client: str | None) -> None:
        """Record a reader app's login (only the token's digest is kept)."""
        self.store.reader_api.add_token(user, token_hash, client, self.clock())

    def reader_token_user(self, token_hash: str) -> str | None:
        """Whose login the token with this digest is, unless it was revoked."""
        return self.store.reader_api.token_user(token_hash, self.clock())

    def reader_tokens(self, user: str | None = None) -> list[ReaderToken]:
        return self.store.reader_api.tokens(user)

    def revoke_reader_tokens(self, *, user: str | None = None, token_id: int | None = None) -> int:
        """Log reader apps out: one token, a user's, or everyone's (neither given)."""
        return self.store.reader_api.revoke_tokens(self.clock(), user=user, token_id=token_id)

    def reader_items(self, ids: Sequence[int]) -> list[ReaderItem]:
        """Stories with their feeds, topics and edits, in the order given."""
        return self.store.reader_api.items(ids)

    def reader_unread_counts(self, user: str, cap: int = 1000) -> UnreadCounts:
        """Unread stories per feed, tag, topic and in all (reader apps' badges)."""
        feeds = self.config.feeds
        tags = {t: [f.name for f in feeds if t in f.tags] for f in feeds for t in f.tags}
        topics = [t.name for t in self.config.topics]
        return self.store.reader_api.unread_counts(user, [f.name for f in feeds], tags, topics, cap)

    def first_seen(self, ids: Sequence[int]) -> dict[int, datetime]:
        return self.store.reader_api.first_seen(ids)

    def compare_versions(self, article_id: int, old: int, new: int) -> VersionDiff:
        """Versions `old` and `new` of a story side by side, word by word."""
        return desk.compare(self.versions(article_id), article_id, old, new)

    def feed_activity(self, days: int = 30) -> dict[str, list[int]]:
        """Per feed, new stories per day over the last `days` days (oldest first)."""
        return desk.activity(self.store, self.clock(), days)

    def stream_languages(self) -> list[str]:
        return self.store.desk.languages()

    def alert_counts(self) -> dict[str, int]:
        """Alerts in the outbox per status (pending, failed, dead, sent)."""
        return self.store.outbox_counts()

    def watch_states(self) -> dict[str, tuple[datetime | None, int, str | None]]:
        """Per watched page: last check, check errors in a row, retraction note."""
        return self.store.desk.watch_states()


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
