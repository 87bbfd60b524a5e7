"""Stream pages, version comparisons and activity, from the desk's storage queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from aggregator import types as t
from aggregator.alerts.dispatch import near_duplicate
from aggregator.changes import sidebyside
from aggregator.exceptions import NotFoundError


def feed_scope(store: Any, config: Any, f: t.StreamFilter) -> list[int] | None:
    """The feed ids a stream is limited to (its feed, its tag's feeds), or None for all."""
    names: set[str] | None = None
    if f.feed:
        names = {f.feed}
    if f.tag:
        tagged = {x.name for x in (*config.feeds, *config.watches) if f.tag in x.tags}
        names = tagged if names is None else names & tagged
    if names is None:
        return None
    return store.desk.feed_ids(sorted(names)) if names else []


def stream_page(store: Any, config: Any, f: t.StreamFilter) -> t.StreamPage:
    """One page: rows from the cursor, grouped into stories, with matches and triage."""
    rows = store.desk.stream(f, feed_scope(store, config, f))
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    ids = [r.article_id for r in rows]
    articles = store.desk.articles(ids) if ids else {}
    matches = _shown_matches(store, ids, f.topic)
    triage = store.desk.triage(f.user, ids) if f.user and ids else {}
    groups = _wire_groups([(r.article_id, r.fingerprint) for r in rows if r.article_id in articles])
    items = tuple(
        t.StreamItem(
            article=articles[head],
            match=matches.get(head),
            triage=triage.get(head, t.Triage(head)),
            copies=tuple(articles[c] for c in copies),
        )
        for head, copies in groups
    )
    last = ids[-1] if ids and more else None
    if f.oldest_first:
        return t.StreamPage(items, next_after=last)
    return t.StreamPage(items, next_before=last)


def _wire_groups(rows: Sequence[tuple[int, int | None]]) -> list[tuple[int, list[int]]]:
    """Copies of one wire story join the first (newest) row whose simhash they match."""
    groups: list[tuple[int, int | None, list[int]]] = []
    for aid, fp in rows:
        home = next((g for g in groups if fp is not None and near_duplicate(g[1], fp)), None)
        if home is None:
            groups.append((aid, fp, []))
        else:
            home[2].append(aid)
    return [(aid, copies) for aid, _, copies in groups]


def _shown_matches(store: Any, ids: Sequence[int], topic: str | None) -> dict[int, t.Match]:
    """Per story, the match a row explains: the stream's topic at its latest version,
    or the latest match of any topic."""
    out: dict[int, t.Match] = {}
    for m in store.desk.matches(ids, topic):
        best = out.get(m.article_id)
        if best is None or m.version > best.version:
            out[m.article_id] = m
    return out


def compare(versions: Sequence[t.Version], article_id: int, old: int, new: int) -> t.VersionDiff:
    by_number = {v.number: v for v in versions}
    missing = [n for n in (old, new) if n not in by_number]
    if missing:
        have = ", ".join(str(v.number) for v in versions) or "none"
        raise NotFoundError(
            f"story {article_id} has no version {missing[0]}", hint=f"its versions: {have}"
        )
    a, b = by_number[old], by_number[new]
    table = list(sidebyside.rows(a.text, b.text))
    added, removed = sidebyside.word_counts(table)
    return t.VersionDiff(
        article_id=article_id,
        old=a,
        new=b,
        headline=_row(sidebyside.headline(a.title, b.title)),
        rows=tuple(_row(r) for r in table),
        words_added=added,
        words_removed=removed,
    )


def _row(r: sidebyside.PairRow) -> t.DiffRow:
    return t.DiffRow(
        tuple(t.DiffRun(o.op, o.text) for o in r.old),
        tuple(t.DiffRun(o.op, o.text) for o in r.new),
        r.changed,
    )


def activity(store: Any, now: datetime, days: int) -> dict[str, list[int]]:
    """Per feed name, new stories per day for the last `days` days (oldest first)."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = store.desk.activity(start)
    keys = [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]
    return {name: [per_day.get(k, 0) for k in keys] for name, per_day in counts.items()}
