"""Poll one feed: fetch → parse → identify → extract → match → store.

This module only sequences stages; each decision is a pure function elsewhere
(identity, parse, extract, topics, scheduling) and each I/O is at an edge
(fetcher, extraction pool, store). A feed's failure is returned as a value in
its UpdateResult and never stops the other feeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from aggregator import changes
from aggregator.config.durations import format_duration
from aggregator.config.models import Config, FeedConfig
from aggregator.exceptions import (
    AggregatorError,
    ExtractError,
    FetchError,
    ParseError,
    StorageError,
)
from aggregator.extract import teaser
from aggregator.extract.article import Extracted
from aggregator.extract.pool import WorkerPool
from aggregator.http.fetcher import Fetcher, FetchResult
from aggregator.ingest import decide, identity
from aggregator.ingest.backlog import Backlog, Ticket
from aggregator.ingest.decide import PollOutcome
from aggregator.ingest.matching import cross_match, match_literal
from aggregator.ingest.prepare import PreparedEntry, PreparedFeed, parse_spec
from aggregator.ingest.rhythm import host_wait_of, waiting_note
from aggregator.ingest.writer import IngestWriter
from aggregator.parse.feeds import ENTITY_NOTE, ParsedEntry
from aggregator.storage.records import (
    AlertDraft,
    ArticleDraft,
    EntryLink,
    FeedMeta,
    FeedState,
    FeedUpdate,
    IngestBatch,
    MatchDraft,
)
from aggregator.storage.store import Store
from aggregator.topics import TopicIndex
from aggregator.topics.crosslingual.service import CrossLingualMatcher
from aggregator.types import UpdateResult
from aggregator.urls import is_plain_absolute, redact_text

log = logging.getLogger("aggregator.ingest.pipeline")

Clock = Callable[[], datetime]
AlertPlanner = Callable[
    [int, ArticleDraft, Sequence[MatchDraft], datetime, Sequence[str]], list[AlertDraft]
]
ScheduleFn = Callable[[FeedConfig, FeedState, PollOutcome, datetime], datetime]


@dataclass
class Stages:
    """The edges the pipeline talks to; built once per Aggregator."""

    config: Config
    store: Store
    fetcher: Fetcher
    extractor: WorkerPool[Extracted | PreparedFeed]
    topics: TopicIndex
    clock: Clock
    plan_alerts: AlertPlanner
    schedule: ScheduleFn
    feed_updates: list[FeedUpdate] = dataclasses.field(default_factory=list)
    states: dict[str, FeedState] = dataclasses.field(default_factory=dict)
    writer: IngestWriter | None = None
    crosslingual: CrossLingualMatcher | None = None
    #: (URL, until) of every standing Retry-After: pages on those origins are not fetched.
    cool_downs: list[tuple[str, datetime]] = dataclasses.field(default_factory=list)
    backlog: Backlog | None = None

    async def admit(self) -> Ticket | None:
        """A poll's turn to fetch (ingest.backlog); None when jobs run inline."""
        workers = int(getattr(self.extractor, "workers", 0) or 0)
        if workers <= 0:
            return None
        if self.backlog is None:
            self.backlog = Backlog(workers)
        return await self.backlog.enter()

    def ingest_writer(self) -> IngestWriter:
        if self.writer is None:
            self.writer = IngestWriter(self.store)
        return self.writer

    def feed_state(self, name: str) -> FeedState:
        """Fetch state, preloaded for the whole cycle in one query when polling many."""
        state = self.states.pop(name, None)
        return state if state is not None else self.store.feed_state(name)

    def defer_feed_update(self, update: FeedUpdate) -> None:
        """Fetch-state writes are batched: one transaction per poll cycle, not per feed
        (a warm poll of a thousand 304s is otherwise a thousand commits)."""
        self.feed_updates.append(update)

    def flush_feed_updates(self) -> None:
        pending, self.feed_updates = self.feed_updates, []
        if pending:
            self.store.update_feeds(pending)


