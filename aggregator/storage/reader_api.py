"""Queries behind the Google Reader–compatible API: streams, items, counts, tokens.

Streams are read by keyset, newest (or oldest) first by article id, which is
the order stories were first seen: a page's continuation is the last article
id it returned, so stories that arrive while a client pages through a stream
land before its first page and never shift or repeat the later ones.

Each stream is driven from the table that holds it (``feed_entry`` for a
feed or a tag's feeds, ``match`` for a topic, the triage table for starred and
read), so that a sparse stream is read from its index rather than by walking
every article. Every database error leaves this module as a StorageError.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..exceptions import StorageError
from .models import ArticleRow, ChangeRow, FeedEntryRow, FeedRow, MatchRow, UTCDateTime

SelectKind = Literal["all", "feeds", "topics", "starred", "read", "unread"]

#: Unread counts stop at this many per stream, as Google Reader's did ("1000+").
UNREAD_MAX = 1000
_CHUNK = 500

_meta = sa.MetaData()
TOKEN = sa.Table(
    "reader_token",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("client", sa.String(200)),
    sa.Column("created_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
)
META = sa.Table(
    "reader_meta",
    _meta,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
TRIAGE = sa.Table(  # the desk's per-user read/starred state (migration 0005)
    "triage",
    _meta,
    sa.Column("user", sa.String(100), primary_key=True),
    sa.Column("article_id", sa.Integer, primary_key=True),
    sa.Column("read", sa.Boolean, nullable=False),
    sa.Column("starred", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime()),
)
ARTICLE = ArticleRow.__table__  # type: ignore[attr-defined]
ENTRY = FeedEntryRow.__table__  # type: ignore[attr-defined]
FEED = FeedRow.__table__  # type: ignore[attr-defined]
MATCH = MatchRow.__table__  # type: ignore[attr-defined]
CHANGE = ChangeRow.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class StreamSelect:
    """A set of stories: every one, a feed list's, topics' matches, or a user state."""

    kind: SelectKind
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamQuery:
    """One page of a stream for one user; ``after`` is the previous page's last id."""

    user: str
    stream: StreamSelect
    include: tuple[StreamSelect, ...] = ()
    exclude: tuple[StreamSelect, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None
    oldest_first: bool = False
    limit: int = 20


@dataclass(frozen=True)
class ItemRef:
    article_id: int
    first_seen_at: datetime


@dataclass(frozen=True)
class EditFacts:
    """What changed from a story's first version to its latest."""

    edits: int
    headline_changed: bool
    words_added: int
    words_removed: int
    latest_kind: str


@dataclass(frozen=True)
class ReaderItem:
    """A story as the reader API shows it to one user."""

    article_id: int
    title: str | None
    url: str | None
    author: str | None
    published: datetime | None
    first_seen_at: datetime
    language: str | None
    text: str | None
    summary: str | None
    versions: int
    retracted: str | None
    feeds: tuple[str, ...]
    topics: tuple[str, ...]
    read: bool
    starred: bool
    edits: EditFacts | None = None


@dataclass(frozen=True)
class StreamCount:
    """Unread stories of a stream (at most UNREAD_MAX) and its newest story's time."""

    unread: int
    newest: datetime | None


@dataclass(frozen=True)
class ReaderToken:
    id: int
    user: str
    client: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


# ---------------------------------------------------------------------------- repository


class ReaderApiStore:
    """The reader API's queries over one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def _conn(self, *, write: bool = False) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StorageError(
                f"reader API query failed: {getattr(e, 'orig', e)}",
                hint="check that the database is reachable",
            ) from e

    # ------------------------------------------------------------ installation id

    def installation_id(self) -> str:
        """The random id made with the database (migration 0006), made now if missing."""
        with self._conn() as conn:
            value = conn.execute(
                sa.select(META.c.value).where(META.c.key == "installation_id")
            ).scalar()
        if value:
            return str(value)
        with contextlib.suppress(StorageError), self._conn(write=True) as conn:
            conn.execute(META.insert().values(key="installation_id", value=secrets.token_hex(16)))
        with self._conn() as conn:
            return str(
                conn.execute(
                    sa.select(META.c.value).where(META.c.key == "installation_id")
                ).scalar_one()
            )

    # ------------------------------------------------------------ tokens

    def add_token(self, user: str, token_hash: str, client: str | None, now: datetime) -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                TOKEN.insert().values(
                    user=user,
                    token_hash=token_hash,
                    client=(client or "")[:200] or None,
                    created_at=now,
                    last_used_at=now,
                )
            )

    def token_user(
        self, token_hash: str, now: datetime, *, touch_after_s: float = 600
    ) -> str | None:
        """The user a live token belongs to; records its use at most every 10 minutes
        (a write per API call would contend with ingest on SQLite)."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(TOKEN.c.id, TOKEN.c.user, TOKEN.c.last_used_at).where(
                    TOKEN.c.token_hash == token_hash, TOKEN.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        last = row.last_used_at
        if last is None or (now - last).total_seconds() > touch_after_s:
            with self._conn(write=True) as conn:
                conn.execute(TOKEN.update().where(TOKEN.c.id == row.id).values(last_used_at=now))
        return str(row.user)

    def tokens(self, user: str | None = None) -> list[ReaderToken]:
        q = sa.select(TOKEN).order_by(TOKEN.c.id)
        if user is not None:
            q = q.where(TOKEN.c.user == user)
        with self._conn() as conn:
            return [
                ReaderToken(r.id, r.user, r.client, r.created_at, r.last_used_at, r.revoked_at)
                for r in conn.execute(q)
            ]

    def revoke_tokens(
        self,
        now: datetime,
        *,
        user: str | None = None,
        token_id: int | None = None,
        keep_users: Sequence[str] | None = None,
    ) -> int:
        """Revoke one token, a user's tokens, or those of users no longer configured."""
        q = TOKEN.update().where(TOKEN.c.revoked_at.is_(None))
        if token_id is not None:
            q = q.where(TOKEN.c.id == token_id)
        if user is not None:
            q = q.where(TOKEN.c.user == user)
        if keep_users is not None:
            q = q.where(TOKEN.c.user.not_in(list(keep_users)))
        with self._conn(write=True) as conn:
            return conn.execute(q.values(revoked_at=now)).rowcount or 0

    # ------------------------------------------------------------ streams

    def feed_ids(self, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        with self._conn() as conn:
            return {
                r.name: r.id
                for r in conn.execute(
                    sa.select(FEED.c.id, FEED.c.name).where(FEED.c.name.in_(list(names)))
                )
            }

    def stream(self, q: StreamQuery) -> list[ItemRef]:
        """One page of ids (``q.limit`` of them, newest first unless ``oldest_first``)."""
        with self._conn() as conn:
            stmt = _page(conn, q)
            return [ItemRef(r[0], r[1]) for r in conn.execute(stmt)]

    def unread_count(self, user: str, sel: StreamSelect) -> StreamCount:
        with self._conn() as conn:
            key = _key_column(conn, sel, user)
            newest_q = (_ids(conn, sel, user).order_by(key.desc()).limit(1)).subquery()
            newest = conn.execute(
                sa.select(ARTICLE.c.first_seen_at).where(
                    ARTICLE.c.id == sa.select(newest_q.c.aid).scalar_subquery()
                )
            ).scalar()
            unread_q = (
                _ids(conn, sel, user)
                .where(~_is_read(key, user))
                .order_by(key.desc())
                .limit(UNREAD_MAX)
            ).subquery()
            count = conn.execute(sa.select(sa.func.count()).select_from(unread_q)).scalar_one()
            return StreamCount(int(count), newest)

    # ------------------------------------------------------------ items

    def items(self, user: str, article_ids: Sequence[int]) -> list[ReaderItem]:
        """The stories named, in the order named; ids that do not exist are skipped."""
        ids = list(dict.fromkeys(article_ids))
        with self._conn() as conn:
            rows = {
                r.id: r
                for chunk in _chunks(ids)
                for r in conn.execute(
                    sa.select(
                        ARTICLE.c.id,
                        ARTICLE.c.title,
                        ARTICLE.c.url,
                        ARTICLE.c.author,
                        ARTICLE.c.published,
                        ARTICLE.c.first_seen_at,
                        ARTICLE.c.language,
                        ARTICLE.c.text,
                        ARTICLE.c.summary,
                        ARTICLE.c.version_count,
                        ARTICLE.c.retracted,
                    ).where(ARTICLE.c.id.in_(chunk))
                )
            }
            found = [i for i in ids if i in rows]
            feeds = _feeds_of(conn, found)
            topics = _topics_of(conn, found)
            states = _states_of(conn, user, found)
            edits = _edits_of(conn, [i for i in found if rows[i].version_count > 1])
        out = []
        for i in found:
            r = rows[i]
            read, starred = states.get(i, (False, False))
            out.append(
                ReaderItem(
                    article_id=i,
                    title=r.title,
                    url=r.url,
                    author=r.author,
                    published=r.published,
                    first_seen_at=r.first_seen_at,
                    language=r.language,
                    text=r.text,
                    summary=r.summary,
                    versions=r.version_count,
                    retracted=r.retracted,
                    feeds=feeds.get(i, ()),
                    topics=topics.get(i, ()),
                    read=read,
                    starred=starred,
                    edits=edits.get(i),
                )
            )
        return out

    def existing(self, article_ids: Sequence[int]) -> list[int]:
        ids = list(dict.fromkeys(article_ids))
        with self._conn() as conn:
            found = {
                r[0]
                for chunk in _chunks(ids)
                for r in conn.execute(sa.select(ARTICLE.c.id).where(ARTICLE.c.id.in_(chunk)))
            }
        return [i for i in ids if i in found]

    # ------------------------------------------------------------ triage writes

    def set_state(
        self,
        user: str,
        article_ids: Sequence[int],
        now: datetime,
        *,
        read: bool | None = None,
        starred: bool | None = None,
    ) -> int:
        """Set read and/or starred on existing stories; returns how many were found."""
        ids = self.existing(article_ids)
        if not ids or (read is None and starred is None):
            return len(ids)
        changes: dict[str, Any] = {"updated_at": now}
        if read is not None:
            changes["read"] = read
        if starred is not None:
            changes["starred"] = starred
        with self._conn(write=True) as conn:
            for chunk in _chunks(ids):
                have = {
                    r[0]
                    for r in conn.execute(
                        sa.select(TRIAGE.c.article_id).where(
                            TRIAGE.c.user == user, TRIAGE.c.article_id.in_(chunk)
                        )
                    )
                }
                if have:
                    conn.execute(
                        TRIAGE.update()
                        .where(TRIAGE.c.user == user, TRIAGE.c.article_id.in_(list(have)))
                        .values(**changes)
                    )
                new = [
                    {
                        "user": user,
                        "article_id": a,
                        "read": bool(read),
                        "starred": bool(starred),
                        "updated_at": now,
                    }
                    for a in chunk
                    if a not in have
                ]
                if new:
                    conn.execute(TRIAGE.insert(), new)
        return len(ids)

    def mark_read(
        self, user: str, sel: StreamSelect, now: datetime, *, before: datetime | None = None
    ) -> int:
        """Mark every story of a stream read (first seen before ``before``, if given)."""
        with self._conn(write=True) as conn:
            key = _key_column(conn, sel, user)
            ids = _ids(conn, sel, user).where(~_is_read(key, user))
            if before is not None:
                ids = _with_time(ids, key, before=before)
            todo = [r[0] for r in conn.execute(ids)]
            for chunk in _chunks(todo):
                conn.execute(
                    TRIAGE.update()
                    .where(TRIAGE.c.user == user, TRIAGE.c.article_id.in_(chunk))
                    .values(read=True, updated_at=now)
                )
                have = {
                    r[0]
                    for r in conn.execute(
                        sa.select(TRIAGE.c.article_id).where(
                            TRIAGE.c.user == user, TRIAGE.c.article_id.in_(chunk)
                        )
                    )
                }
                new = [
                    {
                        "user": user,
                        "article_id": a,
                        "read": True,
                        "starred": False,
                        "updated_at": now,
                    }
                    for a in chunk
                    if a not in have
                ]
                if new:
                    conn.execute(TRIAGE.insert(), new)
            return len(todo)


# ---------------------------------------------------------------------------- query parts


def _key_column(conn: sa.Connection, sel: StreamSelect, user: str) -> sa.ColumnElement[int]:
    """The article-id column of the table that drives `sel`."""
    if sel.kind in ("feeds",):
        return ENTRY.c.article_id  # type: ignore[no-any-return]
    if sel.kind == "topics":
        return MATCH.c.article_id  # type: ignore[no-any-return]
    if sel.kind in ("starred", "read"):
        return TRIAGE.c.article_id
    return ARTICLE.c.id  # type: ignore[no-any-return]


def _ids(conn: sa.Connection, sel: StreamSelect, user: str) -> sa.Select[Any]:
    """SELECT DISTINCT article ids of `sel` (labelled ``aid``), from its driving table."""
    key = _key_column(conn, sel, user)
    q = sa.select(key.label("aid"))
    if sel.kind == "feeds":
        q = q.where(ENTRY.c.feed_id.in_(_feed_id_list(conn, sel.names))).distinct()
    elif sel.kind == "topics":
        q = q.where(MATCH.c.topic.in_(list(sel.names))).distinct()
    elif sel.kind == "starred":
        q = q.where(TRIAGE.c.user == user, TRIAGE.c.starred.is_(True))
    elif sel.kind == "read":
        q = q.where(TRIAGE.c.user == user, TRIAGE.c.read.is_(True))
    elif sel.kind == "unread":
        q = q.where(~_is_read(key, user))
    return q


def _feed_id_list(conn: sa.Connection, names: Sequence[str]) -> list[int]:
    if not names:
        return []
    return [r[0] for r in conn.execute(sa.select(FEED.c.id).where(FEED.c.name.in_(list(names))))]


def _is_read(key: sa.ColumnElement[int], user: str) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        TRIAGE.c.user == user, TRIAGE.c.article_id == key, TRIAGE.c.read.is_(True)
    )


def _member(
    conn: sa.Connection, key: sa.ColumnElement[int], sel: StreamSelect, user: str
) -> sa.ColumnElement[bool]:
    """Whether the story `key` is in `sel` (for it= and xt=)."""
    if sel.kind == "all":
        return sa.true()
    if sel.kind == "unread":
        return ~_is_read(key, user)
    if sel.kind == "feeds":
        e = ENTRY.alias()
        return sa.exists().where(
            e.c.article_id == key, e.c.feed_id.in_(_feed_id_list(conn, sel.names))
        )
    if sel.kind == "topics":
        m = MATCH.alias()
        return sa.exists().where(m.c.article_id == key, m.c.topic.in_(list(sel.names)))
    tr = TRIAGE.alias()
    flag = tr.c.starred if sel.kind == "starred" else tr.c.read
    return sa.exists().where(tr.c.user == user, tr.c.article_id == key, flag.is_(True))


def _with_time(
    q: sa.Select[Any],
    key: sa.ColumnElement[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    before: datetime | None = None,
) -> sa.Select[Any]:
    if since is None and until is None and before is None:
        return q
    a = ARTICLE.alias("t")
    cond = [a.c.id == key]
    if since is not None:
        cond.append(a.c.first_seen_at >= since)
    if until is not None:
        cond.append(a.c.first_seen_at <= until)
    if before is not None:
        cond.append(a.c.first_seen_at < before)
    return q.where(sa.exists().where(*cond))


def _page(conn: sa.Connection, q: StreamQuery) -> sa.Select[Any]:
    key = _key_column(conn, q.stream, q.user)
    ids = _ids(conn, q.stream, q.user)
    for sel in q.include:
        ids = ids.where(_member(conn, key, sel, q.user))
    for sel in q.exclude:
        ids = ids.where(~_member(conn, key, sel, q.user))
    ids = _with_time(ids, key, since=q.since, until=q.until)
    if q.after is not None:
        ids = ids.where(key > q.after if q.oldest_first else key < q.after)
    ids = ids.order_by(key.asc() if q.oldest_first else key.desc()).limit(q.limit)
    page = ids.subquery()
    order = page.c.aid.asc() if q.oldest_first else page.c.aid.desc()
    return (
        sa.select(page.c.aid, ARTICLE.c.first_seen_at)
        .join(ARTICLE, ARTICLE.c.id == page.c.aid)
        .order_by(order)
    )


def _feeds_of(conn: sa.Connection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        q = (
            sa.select(ENTRY.c.article_id, FEED.c.name)
            .join(FEED, FEED.c.id == ENTRY.c.feed_id)
            .where(ENTRY.c.article_id.in_(chunk))
            .order_by(ENTRY.c.id)
        )
        for aid, name in conn.execute(q):
            if name not in out.setdefault(aid, []):
                out[aid].append(name)
    return {k: tuple(v) for k, v in out.items()}


def _topics_of(conn: sa.Connection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, set[str]] = {}
    for chunk in _chunks(ids):
        for aid, topic in conn.execute(
            sa.select(MATCH.c.article_id, MATCH.c.topic)
            .where(MATCH.c.article_id.in_(chunk))
            .distinct()
        ):
            out.setdefault(aid, set()).add(topic)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _states_of(conn: sa.Connection, user: str, ids: Sequence[int]) -> dict[int, tuple[bool, bool]]:
    out: dict[int, tuple[bool, bool]] = {}
    for chunk in _chunks(ids):
        for aid, read, starred in conn.execute(
            sa.select(TRIAGE.c.article_id, TRIAGE.c.read, TRIAGE.c.starred).where(
                TRIAGE.c.user == user, TRIAGE.c.article_id.in_(chunk)
            )
        ):
            out[aid] = (bool(read), bool(starred))
    return out


def _edits_of(conn: sa.Connection, ids: Sequence[int]) -> dict[int, EditFacts]:
    acc: dict[int, list[Any]] = {}
    for chunk in _chunks(ids):
        for aid, kind, summary in conn.execute(
            sa.select(CHANGE.c.article_id, CHANGE.c.kind, CHANGE.c.summary)
            .where(CHANGE.c.article_id.in_(chunk))
            .order_by(CHANGE.c.to_version)
        ):
            acc.setdefault(aid, []).append((kind, summary or {}))
    out = {}
    for aid, changes in acc.items():
        out[aid] = EditFacts(
            edits=len(changes),
            headline_changed=any(bool(s.get("headline_changed")) for _, s in changes),
            words_added=sum(int(s.get("words_added") or 0) for _, s in changes),
            words_removed=sum(int(s.get("words_removed") or 0) for _, s in changes),
            latest_kind=str(changes[-1][0]),
        )
    return out


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "EditFacts",
    "IntegrityError",
    "ItemRef",
    "ReaderApiStore",
    "ReaderItem",
    "ReaderToken",
    "StreamCount",
    "StreamQuery",
    "StreamSelect",
]
