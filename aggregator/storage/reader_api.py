"""Queries behind the Google Reader–compatible API: login tokens and what an item shows
(its feeds, topics and edits). Item ids derive from the installation id
(``storage.installation``).

Streams, read and starred state are the desk's (``storage.desk``): one triage state,
whichever front end changed it. Database errors leave as StorageError subclasses
(``storage.errors``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel

from aggregator import types as t
from aggregator.storage.base import StoreBase
from aggregator.storage.coltypes import UTCDateTime
from aggregator.storage.models import (
    ArticleRow,
    ChangeRow,
    FeedEntryRow,
    FeedRow,
    MatchRow,
    desk_state,
    desk_user,
)
from aggregator.storage.sql import ids_in

T = TypeVar("T")
#: Ids per query: a reader page of 1,000 stories in one query per table (SQLite since
#: 3.32 binds 32,766 parameters; PostgreSQL gets one array, ``sql.ids_in``).
_CHUNK = 1000

reader_token = sa.Table(
    "reader_token",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user", sa.String(100), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("client", sa.String(200)),
    sa.Column("created_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
)
_article = ArticleRow.__table__  # type: ignore[attr-defined]
_entry = FeedEntryRow.__table__  # type: ignore[attr-defined]
_feed = FeedRow.__table__  # type: ignore[attr-defined]
_match = MatchRow.__table__  # type: ignore[attr-defined]
_change = ChangeRow.__table__  # type: ignore[attr-defined]

#: A token's last use is recorded at most this often: a write per API call would
#: contend with ingest for SQLite's one writer.
TOUCH_EVERY_S = 600


class ReaderApiQueries(StoreBase):
    """The reader API's own queries (part of :class:`~aggregator.storage.store.Store`)."""

    def _run(self, what: str, fn: Callable[[Any], T], *, write: bool = False) -> T:
        """One connection (a transaction when `write`); errors become StorageError
        subclasses through the Store's one translation."""
        with self.begin() if write else self.connect() as conn:
            return fn(conn)

    # ------------------------------------------------------------ tokens

    def add_token(self, user: str, token_hash: str, client: str | None, now: datetime) -> None:
        def go(conn: Any) -> None:
            conn.execute(
                reader_token.insert().values(
                    user=user,
                    token_hash=token_hash,
                    client=(client or "")[:200] or None,
                    created_at=now,
                    last_used_at=now,
                )
            )

        self._run("storing a login token", go, write=True)

    def token_user(self, token_hash: str, now: datetime) -> str | None:
        """The user a live (not revoked) token belongs to."""

        def go(conn: Any) -> Any:
            return conn.execute(
                sa.select(reader_token.c.id, reader_token.c.user, reader_token.c.last_used_at)
                .where(reader_token.c.token_hash == token_hash)
                .where(reader_token.c.revoked_at.is_(None))
            ).first()

        row = self._run("checking a login token", go)
        if row is None:
            return None
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOUCH_EVERY_S:
            self._run(
                "recording a token's use",
                lambda c: c.execute(
                    reader_token.update()
                    .where(reader_token.c.id == row.id)
                    .values(last_used_at=now)
                ),
                write=True,
            )
        return str(row.user)

    def tokens(self, user: str | None = None) -> list[t.ReaderToken]:
        q = sa.select(reader_token).order_by(reader_token.c.id)
        if user is not None:
            q = q.where(reader_token.c.user == user)
        rows = self._run("listing login tokens", lambda c: list(c.execute(q)))
        return [
            t.ReaderToken(r.id, r.user, r.client, r.created_at, r.last_used_at, r.revoked_at)
            for r in rows
        ]

    def revoke_tokens(
        self, now: datetime, *, user: str | None = None, token_id: int | None = None
    ) -> int:
        """Revoke one token, or every live token of a user (or of everyone)."""
        q = reader_token.update().where(reader_token.c.revoked_at.is_(None))
        if token_id is not None:
            q = q.where(reader_token.c.id == token_id)
        if user is not None:
            q = q.where(reader_token.c.user == user)
        return self._run(
            "revoking login tokens",
            lambda c: int(c.execute(q.values(revoked_at=now)).rowcount or 0),
            write=True,
        )

    # ------------------------------------------------------------ unread counts

    def unread_counts(
        self,
        user: str,
        feeds: Sequence[str],
        tags: Mapping[str, Sequence[str]],
        topics: Sequence[str],
        cap: int,
    ) -> t.UnreadCounts:
        """Unread stories per feed, tag (its feeds' stories, each once), topic and in all,
        each counted up to `cap`, with the time its newest story was first seen.

        Read is the desk's rule (``storage.desk``): a story above the user's watermark
        is unread unless marked read; below it, only when marked unread again. So each
        count is split the same way, and no story is probed twice:

        - feeds, all in one grouped pass over the (feed_id, article_id) index above the
          watermark, less the marked-read stories found from desk_state (the few a
          user marked, joined to their entries by story id), plus the marked-unread;
        - tags, topics and all: up to `cap` unread stories above the watermark (an
          index range from it, probing desk_state), plus the marked-unread below it,
          read once from desk_state and sorted out in Python.

        A condition joining desk_state to entries must not also carry the feed list:
        SQLite then walks the (feed_id, article_id) index once per listed feed for each
        marked story (c44b79e: 119 s at 1M stories); the feeds are filtered here instead.
        """

        def go(conn: Any) -> t.UnreadCounts:
            ids = _feed_ids(conn, feeds)
            fids = list(ids.values())
            w = int(conn.execute(sa.select(desk_user.c.read_through).where(
                desk_user.c.name == user)).scalar() or 0)  # fmt: skip
            back = _marked_unread_below(conn, user, w)
            by_feed, newest = _feed_counts(conn, user, w, fids, back)
            tag_counts = {}
            for tag, names in tags.items():
                tf = [ids[n] for n in names if n in ids]
                most = max((by_feed.get(f, 0) for f in tf), default=0)
                if not most:
                    continue
                if most >= cap or len(set(tf)) == 1:  # a tag has at least its feeds' stories
                    tag_counts[tag] = min(cap, most)
                else:
                    q = sa.select(_entry.c.article_id).where(_entry.c.feed_id.in_(tf))
                    below = {a for a, f in back.entries if f in set(tf)}
                    tag_counts[tag] = _capped_unread(conn, user, w, q, _entry.c.article_id,
                                                     below, cap)  # fmt: skip
            topic_counts = {}
            for topic in topics:
                q = sa.select(_match.c.article_id).where(_match.c.topic == topic)
                below = {a for a, tp in back.topics if tp == topic}
                topic_counts[topic] = _capped_unread(conn, user, w, q, _match.c.article_id,
                                                     below, cap)  # fmt: skip
            total = _capped_unread(conn, user, w, sa.select(_article.c.id), _article.c.id,
                                   back.stories, cap)  # fmt: skip
            top = conn.execute(sa.select(sa.func.max(_article.c.id))).scalar()
            tops = {
                **{("feed", n): newest.get(i) for n, i in ids.items()},
                **{("tag", tg): max((newest.get(ids[n], 0) for n in ns if n in ids), default=0)
                   for tg, ns in tags.items()},
                **{("topic", tp): conn.execute(sa.select(sa.func.max(_match.c.article_id))
                                               .where(_match.c.topic == tp)).scalar()
                   for tp in topics},
                ("all", ""): top,
            }  # fmt: skip
            seen = _first_seen(conn, [i for i in tops.values() if i])
            when = {k: seen.get(i) if i else None for k, i in tops.items()}
            return t.UnreadCounts(
                feeds={n: (min(by_feed.get(i, 0), cap), when[("feed", n)]) for n, i in ids.items()},
                tags={tg: (n, when[("tag", tg)]) for tg, n in tag_counts.items()},
                topics={tp: (n, when[("topic", tp)]) for tp, n in topic_counts.items()},
                total=(total, when[("all", "")]),
            )

        return self._run("counting unread stories", go)

    # ------------------------------------------------------------ items

    def items(self, article_ids: Sequence[int]) -> list[t.ReaderItem]:
        """The stories named, in the order named; ids that do not exist are skipped."""
        ids = list(dict.fromkeys(article_ids))

        def go(conn: Any) -> list[t.ReaderItem]:
            cols = (
                _article.c.id, _article.c.title, _article.c.url, _article.c.author,
                _article.c.published, _article.c.first_seen_at, _article.c.language,
                _article.c.text, _article.c.summary, _article.c.version_count,
                _article.c.retracted,
            )  # fmt: skip
            rows = {
                r.id: r
                for chunk in _chunks(ids)
                for r in conn.execute(sa.select(*cols).where(ids_in(conn, _article.c.id, chunk)))
            }
            found = [i for i in ids if i in rows]
            feeds = _feeds_of(conn, found)
            topics = _topics_of(conn, found)
            edits = _edits_of(conn, [i for i in found if rows[i].version_count > 1])
            return [_item(rows[i], feeds, topics, edits) for i in found]

        return self._run("reading items", go)

    def first_seen(self, article_ids: Sequence[int]) -> dict[int, datetime]:
        return self._run("reading first-seen times", lambda c: _first_seen(c, article_ids))