@dataclass(frozen=True)
class _Candidate:
    """A new feed entry on its way to becoming an article draft."""

    entry: ParsedEntry
    key: str
    prep: PreparedEntry

    @property
    def fingerprint(self) -> str:
        return self.prep.fingerprint

    @property
    def article_key(self) -> str:
        return self.prep.article_key


async def poll_feed(st: Stages, feed: FeedConfig, *, force: bool = False) -> UpdateResult:
    """Poll one feed; every failure becomes a recorded error on this feed alone.

    A feed disabled by a 410 is skipped unless `force` (the user named it). The
    whole poll runs within the feed's `poll_budget`; one over it is a failure. Beyond
    fetch and parse errors, anything else that goes wrong (the database refusing the
    write, a full disk, a bug) is recorded too: error count, last error, backoff, so
    `feeds list` shows it instead of `ok`.
    """
    state = st.feed_state(feed.name)
    ticket = await st.admit()  # before the budget: waiting for a turn is not the feed's fault
    now = st.clock()
    budget = st.config.poll_budget(feed)
    try:
        async with asyncio.timeout(budget.total_seconds()):
            return await _poll(st, feed, state, now, force=force, ticket=ticket)
    except TimeoutError:
        over = AggregatorError(
            f"poll stopped after its time budget of {format_duration(budget)} "
            "(fetch, parse and page extraction took longer)",
            hint="raise poll_budget for this feed, or lower its max_items",
        )
        return _record_failure(st, feed, state, over, now, kind="timeout")
    except AggregatorError as e:  # a StorageError (a full disk ...) or another stage's
        return _record_failure(st, feed, state, e, now)
    except Exception as e:  # noqa: BLE001 - a bug must be a recorded failure, not a silent one
        log.exception("poll of %s crashed", feed.name, extra={"feed": feed.name})
        crash = AggregatorError(f"internal error: {type(e).__name__}: {e}")
        return _record_failure(st, feed, state, crash, now, kind="internal")
    finally:
        if ticket is not None:
            ticket.close()


async def _poll(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    now: datetime,
    *,
    force: bool,
    ticket: Ticket | None = None,
) -> UpdateResult:
    if state.disabled_reason and not force:
        return UpdateResult(
            feed.name,
            error=f"disabled: {state.disabled_reason}",
            error_kind="disabled",
            disabled=True,
        )
    try:
        fetched = await st.fetcher.get(
            state.url, etag=state.etag, last_modified=state.last_modified
        )
    except FetchError as e:
        return _record_failure(st, feed, state, e, now)
    if ticket is not None:  # a body to parse, or nothing for the workers
        ticket.fetched(not fetched.not_modified and fetched.content_hash != state.body_hash)
    try:
        return await _after_fetch(st, feed, state, fetched, now, ticket)
    except ParseError as e:
        return _record_failure(st, feed, state, e, now)


async def _after_fetch(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    fetched: FetchResult,
    now: datetime,
    ticket: Ticket | None,
) -> UpdateResult:
    if fetched.not_modified:
        _record_ok(st, feed, state, fetched, None, now, new=0)
        return UpdateResult(feed.name, not_modified=True)
    if fetched.content_hash == state.body_hash:
        _record_ok(st, feed, state, fetched, None, now, new=0)
        return UpdateResult(feed.name, not_modified=True)
    prepared = await _prepare(st, fetched, st.config.max_items(feed))
    parsed = prepared.parsed
    if ENTITY_NOTE in parsed.warnings:
        raise ParseError(
            "refused: the feed declares XML entities (an XML bomb or external-entity "
            "attack); nothing was expanded or read",
            hint="ask the publisher to serve a plain feed without a DOCTYPE subset",
        )
    return await _ingest(st, feed, state, fetched, prepared, now, ticket)


async def _prepare(st: Stages, fetched: FetchResult, max_items: int) -> PreparedFeed:
    """Parse (and derive texts and languages) in the worker pool, off the event loop;
    only the newest `max_items` entries come back (the cap is applied in the worker)."""
    spec = parse_spec(fetched.final_url, fetched.content_type, max_items)
    try:
        result = await st.extractor.run(fetched.content, spec)
    except ExtractError as e:  # the pool's time limit or size cap
        raise ParseError(f"feed could not be parsed: {e}") from e
    assert isinstance(result, PreparedFeed)
    return result


