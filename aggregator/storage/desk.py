"""The desk's queries: streams with keyset paging, per-user read/starred state, the
secret the web layer signs with, and the Sources page's activity counts.

Read state has to answer "unread?" fast for one user over a million stories, and
"mark all as read" must not write a million rows. So each user has a watermark
(``desk_user.read_through``: every story with an id at or below it is read) plus
explicit rows in ``desk_state`` for stories marked one by one (``read`` true or
false; false below the watermark means "marked unread again"). Marking a whole
stream read up to a time moves the watermark when the stream is every story, and
writes rows only for the stories of a narrower stream (a topic, a feed).

Streams are ordered by article id, which is the order stories were first seen, so
a page is an index range scan from a cursor (``before``/``after``): page 50 costs
what page 1 costs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    exists,
    false,
    func,
    or_,
    select,
    true,
)

from aggregator import types as t
from aggregator.storage.base import StoreBase
from aggregator.storage.models import (
    ArticleRow,
    FeedEntryRow,
    FeedRow,
    MatchRow,
    desk_setting,
    desk_state,
    desk_user,
)
from aggregator.storage.sql import ids_in

T = TypeVar("T")

_article = ArticleRow.__table__  # type: ignore[attr-defined]
_match = MatchRow.__table__  # type: ignore[attr-defined]
_entry = FeedEntryRow.__table__  # type: ignore[attr-defined]
_feed = FeedRow.__table__  # type: ignore[attr-defined]

_SECRET_KEY = "web-secret"
#: Ids per query: a reader page of 1,000 stories in one query per table (SQLite since
#: 3.32 binds 32,766 parameters; PostgreSQL gets one array, ``sql.ids_in``).
_CHUNK = 1000


@dataclass(frozen=True)
class StreamRow:
    """A story id in a stream, with the simhash the wire-copy grouping needs."""

    article_id: int
    fingerprint: int | None


class DeskQueries(StoreBase):
    """Triage state and streams over one engine (SQLite or PostgreSQL)."""

    def _run(self, what: str, fn: Callable[[Any], T], *, write: bool = False) -> T:
        """One transaction (a plain connection for reads); database errors become
        StorageError subclasses where every storage error is translated (StoreBase)."""
        with self.begin() if write else self.connect() as conn:
            return fn(conn)

    # ------------------------------------------------------------ secret

    def secret(self) -> bytes:
        """The web layer's signing key: made once, shared by every daemon on this database."""

        def go(conn: Any) -> bytes:
            q = select(desk_setting.c.value).where(desk_setting.c.key == _SECRET_KEY)
            value = conn.execute(q).scalar()
            if value is None:
                conn.execute(
                    self._insert(desk_setting)
                    .values(key=_SECRET_KEY, value=secrets.token_hex(32))
                    .on_conflict_do_nothing()
                )
                value = conn.execute(q).scalar()
            return bytes.fromhex(value)

        return self._run("reading the web secret", go, write=True)

    # ------------------------------------------------------------ triage

    def watermark(self, conn: Any, user: str) -> int:
        q = select(desk_user.c.read_through).where(desk_user.c.name == user)
        return int(conn.execute(q).scalar() or 0)

    def set_read(self, user: str, ids: Sequence[int], read: bool, now: datetime) -> int:
        """Mark stories read (or unread again); returns how many ids were given."""

        def go(conn: Any) -> int:
            for chunk in _chunks(sorted(set(ids))):
                rows = [
                    {
                        "user_name": user,
                        "article_id": i,
                        "read": read,
                        "read_at": _naive(now),
                        "starred": False,
                    }
                    for i in chunk
                ]
                stmt = self._insert(desk_state)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["user_name", "article_id"],
                        set_={"read": stmt.excluded.read, "read_at": stmt.excluded.read_at},
                    ),
                    rows,
                )
            return len(set(ids))

        return self._run("marking stories read", go, write=True)

    def set_starred(self, user: str, ids: Sequence[int], starred: bool, now: datetime) -> int:
        def go(conn: Any) -> int:
            for chunk in _chunks(sorted(set(ids))):
                rows = [
                    {
                        "user_name": user,
                        "article_id": i,
                        "read": None,
                        "starred": starred,
                        "starred_at": _naive(now) if starred else None,
                    }
                    for i in chunk
                ]
                stmt = self._insert(desk_state)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["user_name", "article_id"],
                        set_={
                            "starred": stmt.excluded.starred,
                            "starred_at": stmt.excluded.starred_at,
                        },
                    ),
                    rows,
                )
            return len(set(ids))

        return self._run("starring stories", go, write=True)

    def mark_all_read(
        self, f: t.StreamFilter, feed_ids: Sequence[int] | None, until: datetime, now: datetime
    ) -> int:
        """Every story of the stream first seen at or before `until` becomes read.

        The whole reading list moves the user's watermark (one row, whatever the
        number of stories); a narrower stream writes one row per story it marks.
        Returns the number of stories that were unread and are now read
        (for the reading list, the watermark's advance in ids).
        """
        assert f.user is not None
        user = f.user

        def go(conn: Any) -> int:
            w = self.watermark(conn, user)
            if _whole_list(f, feed_ids):
                top = (
                    conn.execute(
                        select(func.max(_article.c.id)).where(
                            _article.c.first_seen_at <= _naive(until)
                        )
                    ).scalar()
                    or 0
                )
                if top > w:
                    self._set_watermark(conn, user, top, until)
                # stories marked unread again, now covered: read once more
                conn.execute(
                    desk_state.update()
                    .where(
                        desk_state.c.user_name == user,
                        desk_state.c.article_id <= max(top, w),
                        desk_state.c.read.is_(False),
                        desk_state.c.read_at <= _naive(until),
                    )
                    .values(read=None, read_at=_naive(now))
                )
                return max(0, top - w)
            cid, q = _source(f, feed_ids, stories=True)
            q = q.where(_article.c.first_seen_at <= _naive(until))
            unread = [cid > w, or_(cid > w, _explicit(user, cid, false()))]
            ids = [
                r[0]
                for r in conn.execute(
                    q.where(~_explicit(user, cid, true()), or_(*unread)).distinct()
                )
            ]
            for chunk in _chunks(ids):
                stmt = self._insert(desk_state)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["user_name", "article_id"],
                        set_={"read": True, "read_at": _naive(now)},
                    ),
                    [
                        {
                            "user_name": user,
                            "article_id": i,
                            "read": True,
                            "read_at": _naive(now),
                            "starred": False,
                        }
                        for i in chunk
                    ],
                )
            return len(ids)

        return self._run("marking a stream read", go, write=True)

    def _set_watermark(self, conn: Any, user: str, top: int, until: datetime) -> None:
        stmt = self._insert(desk_user).values(
            name=user, read_through=top, read_through_at=_naive(until)
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"read_through": top, "read_through_at": _naive(until)},
            )
        )

    def triage(self, user: str, ids: Sequence[int]) -> dict[int, t.Triage]:
        """Each id's read/starred state for `user` (stories never touched included)."""

        def go(conn: Any) -> dict[int, t.Triage]:
            w = self.watermark(conn, user)
            out = {i: t.Triage(i, read=i <= w) for i in ids}
            for chunk in _chunks(list(ids)):
                q = select(desk_state).where(
                    desk_state.c.user_name == user, ids_in(conn, desk_state.c.article_id, chunk)
                )
                for r in conn.execute(q):
                    read = bool(r.read) if r.read is not None else r.article_id <= w
                    out[r.article_id] = t.Triage(
                        r.article_id,
                        read=read,
                        starred=bool(r.starred),
                        read_at=_aware(r.read_at),
                        starred_at=_aware(r.starred_at),
                    )
            return out

        return self._run("reading triage state", go)

    # ------------------------------------------------------------ streams

    def stream(self, f: t.StreamFilter, feed_ids: Sequence[int] | None) -> list[StreamRow]:
        """Up to f.limit + 1 stories of the stream from the cursor (the extra one tells
        the caller there is a next page)."""
        want = f.limit + 1

        def go(conn: Any) -> list[StreamRow]:
            w = self.watermark(conn, f.user) if f.user else 0
            out: list[StreamRow] = []
            for extra in _segments(f, w):
                cid, q = _source(f, feed_ids)
                q = _cursor(q.where(*extra(cid)), cid, f)
                order = cid.asc() if f.oldest_first else cid.desc()
                if cid is _article.c.id:
                    q = q.add_columns(_article.c.fingerprint).order_by(order)
                else:
                    # the page's ids first, from the matches' or entries' own index,
                    # then the page's stories: joining every candidate row to its story
                    # before the sort cost a random read per row (20,000 for a tag of 20
                    # feeds at 1M stories)
                    page = q.distinct().order_by(order).limit(want - len(out)).subquery()
                    pid = list(page.c)[0]
                    q = (
                        select(pid, _article.c.fingerprint)
                        .join(_article, _article.c.id == pid)
                        .order_by(pid.asc() if f.oldest_first else pid.desc())
                    )
                rows = conn.execute(q.limit(want - len(out)))
                out += [StreamRow(i, fp) for i, fp in rows]
                if len(out) >= want:
                    break
            return out

        return self._run("reading a stream", go)

    def count(self, f: t.StreamFilter, feed_ids: Sequence[int] | None, cap: int) -> int:
        """Stories in the stream, counting at most `cap` (unread badges stop at 1000+)."""

        def go(conn: Any) -> int:
            w = self.watermark(conn, f.user) if f.user else 0
            n = 0
            for extra in _segments(f, w):
                cid, q = _source(f, feed_ids)
                sub = _cursor(q.where(*extra(cid)), cid, f).distinct().limit(cap - n).subquery()
                n += int(conn.execute(select(func.count()).select_from(sub)).scalar() or 0)
                if n >= cap:
                    break
            return n

        return self._run("counting a stream", go)

    def matches(self, ids: Sequence[int], topic: str | None) -> list[t.Match]:
        """The stored matches of these stories (of one topic, or of all)."""

        def go(conn: Any) -> list[t.Match]:
            out: list[t.Match] = []
            for chunk in _chunks(list(ids)):
                q = select(_match).where(ids_in(conn, _match.c.article_id, chunk))
                if topic:
                    q = q.where(_match.c.topic == topic)
                out += [_match_record(r) for r in conn.execute(q.order_by(_match.c.id))]
            return out

        return self._run("reading matches", go)

    def articles(self, ids: Sequence[int]) -> dict[int, t.Article]:
        """Stream rows' stories without their text (a page of 50 must not read 50
        texts), with the feeds carrying each, in two indexed queries per chunk."""
        a = _article
        cols = (
            a.c.id,
            a.c.url,
            a.c.title,
            a.c.published,
            a.c.published_source,
            a.c.language,
            a.c.extracted,
            a.c.version_count,
            a.c.first_seen_at,
            a.c.author,
            a.c.extract_error,
            a.c.last_checked_at,
            a.c.retracted,
        )

        def go(conn: Any) -> dict[int, t.Article]:
            out: dict[int, t.Article] = {}
            feeds: dict[int, list[str]] = {}
            for chunk in _chunks(list(ids)):
                q = (
                    select(_entry.c.article_id, _feed.c.name)
                    .join(_feed, _feed.c.id == _entry.c.feed_id)
                    .where(ids_in(conn, _entry.c.article_id, chunk))
                    .order_by(_feed.c.name)
                )
                for aid, name in conn.execute(q):
                    if name not in feeds.setdefault(aid, []):
                        feeds[aid].append(name)
                for r in conn.execute(select(*cols).where(ids_in(conn, a.c.id, chunk))):
                    out[r.id] = t.Article(
                        id=r.id,
                        url=r.url,
                        title=r.title,
                        feeds=tuple(feeds.get(r.id, ())),
                        published=_aware(r.published),
                        published_source=r.published_source,
                        language=r.language,
                        extracted=bool(r.extracted),
                        versions=int(r.version_count or 0),
                        first_seen_at=_aware(r.first_seen_at) or datetime.min.replace(tzinfo=UTC),
                        author=r.author,
                        extract_error=r.extract_error,
                        last_checked_at=_aware(r.last_checked_at),
                        retracted=r.retracted,
                    )
            return out

        return self._run("reading a stream's stories", go)

    def feed_ids(self, names: Sequence[str]) -> list[int]:
        def go(conn: Any) -> list[int]:
            return [
                r[0] for r in conn.execute(select(_feed.c.id).where(_feed.c.name.in_(list(names))))
            ]

        return self._run("reading feed ids", go)

    def languages(self) -> list[str]:
        """Languages of the stored stories, for the stream's filter (an index-only scan
        would need an index on language; this reads the 10,000 newest)."""

        def go(conn: Any) -> list[str]:
            recent = (
                select(_article.c.language).order_by(_article.c.id.desc()).limit(10_000).subquery()
            )
            q = select(recent.c.language).where(recent.c.language.is_not(None)).distinct()
            return sorted(r[0] for r in conn.execute(q))

        return self._run("reading languages", go)

    # ------------------------------------------------------------ sources

    def activity(self, since: datetime) -> dict[str, dict[str, int]]:
        """Per feed name, new stories per day (YYYY-MM-DD) since `since`."""

        def go(conn: Any) -> dict[str, dict[str, int]]:
            if self.dialect == "sqlite":
                day = func.date(_article.c.first_seen_at)
            else:
                day = func.to_char(_article.c.first_seen_at, "YYYY-MM-DD")
            q = (
                select(_feed.c.name, day, func.count())
                .select_from(
                    _article.join(_entry, _entry.c.article_id == _article.c.id).join(
                        _feed, _feed.c.id == _entry.c.feed_id
                    )
                )
                .where(_article.c.first_seen_at >= _naive(since))
                .group_by(_feed.c.name, day)
            )
            out: dict[str, dict[str, int]] = {}
            for name, d, n in conn.execute(q):
                out.setdefault(name, {})[str(d)] = int(n)
            return out

        return self._run("reading feed activity", go)

    def watch_states(self) -> dict[str, tuple[datetime | None, int, str | None]]:
        """Per watch name: last check, consecutive check errors, retraction note."""

        def go(conn: Any) -> dict[str, tuple[datetime | None, int, str | None]]:
            q = select(
                _article.c.watch,
                _article.c.last_checked_at,
                _article.c.check_errors,
                _article.c.retracted,
            ).where(_article.c.watch.is_not(None))
            return {w: (_aware(at), int(n or 0), r) for w, at, n, r in conn.execute(q)}

        return self._run("reading watches", go)