def _first_seen(conn: Any, article_ids: Sequence[int]) -> dict[int, datetime]:
    ids = list(dict.fromkeys(article_ids))
    q = sa.select(_article.c.id, _article.c.first_seen_at)
    return {i: when for chunk in _chunks(ids)
            for i, when in conn.execute(q.where(ids_in(conn, _article.c.id, chunk)))}  # fmt: skip


def _feed_ids(conn: Any, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    q = sa.select(_feed.c.name, _feed.c.id).where(_feed.c.name.in_(list(names)))
    return {n: i for n, i in conn.execute(q)}


@dataclass(frozen=True)
class _Below:
    """A user's stories below the watermark marked unread again (few: each was marked
    by hand), with the feeds that carry them and the topics they matched."""

    stories: frozenset[int]
    entries: tuple[tuple[int, int], ...]  # (story, feed)
    topics: tuple[tuple[int, str], ...]  # (story, topic)


def _marked_unread_below(conn: Any, user: str, w: int) -> _Below:
    if not w:
        return _Below(frozenset(), (), ())
    marked = [r[0] for r in conn.execute(sa.select(desk_state.c.article_id).where(
        desk_state.c.user_name == user, desk_state.c.read.is_(False),
        desk_state.c.article_id <= w))]  # fmt: skip
    stories, entries, topics = set(), set(), set()
    for chunk in _chunks(marked):
        stories |= {r[0] for r in conn.execute(
            sa.select(_article.c.id).where(ids_in(conn, _article.c.id, chunk)))}  # fmt: skip
        entries |= {(a, f) for a, f in conn.execute(
            sa.select(_entry.c.article_id, _entry.c.feed_id)
            .where(ids_in(conn, _entry.c.article_id, chunk)))}  # fmt: skip
        topics |= {(a, tp) for a, tp in conn.execute(
            sa.select(_match.c.article_id, _match.c.topic)
            .where(ids_in(conn, _match.c.article_id, chunk)))}  # fmt: skip
    return _Below(frozenset(stories), tuple(entries), tuple(topics))


def _feed_counts(
    conn: Any, user: str, w: int, fids: Sequence[int], back: _Below
) -> tuple[dict[int, int], dict[int, int]]:
    """(unread stories, newest story id) per feed: its stories above the watermark (an
    index range per feed), less those marked read, plus those marked unread below."""
    if not fids:
        return {}, {}
    e = _entry
    n = sa.func.count(sa.distinct(e.c.article_id))
    # per feed, its distinct stories read in index order (no sort), and its newest: a
    # grouped count(DISTINCT) over every entry sorted them all, 3.6x slower at 1M
    mine = sa.select(e.c.article_id).where(e.c.feed_id == _feed.c.id)
    ahead = mine.where(e.c.article_id > w).distinct().correlate(_feed).subquery()
    above = sa.select(sa.func.count()).select_from(ahead).scalar_subquery()
    top = sa.select(sa.func.max(e.c.article_id)).where(e.c.feed_id == _feed.c.id)
    counts, newest = {}, {}
    for chunk in _chunks(fids):
        q = sa.select(_feed.c.id, above, top.scalar_subquery()).where(_feed.c.id.in_(chunk))
        for fid, k, last in conn.execute(q):
            counts[int(fid)] = int(k)
            if last is not None:
                newest[int(fid)] = int(last)
    # marked read above the watermark: from desk_state to the entries by story id
    read = (
        sa.select(e.c.feed_id, n)
        .select_from(desk_state.join(e, e.c.article_id == desk_state.c.article_id))
        .where(desk_state.c.user_name == user, desk_state.c.read.is_(True),
               desk_state.c.article_id > w)
        .group_by(e.c.feed_id)
    )  # fmt: skip
    for fid, k in conn.execute(read):
        if fid in counts:
            counts[fid] -= int(k)
    for fid in {f for _, f in back.entries}:
        counts[fid] = counts.get(fid, 0) + len({a for a, f in back.entries if f == fid})
    return {f: k for f, k in counts.items() if f in set(fids)}, newest


def _capped_unread(
    conn: Any, user: str, w: int, q: Any, cid: Any, below: set[int] | frozenset[int], cap: int
) -> int:
    """Unread stories of the stream `q` (a SELECT of story ids `cid`), up to `cap`: at
    most `cap` read from the index range above the watermark, then the stories below it
    marked unread again (`below`, already narrowed to this stream)."""
    marked_read = sa.exists().where(
        desk_state.c.user_name == user, desk_state.c.article_id == cid,
        desk_state.c.read.is_(True))  # fmt: skip
    sub = q.where(cid > w, ~marked_read).distinct().limit(cap).subquery()
    n = int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar() or 0)
    return min(cap, n + len(below))