async def _ingest(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    fetched: FetchResult,
    prepared: PreparedFeed,
    now: datetime,
    ticket: Ticket | None = None,
) -> UpdateResult:
    """Read once, decide in pure code (`ingest.decide`), write one intent.

    The backlog turn ends once the workers are done with this body, before the write:
    the writer groups many feeds per commit, so holding turns through it would pace
    fetches to commits (cold ingest 40% slower), not to the workers."""
    parsed = prepared.parsed
    rule = decide.pinned_rule(state.identity_rule, identity.choose_rule(parsed.entries))
    keyed = _dedupe_keys(
        [
            (identity.entry_key(e, rule, p.text), e, p)
            for e, p in zip(parsed.entries, prepared.prepared)
        ]
    )
    reads = st.store.poll_reads(state.id, [(k, p.article_key) for k, _, p in keyed])
    plan = decide.plan_entries({k: p.fingerprint for k, _, p in keyed}, reads.entries)
    fresh_keys = set(plan.fresh)
    fresh = [item for item in keyed if item[0] in fresh_keys]
    batch, counts = await _build_batch(st, feed, state, fresh, reads.articles, now)
    titles = {e.article_id: e.title for e in reads.entries.values()}
    batch = replace(
        batch,
        touched=plan.touched,
        gone_keys=plan.gone,
        seen_keys=plan.seen,
        recheck=plan.recheck,
        retractions=decide.retractions(plan.retract, titles, now),
    )
    if ticket is not None:
        ticket.close()
    await st.ingest_writer().write(
        batch, lambda aid, d, m: st.plan_alerts(aid, d, m, now, (feed.name,))
    )
    meta = FeedMeta(parsed.title, parsed.ttl_minutes, rule, parsed.warnings)
    _record_ok(st, feed, state, fetched, meta, now, new=counts)
    return UpdateResult(
        feed.name,
        new=counts,
        updated=len(plan.touched),
        unchanged=len(keyed) - len(fresh) - len(plan.touched),
        warnings=parsed.warnings,
        matches=sum(len(v) for v in batch.matches.values()),
    )


Keyed = tuple[str, ParsedEntry, PreparedEntry]


def _dedupe_keys(keyed: list[Keyed]) -> list[Keyed]:
    """A key listed twice in one feed document is one entry (the first)."""
    seen: set[str] = set()
    out = []
    for item in keyed:
        if item[0] not in seen:
            seen.add(item[0])
            out.append(item)
    return out


async def _build_batch(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    fresh: list[Keyed],
    existing: dict[str, int],
    now: datetime,
) -> tuple[IngestBatch, int]:
    cands = [_Candidate(e, k, p) for k, e, p in fresh]
    links = [
        EntryLink(c.key, c.fingerprint, article_id=existing[c.article_key])
        for c in cands
        if c.article_key in existing
    ]
    todo = [c for c in cands if c.article_key not in existing]
    next_check = changes.next_recheck(st.clock(), None, changes.schedule_of(st.config))  # first
    mode = st.config.extract_mode(feed)
    teaser_feed = mode == "auto" and teaser.feed_gives_teasers([c.prep.text for c in cands])
    pages = [teaser.wants_page(mode, c.prep.text, teaser_feed) for c in todo]
    if any(pages):
        drafts = list(
            await asyncio.gather(
                *(
                    _draft(st, feed, c, next_check)
                    if page
                    else _no_page(c, feed, st.config, next_check)
                    for c, page in zip(todo, pages)
                )
            )
        )
    else:  # no page to wait for: no task per entry
        drafts = [_make_draft(c, None, None, feed, st.config, next_check) for c in todo]
    drafts_list, links2 = _merge_drafts(todo, drafts, st.store)
    matches = (
        {i: match_literal(st.topics, feed, d) for i, d in enumerate(drafts_list)}
        if len(st.topics)
        else {}
    )
    if st.crosslingual is not None and len(st.crosslingual) and drafts_list:
        matches = await cross_match(st.crosslingual, st.extractor, feed, drafts_list, matches)
    drafts_list = [_fingerprinted(d) if matches.get(i) else d for i, d in enumerate(drafts_list)]
    batch = IngestBatch(
        state.id,
        tuple(drafts_list),
        tuple(links + links2),
        matches={i: m for i, m in matches.items() if m},
        now=now,
    )
    return batch, len(cands)


