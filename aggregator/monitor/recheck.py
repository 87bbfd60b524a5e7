"""Re-check stored articles and page watches: fetch → text → compare → version → alert.

Sequencing only: what counts as a change, a revert or a retraction, and who
hears about it, is decided by the pure functions of ``aggregator.changes`` and
``aggregator.alerts.plan``; fetching, extraction and storage are the edges.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from lxml import html as lxml_html

from aggregator import changes
from aggregator.alerts.plan import (
    desk_url,
    encode,
    match_alert_id,
    plan_match_alerts,
    stable_alert_id,
)
from aggregator.alerts.types import AlertArticle, AlertChange, AlertEvent, WatchRef
from aggregator.config.alerts import ChannelConfig
from aggregator.config.models import Config, WatchConfig
from aggregator.exceptions import ExtractError, FetchError
from aggregator.extract.article import Extracted
from aggregator.ingest import identity
from aggregator.ingest.matching import UNKNOWN_LANGUAGE, add_cross, match_draft
from aggregator.ingest.pipeline import Stages
from aggregator.ingest.rhythm import host_wait_of
from aggregator.storage.checks import NewVersion
from aggregator.storage.records import AlertDraft, ArticleDraft, CheckTarget, MatchDraft
from aggregator.topics import Document
from aggregator.topics.crosslingual.service import DocIn

log = logging.getLogger("aggregator.monitor.recheck")


@dataclass(frozen=True)
class RecheckResult:
    """What one re-check did: unchanged, edit, revert, retracted, error, or skipped
    (its host asked to wait: `skipped_until` says until when)."""

    article_id: int
    outcome: str
    version: int | None = None
    kind: str | None = None
    reasons: tuple[str, ...] = ()
    alerts: int = 0
    error: str | None = None
    skipped_until: datetime | None = None


@dataclass(frozen=True)
class _Page:
    title: str | None
    text: str
    extractor_version: str | None
    etag: str | None
    last_modified: str | None


def next_check(config: Config, target: CheckTarget, now: datetime) -> datetime | None:
    """The decaying schedule for articles; a fixed interval for page watches."""
    if target.watch:
        watch = _watch(config, target.watch)
        return now + (watch.interval if watch else timedelta(hours=1))
    return changes.next_recheck(target.first_seen_at, now, changes.schedule_of(config))


def _watch(config: Config, name: str) -> WatchConfig | None:
    return next((w for w in config.watches if w.name == name), None)


async def recheck(st: Stages, target: CheckTarget, boilerplate: frozenset[str]) -> RecheckResult:
    """Re-check one article; every failure is recorded on it, never raised."""
    now = st.clock()
    nxt = next_check(st.config, target, now)
    try:
        fetched = await st.fetcher.get(
            target.url, etag=target.etag, last_modified=target.last_modified
        )
    except FetchError as e:
        return _fetch_failed(st, target, e, now, nxt)
    if fetched.not_modified:
        st.store.record_check(target.id, now, nxt)
        return RecheckResult(target.id, "unchanged")
    try:
        page = await _page_text(st, target, fetched.content, fetched.final_url)
    except ExtractError as e:
        st.store.record_check(target.id, now, nxt, error=str(e))
        return RecheckResult(target.id, "error", error=str(e))
    page = _Page(page.title, page.text, page.extractor_version, fetched.etag, fetched.last_modified)
    return await _compare(st, target, page, boilerplate, now, nxt)


async def _page_text(st: Stages, target: CheckTarget, content: bytes, url: str) -> _Page:
    watch = _watch(st.config, target.watch) if target.watch else None
    if watch and watch.selector:
        return _Page(target.title, select_text(content, watch.selector), "css", None, None)
    page = await st.extractor.run(content, url)
    assert isinstance(page, Extracted)  # a page URL: the pool extracted an article
    return _Page(page.title or target.title, page.text, page.extractor_version, None, None)


#: Elements that start a new line of a watched part: a list or table diffs line by line.
BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIPPED = frozenset({"script", "style", "template", "noscript"})


def select_text(content: bytes, selector: str) -> str:
    """Text of the elements a CSS selector picks, one line per block element.

    Block boundaries (``li``, ``p``, ``tr``, ``td``, ``br``, headings, ``div`` ...)
    become line breaks, so "<li>Shenzhen</li><li>Beta Chips Ltd.</li>" reads as
    two lines instead of "ShenzhenBeta Chips Ltd." and a list diffs entry by entry.
    """
    try:
        root = lxml_html.fromstring(content)
        nodes = root.cssselect(selector)
    except Exception as e:  # lxml/cssselect raise many kinds
        raise ExtractError(f"cannot apply selector {selector!r}: {e}") from e
    if not nodes:
        raise ExtractError(
            f"selector {selector!r} matched nothing on the page",
            hint="check the watch's selector against the page's HTML",
        )
    parts: list[str] = []
    for node in nodes:
        _block_text(node, parts, tail=False)
        parts.append("\n")
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _block_text(el: Any, out: list[str], *, tail: bool = True) -> None:
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag and tag not in _SKIPPED:
        block = tag in BLOCKS
        if block or tag == "br":
            out.append("\n")
        out.append(el.text or "")
        for child in el:
            _block_text(child, out)
        if block:
            out.append("\n")
    if tail and el.tail:
        out.append(el.tail)


def _fetch_failed(
    st: Stages, target: CheckTarget, e: FetchError, now: datetime, nxt: datetime | None
) -> RecheckResult:
    if wait := host_wait_of(target.url, e, now, st.config.daemon.max_backoff):
        st.store.record_host_wait(*wait)  # its host asked to wait: every command honours it
    reason = changes.retraction_signal(e.status, False) if e.kind == "http" else None
    if reason is None or (target.check_errors == 0 and target.retracted is None):
        # a CMS can 404 briefly while republishing: a retraction needs a second look
        soon = now + timedelta(minutes=15) if reason else nxt
        st.store.record_check(target.id, now, soon, error=str(e))
        return RecheckResult(target.id, "error", error=str(e))
    summary = changes.retraction_summary(target.title or "")
    old = st.store.latest_matches(target.id, target.version_count)
    drafts = _change_alerts(
        st, target, summary, None, _Edit(target.version_count, (), reason), now, old
    )
    fresh = st.store.record_retraction(
        target.id, now, reason, nxt, drafts, _summary_json(summary, (reason,))
    )
    return RecheckResult(
        target.id,
        "retracted",
        kind="retraction",
        reasons=(reason,),
        alerts=len(drafts) if fresh else 0,
    )


async def _compare(
    st: Stages,
    target: CheckTarget,
    page: _Page,
    bp: frozenset[str],
    now: datetime,
    nxt: datetime | None,
) -> RecheckResult:
    same_text = changes.comparable_hash(page.text, bp) == changes.comparable_hash(target.text, bp)
    same_title = (page.title or "").strip() == (target.title or "").strip()
    if target.version_count and same_text and same_title:
        st.store.record_check(
            target.id,
            now,
            nxt,
            etag=page.etag,
            last_modified=page.last_modified,
            clear_retraction=True,
        )
        return RecheckResult(target.id, "unchanged")
    return await _new_version(st, target, page, bp, now, nxt)


async def _new_version(
    st: Stages,
    target: CheckTarget,
    page: _Page,
    bp: frozenset[str],
    now: datetime,
    nxt: datetime | None,
) -> RecheckResult:
    history = st.store.version_hashes(target.id)
    earlier: dict[str, int] = {}
    for n, title, text in history[:-1]:
        earlier.setdefault(_story_hash(title, text, bp), n)
    revert_of = earlier.get(_story_hash(page.title, page.text, bp))
    summary = changes.summarize_change(
        target.title or "", target.text, page.title or "", page.text, bp
    )
    if revert_of is not None:
        summary = _with_revert(summary)
    matches = await _match(st, target, page)
    old = st.store.latest_matches(target.id, target.version_count)
    new = {m.topic: list(m.terms) for m in matches}
    delta = changes.topic_delta(old, new, changes.word_diff(target.text, page.text))
    version = target.version_count + 1
    drafts = (
        _change_alerts(
            st,
            target,
            summary,
            delta,
            _Edit.of(version, target.text, page.text, bp),
            now,
            old | new,
        )
        if target.version_count
        else []
    )
    drafts += _match_alerts(st, target, page, [m for m in matches if m.topic not in old], now)
    kind = "initial" if not target.version_count else ("revert" if revert_of else "edit")
    st.store.add_version(
        NewVersion(
            target.id,
            page.title,
            page.text,
            identity.text_hash(page.text),
            changes.comparable_hash(page.text, bp),
            page.extractor_version,
            kind,
            revert_of,
            _summary_json(summary, ()),
            _delta_json(delta),
            matches,
            tuple(drafts),
            nxt,
            page.etag,
            page.last_modified,
        ),
        now,
    )
    return RecheckResult(target.id, kind, version=version, kind=summary.kind(), alerts=len(drafts))


def _story_hash(title: str | None, text: str, bp: frozenset[str]) -> str:
    """Headline and body together: a revert restores both."""
    return changes.comparable_hash(f"{(title or '').strip()}\n\n{text}", bp)


def _match_alerts(
    st: Stages, target: CheckTarget, page: _Page, fresh: list[MatchDraft], now: datetime
) -> list[AlertDraft]:
    """A story that starts matching a topic on an edit is news for `match` channels too
    (the alert id is per story and channel, so it is never sent twice)."""
    if not fresh:
        return []
    draft = ArticleDraft(
        key=target.key,
        url=target.url,
        site=target.site,
        title=page.title,
        author=None,
        summary=None,
        text=page.text,
        published=None,
        updated=None,
        language=target.language,
        extracted=True,
        extract_error=None,
        extractor_version=page.extractor_version,
        content_hash="",
        comparable_hash="",
        fingerprint=identity.simhash(page.text) if page.text else None,
    )
    return plan_match_alerts(
        st.config,
        target.id,
        draft,
        fresh,
        now,
        target.feeds,
        installation=st.store.installation_id(),
    )


def _with_revert(summary: changes.ChangeSummary) -> changes.ChangeSummary:
    from dataclasses import replace

    return replace(summary, is_revert=True)


async def _match(st: Stages, target: CheckTarget, page: _Page) -> tuple[MatchDraft, ...]:
    """The edited story's matches, through the same matchers as at ingest: the literal
    queries, then cross-lingual matching (in the worker processes) for the topics that
    have it and did not match literally -- an edit that brings the story in French
    into a topic written in English is caught as a new article would be."""
    language = target.language or UNKNOWN_LANGUAGE
    feeds = target.feeds + ((target.watch,) if target.watch else ())
    doc = Document(
        title=page.title or "",
        body=page.text,
        language=language,
        feeds=feeds,
        tags=target.tags,
    )
    literal = tuple(match_draft(m) for m in st.topics.match(doc))
    cross = st.crosslingual
    if cross is None or not len(cross):
        return literal
    job = DocIn(
        page.title or "",
        "",
        page.text,
        target.language,
        skip=tuple(m.topic for m in literal),
        feeds=feeds,
        tags=target.tags,
    )
    extra = {"article_id": target.id}
    (both,) = await add_cross(cross, st.extractor, [job], [literal], " on a re-check", extra)
    return both


# ------------------------------------------------------------------ change alerts


#: Passages an alert shows before "and N more changes".
MAX_PASSAGES = 5


@dataclass(frozen=True)
class _Edit:
    """What an alert shows of an edit: the version, its passages, or why it was pulled."""

    version: int
    passages: tuple[changes.Passage, ...]
    detail: str | None = None

    @classmethod
    def of(cls, version: int, old: str, new: str, bp: frozenset[str]) -> _Edit:
        return cls(version, tuple(changes.changed_passages(old, new, bp)))


def _change_alerts(
    st: Stages,
    target: CheckTarget,
    summary: changes.ChangeSummary,
    delta: changes.TopicDelta | None,
    edit: _Edit,
    now: datetime,
    topic_terms: dict[str, list[str]],
) -> list[AlertDraft]:
    out = []
    empty = changes.TopicDelta((), (), ())
    installation = st.store.installation_id()
    for ch in st.config.alerts:
        topic = _relevant_topic(ch, target, topic_terms)
        if topic is False:
            continue
        threshold = _threshold(st.config, ch, topic, bool(target.watch))
        reasons = changes.alert_reasons(summary, delta or empty, threshold)
        if not reasons:
            continue
        event = _change_event(
            st.config,
            ch.name,
            target,
            summary,
            delta,
            tuple(reasons),
            edit,
            now,
            topic if isinstance(topic, str) else None,
            topic_terms,
            installation,
        )
        out.append(
            AlertDraft(
                event.alert_id,
                ch.name,
                "change",
                event.topic,
                encode(event),
                now + ch.hold(),
                created_at=now,
            )
        )
    return out


def _relevant_topic(
    ch: ChannelConfig, target: CheckTarget, topic_terms: dict[str, list[str]]
) -> str | None | Literal[False]:
    """The topic a change alert is filed under; False when the channel doesn't care.

    Edits of stories that matched a topic (before or after) go to channels
    following that topic; page watches also go to channels with no topic filter.
    """
    for topic in topic_terms:
        if ch.wants("change", topic):
            return topic
    if target.watch and "change" in ch.events and not ch.topics:
        return None
    return False


def _threshold(
    config: Config, ch: ChannelConfig, topic: str | None, watch: bool
) -> changes.ChangeThreshold:
    """The channel's threshold, else the topic's; a page watch reports any edit of its part."""
    if ch.change_threshold is not None:
        return changes.parse_threshold(ch.change_threshold.model_dump())
    if watch:
        return changes.ChangeThreshold(min_words=1)
    spec = next((t for t in config.topics if t.name == topic), None)
    return changes.parse_threshold(spec.change_threshold if spec else None)


def _change_event(
    config: Config,
    channel: str,
    target: CheckTarget,
    s: changes.ChangeSummary,
    delta: changes.TopicDelta | None,
    reasons: tuple[str, ...],
    edit: _Edit,
    now: datetime,
    topic: str | None,
    terms: dict[str, list[str]],
    installation: str,
) -> AlertEvent:
    story = target.key or f"article:{target.id}"
    # the extracted text often starts with the headline: its change is said once, above
    headline = ((s.old_title,), (s.new_title,))
    passages = [p for p in edit.passages if (p.removed, p.added) != headline]
    shown, more = changes.cap_passages(passages, MAX_PASSAGES)
    change = AlertChange(
        version=edit.version,
        previous_version=max(edit.version - 1, 1),
        headline_changed=s.headline_changed,
        old_title=s.old_title,
        new_title=s.new_title,
        words_added=s.words_added,
        words_removed=s.words_removed,
        reasons=reasons,
        correction=s.correction,
        topic_change=_topic_change(delta, topic),
        diff_summary=_diff_summary(s, shown, more, edit.detail),
        passages=shown,
        more_changes=more,
        detail=edit.detail,
    )
    article = AlertArticle(
        id=target.id,
        url=target.url,
        title=s.new_title or target.title or "",
        feeds=target.feeds,
        language=target.language,
        published=target.published,
        terms=tuple(terms.get(topic or "", ())),
        snippets=(),
        fingerprint=None,
        desk_url=desk_url(config, target.id),
    )
    watch = _watch(config, target.watch) if target.watch else None
    return AlertEvent(
        alert_id=stable_alert_id(
            "change",
            channel,
            story,
            edit.version,
            "retracted" if s.retracted else "",
            installation=installation,
        ),
        event="change",
        channel=channel,
        topic=topic,
        created_at=now,
        article=article,
        change=change,
        thread_id=match_alert_id(installation, channel, story),
        watch=WatchRef(target.watch, target.url, watch.selector if watch else None)
        if target.watch
        else None,
    )


def _topic_change(delta: changes.TopicDelta | None, topic: str | None) -> Any:
    if delta is None or topic is None:
        return None
    if topic in delta.introduced:
        return "introduced"
    if topic in delta.removed:
        return "removed"
    return "context" if topic in delta.context_changed else None


def _diff_summary(
    s: changes.ChangeSummary, shown: Sequence[changes.Passage], more: int, detail: str | None
) -> str:
    """``- removed`` / ``+ added`` lines (README's webhook ``diff_summary``)."""
    if s.retracted:
        return f"story pulled: {detail}" if detail else "story pulled"
    return changes.passage_lines(shown, more)


def _summary_json(s: changes.ChangeSummary, reasons: Sequence[str]) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(s)
    data.update(kind=s.kind(), reasons=list(reasons))
    return data


def _delta_json(d: changes.TopicDelta) -> dict[str, Any]:
    return {
        "introduced": list(d.introduced),
        "removed": list(d.removed),
        "context_changed": list(d.context_changed),
    }