def _item(
    r: Any,
    feeds: dict[int, tuple[str, ...]],
    topics: dict[int, tuple[str, ...]],
    edits: dict[int, t.EditFacts],
) -> t.ReaderItem:
    return t.ReaderItem(
        article_id=r.id, title=r.title, url=r.url, author=r.author, published=r.published,
        first_seen_at=r.first_seen_at, language=r.language, text=r.text, summary=r.summary,
        versions=r.version_count, retracted=r.retracted, feeds=feeds.get(r.id, ()),
        topics=topics.get(r.id, ()), edits=edits.get(r.id),
    )  # fmt: skip


def _feeds_of(conn: Any, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Per story, the feeds that carried it, first carrier first."""
    out: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        q = (
            sa.select(_entry.c.article_id, _feed.c.name)
            .join(_feed, _feed.c.id == _entry.c.feed_id)
            .where(ids_in(conn, _entry.c.article_id, chunk))
            .order_by(_entry.c.id)
        )
        for aid, name in conn.execute(q):
            if name not in out.setdefault(aid, []):
                out[aid].append(name)
    return {k: tuple(v) for k, v in out.items()}


def _topics_of(conn: Any, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, set[str]] = {}
    for chunk in _chunks(ids):
        q = sa.select(_match.c.article_id, _match.c.topic).where(
            ids_in(conn, _match.c.article_id, chunk)
        )
        for aid, topic in conn.execute(q.distinct()):
            out.setdefault(aid, set()).add(topic)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _edits_of(conn: Any, ids: Sequence[int]) -> dict[int, t.EditFacts]:
    """What changed from each story's first version to its latest, summed over its edits."""
    acc: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for chunk in _chunks(ids):
        q = (
            sa.select(_change.c.article_id, _change.c.kind, _change.c.summary)
            .where(ids_in(conn, _change.c.article_id, chunk))
            .order_by(_change.c.to_version)
        )
        for aid, kind, summary in conn.execute(q):
            acc.setdefault(aid, []).append((str(kind), summary or {}))
    return {
        aid: t.EditFacts(
            edits=len(changes),
            headline_changed=any(bool(s.get("headline_changed")) for _, s in changes),
            words_added=sum(int(s.get("words_added") or 0) for _, s in changes),
            words_removed=sum(int(s.get("words_removed") or 0) for _, s in changes),
            latest_kind=changes[-1][0],
        )
        for aid, changes in acc.items()
    }


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