def _merge_drafts(
    todo: list[_Candidate], drafts: list[ArticleDraft], store: Store
) -> tuple[list[ArticleDraft], list[EntryLink]]:
    """After extraction a rel=canonical may name a stored article or a sibling draft:
    the same story (its text a near-duplicate) is linked to it; a different story
    keeps its own URL (a canonical is never adopted from another story)."""
    rekeyed = [d.key for c, d in zip(todo, drafts) if d.key != c.article_key]
    existing = store.articles_by_key(rekeyed) if rekeyed else {}
    out: list[ArticleDraft] = []
    index: dict[str, int] = {}
    links: list[EntryLink] = []
    for c, made in zip(todo, drafts):
        d = made
        if d.key != c.article_key and not _same_story(d, existing, index, out, store):
            d = _own_url(c, d)
        if d.key in existing:
            links.append(EntryLink(c.key, c.fingerprint, article_id=existing[d.key]))
            continue
        if d.key not in index:
            index[d.key] = len(out)
            out.append(d)
        links.append(EntryLink(c.key, c.fingerprint, draft_index=index[d.key]))
    return out, links


async def _no_page(
    c: _Candidate, feed: FeedConfig, config: Config, next_check: datetime | None
) -> ArticleDraft:
    """The article from the feed item alone (``extract: auto`` judged it full text)."""
    return _make_draft(c, None, None, feed, config, next_check)


async def _draft(
    st: Stages, feed: FeedConfig, c: _Candidate, next_check: datetime | None
) -> ArticleDraft:
    """Build the article from its page when extracting, else from the feed item."""
    page: Extracted | None = None
    error: str | None = None
    if c.entry.url:
        page, error = await _extract_page(st, c.entry.url, feed.name)
    return _make_draft(c, page, error, feed, st.config, next_check)


async def _extract_page(
    st: Stages, url: str, feed_name: str
) -> tuple[Extracted | None, str | None]:
    if (waiting := waiting_note(url, st.cool_downs)) is not None:  # its host asked to wait
        return None, waiting
    try:
        fetched = await st.fetcher.get(url, accept="text/html,application/xhtml+xml")
        page = await st.extractor.run(fetched.content, fetched.final_url)
        assert isinstance(page, Extracted)
        return page, None
    except (FetchError, ExtractError) as e:
        if wait := host_wait_of(url, e, st.clock(), st.config.daemon.max_backoff):
            st.store.record_host_wait(*wait)  # a 429/503 Retry-After holds for every command
        log.info(
            "extraction fell back to feed content for %s: %s", url, e, extra={"feed": feed_name}
        )
        return None, str(e)


def _make_draft(
    c: _Candidate,
    page: Extracted | None,
    error: str | None,
    feed: FeedConfig,
    config: Config,
    next_check: datetime | None,
) -> ArticleDraft:
    e = c.entry
    text = page.text if page else c.prep.text
    adopted = _adopted_canonical(e.url, page)
    link = adopted or e.url
    url = identity.strip_tracking(link) if link else None  # extracted or not
    key = "url:" + identity.canonical_url(adopted) if adopted else c.article_key
    monitor = config.monitors(feed)
    published, source = published_date(e.published, page.published if page else None, e.updated)
    return ArticleDraft(
        key=key,
        url=url,
        site=_site(url),
        title=(page.title if page and page.title else e.title),
        author=e.author or (page.author if page else None),
        summary=c.prep.summary_text or None,
        text=text,
        published=published,
        published_source=source,
        # languages are detected in the worker processes: the main process never loads
        # the ~100 MB language model
        updated=e.updated,
        language=page.language if page else c.prep.language,
        extracted=page is not None,
        extract_error=error,
        extractor_version=page.extractor_version if page else "feed",
        content_hash=identity.text_hash(text) if page else c.prep.content_hash,
        comparable_hash="",  # monitor recomputes it
        fingerprint=None,  # a simhash only for articles that match (wire-copy grouping)
        monitor=monitor and config.monitor.enabled and bool(url),
        next_check_at=next_check,
    )