# ---------------------------------------------------------------- query parts


def _whole_list(f: t.StreamFilter, feed_ids: Sequence[int] | None) -> bool:
    return not (
        f.topic
        or f.matched
        or feed_ids is not None
        or f.language
        or f.since
        or f.starred is not None
    )


def _source(
    f: t.StreamFilter, feed_ids: Sequence[int] | None, *, stories: bool = False
) -> tuple[Any, Any]:
    """(story id column, SELECT of it) for the stream's scope, driven from the table whose
    index gives the order: the topic's matches, all matches, the feeds' entries, or the
    stories. Callers take DISTINCT ids (a story can be in several of a tag's feeds).

    Matches and entries are joined to their stories only when a condition is on the
    story (language, time; `stories` for the caller's own): every match and entry has
    its story (stories are never deleted), so the ids are the same without the join."""
    join = stories or bool(f.language or f.since or f.until)
    if f.topic or f.matched:
        cid = _match.c.article_id
        src = _match.join(_article, _article.c.id == cid) if join else _match
        q = select(cid).select_from(src)
        if f.topic:
            q = q.where(_match.c.topic == f.topic)
    elif feed_ids is not None:
        # a feed's or a tag's stories, read in order from the (feed_id, article_id) index
        # (migration 0006) rather than by probing every story for its feeds
        cid = _entry.c.article_id
        src = _entry.join(_article, _article.c.id == cid) if join else _entry
        q = select(cid).select_from(src).where(_entry.c.feed_id.in_(list(feed_ids) or [-1]))
        feed_ids = None
    else:
        cid = _article.c.id
        q = select(cid)
    if feed_ids is not None:
        q = q.where(
            exists().where(_entry.c.article_id == cid, _entry.c.feed_id.in_(list(feed_ids) or [-1]))
        )
    if f.language:
        q = q.where(_article.c.language == f.language)
    if f.since:
        q = q.where(_article.c.first_seen_at >= _naive(f.since))
    if f.until:
        q = q.where(_article.c.first_seen_at < _naive(f.until))
    return cid, q


def _cursor(q: Any, cid: Any, f: t.StreamFilter) -> Any:
    if f.before is not None:
        q = q.where(cid < f.before)
    if f.after is not None:
        q = q.where(cid > f.after)
    return q


def _explicit(user: str | None, cid: Any, read: Any) -> Any:
    """A desk_state row of `user` for the story saying read (true) or unread (false)."""
    return exists().where(
        desk_state.c.user_name == (user or ""),
        desk_state.c.article_id == cid,
        desk_state.c.read.is_(read),
    )


Extra = Callable[[Any], list[Any]]


def _segments(f: t.StreamFilter, w: int) -> list[Extra]:
    """The stream as id ranges in the order they are read: each a short index scan.

    Unread, newest first: the stories above the watermark not marked read, then the
    few below it marked unread again (those are found through desk_state, not by
    scanning every read story). Read is the mirror image.
    """
    user = f.user or ""

    def everything(c: Any) -> list[Any]:
        return []

    def unread_above(c: Any) -> list[Any]:
        return [c > w, ~_explicit(user, c, true())]

    def unread_below(c: Any) -> list[Any]:
        return [
            c <= w,
            c.in_(_ids(user, desk_state.c.read.is_(False), desk_state.c.article_id <= w)),
        ]

    def read_above(c: Any) -> list[Any]:
        return [c > w, c.in_(_ids(user, desk_state.c.read.is_(True), desk_state.c.article_id > w))]

    def read_below(c: Any) -> list[Any]:
        return [c <= w, ~_explicit(user, c, false())]

    segs: list[Extra]
    if f.read is None:
        segs = [everything]
    elif f.read is False:
        segs = [unread_above, unread_below] if w else [unread_above]
    else:
        segs = [read_above, read_below] if w else [read_above]
    if f.oldest_first:
        segs.reverse()
    if f.starred is not None:
        want = f.starred
        segs = [_with_star(s, user, want) for s in segs]
    return segs


def _with_star(seg: Extra, user: str, starred: bool) -> Extra:
    def extra(c: Any) -> list[Any]:
        mine = c.in_(_ids(user, desk_state.c.starred.is_(True)))
        return [*seg(c), mine if starred else ~mine]

    return extra


def _ids(user: str, *where: Any) -> Any:
    return select(desk_state.c.article_id).where(desk_state.c.user_name == user, *where)


def _match_record(r: Any) -> t.Match:
    snippets = tuple(
        t.Snippet(
            str(sn.get("text", "")), tuple((int(h[0]), int(h[1])) for h in sn.get("highlights", ()))
        )
        for sn in (r.snippets or ())
    )
    return t.Match(
        r.topic,
        r.article_id,
        r.version,
        tuple(r.terms or ()),
        snippets,
        _aware(r.created_at) or datetime.min.replace(tzinfo=UTC),
    )


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _naive(v: datetime | None) -> datetime | None:
    if v is None or v.tzinfo is None:
        return v
    return v.astimezone(UTC).replace(tzinfo=None)


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v if v.tzinfo else v.replace(tzinfo=UTC)


__all__ = ["DeskQueries", "StreamRow", "desk_setting", "desk_state", "desk_user"]