def _same_story(
    d: ArticleDraft,
    existing: dict[str, int],
    index: dict[str, int],
    out: list[ArticleDraft],
    store: Store,
) -> bool:
    """Whether the story already under `d`'s adopted key (stored, or a sibling draft of
    this poll) is `d`'s own story; True when nothing is there yet."""
    if d.key in index:
        return identity.near_duplicate(out[index[d.key]].text, d.text)
    if d.key in existing:
        return identity.near_duplicate(store.get_article(existing[d.key]).text or "", d.text)
    return True


def _adopted_canonical(entry_url: str | None, page: Extracted | None) -> str | None:
    """The page's rel=canonical when it may become the story's URL (see
    identity.plausible_canonical); None keeps the feed's link."""
    if page is None or not page.canonical_url or not entry_url:
        return None
    if identity.canonical_url(page.canonical_url) == identity.canonical_url(entry_url):
        return None
    return (
        page.canonical_url if identity.plausible_canonical(entry_url, page.canonical_url) else None
    )


def _own_url(c: _Candidate, d: ArticleDraft) -> ArticleDraft:
    """The draft back under the feed's link: its rel=canonical named another story."""
    url = identity.strip_tracking(c.entry.url) if c.entry.url else None
    return replace(d, key=c.article_key, url=url, site=_site(url))


def _fingerprinted(d: ArticleDraft) -> ArticleDraft:
    return replace(d, fingerprint=identity.simhash(d.text) if d.text else None)


def published_date(
    entry: datetime | None, page: datetime | None, updated: datetime | None
) -> tuple[datetime | None, str | None]:
    """The article's date and where it comes from: the entry's published date, else the
    page's own metadata, else the entry's updated date (an Atom entry with only <updated>,
    dated as every feed reader dates it), else none (listings fall back on first seen)."""
    for value, source in ((entry, "published"), (page, "page"), (updated, "updated")):
        if value is not None:
            return value, source
    return None, None


def _site(url: str | None) -> str | None:
    if url and is_plain_absolute(url):  # no userinfo, brackets or odd case to parse
        authority = url.split("/", 3)[2].partition("?")[0].partition("#")[0]
        return authority.split(":", 1)[0].lower()
    return urlsplit(url).hostname if url else None


# ------------------------------------------------------------ fetch-state records


def _record_ok(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    fetched: FetchResult,
    meta: FeedMeta | None,
    now: datetime,
    *,
    new: int,
) -> None:
    update = decide.success_update(
        state, fetched, meta, now, new=new, schedule=_schedule_for(st, feed)
    )
    st.defer_feed_update(update)


def _schedule_for(st: Stages, feed: FeedConfig) -> decide.Schedule:
    return lambda state, outcome, now: st.schedule(feed, state, outcome, now)


def _kind_of(err: AggregatorError) -> str:
    if isinstance(err, ParseError):
        return "parse"
    return "storage" if isinstance(err, StorageError) else "error"


def _record_failure(
    st: Stages,
    feed: FeedConfig,
    state: FeedState,
    err: AggregatorError,
    now: datetime,
    *,
    kind: str | None = None,
) -> UpdateResult:
    kind = kind or getattr(err, "kind", None) or _kind_of(err)
    failure = decide.Failure(
        redact_text(str(err)),  # last_error, UpdateResult and logs never carry credentials
        kind,
        status=getattr(err, "status", None),
        retry_after=getattr(err, "retry_after", None),
        looks_like_html=bool(getattr(err, "looks_like_html", False)),
    )
    st.defer_feed_update(
        decide.failure_update(state, failure, now, schedule=_schedule_for(st, feed))
    )
    log.warning("feed %s: %s", feed.name, failure.message, extra={"feed": feed.name})
    return UpdateResult(
        feed.name,
        error=failure.message,
        error_kind=kind,
        disabled=failure.status == 410,
        retry_after=failure.retry_after,
    )
