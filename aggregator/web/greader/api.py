"""The Google Reader–compatible API: request handling over the Aggregator facade.

Paths are those of FeedHQ and FreshRSS under the mount point (``/api/greader``):
``/accounts/ClientLogin``, ``/reader/api/0/...`` and ``/reader/atom/<stream id>``.
Answers are JSON (``output=json`` or not: this server speaks no Reader XML),
Atom for ``/reader/atom/...`` and ``stream/contents?output=atom``, and plain
``OK`` for writes. Every call but ClientLogin needs
``Authorization: GoogleLogin auth=<token>``; anything else gets 401.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aggregator.exceptions import AggregatorError, NotFoundError
from aggregator.types import StreamFilter
from aggregator.urls import redact_text
from aggregator.web.greader.ids import ItemIds
from aggregator.web.greader.render import Origin, Shown, content_html, edit_line
from aggregator.web.greader.render import categories as item_categories
from aggregator.web.greader.streams import LABEL_PREFIX, FeedStreams, Stream, parse_stream
from aggregator.web.greader.tokens import new_login_token, post_token, post_token_ok, token_hash

if TYPE_CHECKING:
    from aggregator.core import Aggregator
    from aggregator.web.context import WebContext

Handler = Callable[[Request], Awaitable[Response]]

MAX_CONTENTS = 1000
MAX_IDS = 10000
DEFAULT_N = 20
#: Seconds a failed login waits before answering: slows a password guesser down.
LOGIN_FAILURE_DELAY_S = 0.3
_NO_PARAMS: QueryParams = QueryParams()


@dataclass(frozen=True)
class Caller:
    user: str
    login_hash: str


def json_response(data: object, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status, media_type="application/json; charset=utf-8")


def unauthorized() -> Response:
    # the same answer whatever was wrong (no such user, bad password, bad token)
    return PlainTextResponse("Unauthorized", 401, headers={"WWW-Authenticate": "GoogleLogin"})


def error_text(e: AggregatorError) -> str:
    """An error's message and hint for a client, any URL in them redacted."""
    hint = f" ({e.hint})" if e.hint else ""
    return redact_text(f"{e.message}{hint}")


def bad_request(message: str) -> Response:
    return PlainTextResponse(f"Bad Request: {message}", 400)


def _ts(value: str | None) -> datetime | None:
    """An epoch timestamp parameter (seconds; micro/milliseconds are tolerated)."""
    if not value:
        return None
    try:
        n = float(value)
    except ValueError:
        return None
    while n > 1e11:  # ms or µs
        n /= 1000
    return datetime.fromtimestamp(n, UTC)


def _int(value: str | None, default: int, top: int) -> int:
    try:
        n = int(value) if value else default
    except ValueError:
        n = default
    return max(1, min(n, top))


class ReaderApi:
    """One per application: resolves stream ids against the live config."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._ids: ItemIds | None = None
        self._feed_streams: FeedStreams | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    @property
    def agg(self) -> Aggregator:
        return self.ctx.agg

    def now(self) -> datetime:
        return self.agg.clock()

    def ids(self) -> ItemIds:
        topics = tuple(t.name for t in self.agg.config.topics)
        with self._lock:
            if self._ids is None or self._ids.topics != topics:
                self._ids = ItemIds.of(self.agg.reader_installation_id(), topics)
            return self._ids

    def feed_streams(self) -> FeedStreams:
        """Feed stream ids (URLs redacted) of the live config, rebuilt when it changes."""
        feeds = self.agg.config.feeds
        with self._lock:
            if self._feed_streams is None or self._feed_streams.feeds is not feeds:
                self._feed_streams = FeedStreams(feeds)
            return self._feed_streams

    def base_url(self) -> str | None:
        base = self.ctx.web.base_url
        return str(base).rstrip("/") if base else None

    async def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kw)

    def authed(
        self, handler: Callable[[ReaderApi, Request, Caller], Awaitable[Response]]
    ) -> Handler:
        """`handler` behind the Authorization check, with errors answered, not raised."""

        async def wrapped(request: Request) -> Response:
            caller = await self.caller(request)
            if caller is None:
                return unauthorized()
            try:
                return await handler(self, request, caller)
            except BadParameter as e:
                return bad_request(str(e))
            except NotFoundError as e:
                return PlainTextResponse(f"Not Found: {redact_text(e.message)}", 404)
            except AggregatorError as e:
                return bad_request(error_text(e))

        return wrapped

    async def caller(self, request: Request) -> Caller | None:
        """Who sent `Authorization: GoogleLogin auth=<token>`: a live token of a user
        still listed in web.users (removing a user logs their apps out)."""
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "googlelogin" or not rest.strip().lower().startswith("auth="):
            return None
        token = rest.strip()[len("auth=") :].strip()
        if not token:
            return None
        digest = token_hash(token)
        user = await self.run(self.agg.reader_token_user, digest)
        if user is None or user not in self.ctx.auth.user_names:
            return None
        return Caller(user, digest)

    async def params(self, request: Request) -> QueryParams | FormData:
        if request.method == "POST":
            form = await request.form()
            merged = list(request.query_params.multi_items()) + [
                (k, v) for k, v in form.multi_items() if isinstance(v, str)
            ]
            return QueryParams(merged)
        return request.query_params

    async def check_post(
        self, request: Request, caller: Caller, p: QueryParams | FormData
    ) -> Response | None:
        token = p.get("T")
        if post_token_ok(caller.login_hash, token if isinstance(token, str) else None, self.now()):
            return None
        return PlainTextResponse(
            "Unauthorized: bad POST token", 401, headers={"X-Reader-Google-Bad-Token": "true"}
        )

    # ------------------------------------------------------------ streams

    def parse(self, value: str) -> Stream:
        stream = parse_stream(value)
        if stream is None:
            raise NotFoundError(f"unknown stream id {value!r}")
        return stream

    def scope(self, stream: Stream) -> dict[str, Any]:
        """The StreamFilter fields a stream id stands for; NotFoundError for unknown ones."""
        cfg = self.agg.config
        if stream.kind == "state":
            return dict(_STATES[stream.value])
        if stream.kind == "feed":
            return {"feed": self.feed_of(stream).name}
        if stream.kind == "topic":
            if stream.value not in {t.name for t in cfg.topics}:
                raise NotFoundError(f"no topic named {stream.value!r}")
            return {"topic": stream.value}
        return {"tag": stream.value}

    def feed_of(self, stream: Stream) -> Any:
        """The configured feed a ``feed/...`` stream names (NotFoundError otherwise)."""
        feed = self.feed_streams().feed(stream.value)
        if feed is None:
            raise NotFoundError(f"no subscription feed/{stream.value}")
        return feed

    def stream_id(self, stream: Stream) -> str:
        """The id to answer with: a feed's redacted one, whichever form the client used."""
        return (
            self.feed_streams().stream_id(self.feed_of(stream))
            if stream.kind == "feed"
            else stream.id
        )

    def self_url(self, request: Request, stream: Stream) -> str:
        """The request's URL with a feed stream named by its id, never its full URL."""
        if stream.kind != "feed":
            return str(request.url)
        sid = self.stream_id(stream)
        path = request.url.path
        for prefix in ("/reader/atom/", "/reader/api/0/stream/contents/"):
            if (i := path.find(prefix)) >= 0:
                path = path[: i + len(prefix)] + sid
                break
        query = [(k, sid if k == "s" else v) for k, v in request.query_params.multi_items()]
        return str(request.url.replace(path=quote(path, safe="/"), query=urlencode(query)))

    def filter(
        self, user: str, stream: Stream, p: QueryParams | FormData = _NO_PARAMS, top: int = MAX_IDS
    ) -> StreamFilter:
        """The desk's StreamFilter for a stream id and its it=/xt=/ot=/nt=/c=/r=/n=.

        it= narrows by any stream (a feed, a tag, a topic, a state); xt= excludes a
        state (read, starred, kept-unread). A combination the desk's streams cannot
        express (two topics, a second feed, xt= of a feed) is a 400, not a wrong answer.
        """
        fields = self.scope(stream)
        for v in p.getlist("it"):
            _merge(fields, self.scope(self.parse(str(v))), str(v))
        for v in p.getlist("xt"):
            _merge(fields, _exclusion(self.parse(str(v)), str(v)), str(v))
        oldest = p.get("r") == "o"
        c = _str(p.get("c"))
        cursor = _continuation(c) if c else None
        if c and cursor is None:
            raise BadParameter(f"bad continuation {c!r}")
        return StreamFilter(
            user=user, **fields, since=_ts(_str(p.get("ot"))), until=_until(_str(p.get("nt"))),
            before=None if oldest else cursor, after=cursor if oldest else None,
            oldest_first=oldest, limit=_int(_str(p.get("n")), DEFAULT_N, top),
        )  # fmt: skip

    def page(self, f: StreamFilter) -> tuple[list[int], str | None]:
        """A page of story ids and the continuation for the next one (the last id)."""
        ids = self.agg.stream_ids(f)
        more = len(ids) > f.limit
        ids = ids[: f.limit]
        return ids, (f"{ids[-1]:x}" if more and ids else None)

    def shown(
        self, user: str, article_ids: Sequence[int], *, view: str | None = None
    ) -> list[Shown]:
        ids = self.ids()
        feeds = {f.name: f for f in self.agg.config.feeds}
        streams = self.feed_streams()
        base = self.base_url()
        items = self.agg.reader_items(article_ids)
        state = self.agg.triage(user, [it.article_id for it in items]) if items else {}
        out = []
        for it in items:
            triage = state.get(it.article_id)
            tags = [t for name in it.feeds if (f := feeds.get(name)) for t in f.tags]
            desk = f"{base}/items/{it.article_id}" if base else None
            e = it.edits
            edited = (
                edit_line(e.edits, e.headline_changed, e.words_added, e.words_removed)
                if e
                else None
            )
            out.append(Shown(
                id_long=ids.long(it.article_id, view), id_short=ids.short(it.article_id),
                title=it.title or "(no title)", url=it.url, author=it.author,
                published=it.published or it.first_seen_at, crawled=it.first_seen_at,
                categories=item_categories(
                    tags=tags, topics=it.topics, read=bool(triage and triage.read),
                    starred=bool(triage and triage.starred)),
                origin=_origin(it.feeds, feeds, streams),
                content=content_html(it.text, it.summary, url=it.url, desk_url=desk,
                                     edited=edited, retracted=it.retracted),
            ))  # fmt: skip
        return out

    def stream_title(self, stream: Stream) -> str:
        if stream.kind == "feed":
            f = self.feed_of(stream)
            return str(f.title or f.name)
        if stream.kind == "topic":
            return f"Topic: {stream.value}"
        if stream.kind == "label":
            return stream.value
        return _TITLES.get(stream.value, stream.value)

    # ------------------------------------------------------------ handlers: auth

    async def client_login(self, request: Request) -> Response:
        p = await self.params(request)
        user, password = _str(p.get("Email")) or "", _str(p.get("Passwd")) or ""
        # constant time whoever asks (the desk's check compares with every user)
        ok = await self.run(self.ctx.auth.check_password, user, password)
        if not ok or not user:
            await asyncio.sleep(LOGIN_FAILURE_DELAY_S)
            return PlainTextResponse("Error=BadAuthentication\n", 401)
        token = new_login_token()
        client = _str(p.get("source")) or request.headers.get("user-agent")
        await self.run(self.agg.add_reader_token, user, token_hash(token), client)
        return PlainTextResponse(f"SID={token}\nLSID=null\nAuth={token}\n")

    @staticmethod
    async def token(api: ReaderApi, request: Request, caller: Caller) -> Response:
        return PlainTextResponse(post_token(caller.login_hash, api.now()))

    @staticmethod
    async def user_info(api: ReaderApi, request: Request, caller: Caller) -> Response:
        return json_response(
            {
                "userId": caller.user,
                "userName": caller.user,
                "userProfileId": caller.user,
                "userEmail": "",
            }
        )


class BadParameter(ValueError):
    pass


_STATES: dict[str, dict[str, Any]] = {
    "reading-list": {}, "starred": {"starred": True}, "read": {"read": True},
    "unread": {"read": False},
}  # fmt: skip
_TITLES = {"reading-list": "Reading list", "starred": "Starred", "read": "Read",
           "unread": "Unread"}  # fmt: skip


def _exclusion(stream: Stream, given: str) -> dict[str, Any]:
    if stream.kind == "state" and stream.value in ("read", "starred", "unread"):
        field = "starred" if stream.value == "starred" else "read"
        return {field: stream.value == "unread"}
    raise BadParameter(
        f"xt={given}: only the read, starred and kept-unread states can be excluded here"
    )


def _merge(fields: dict[str, Any], more: dict[str, Any], given: str) -> None:
    for key, value in more.items():
        if key in fields and fields[key] != value:
            raise BadParameter(
                f"{given} cannot be combined with this stream "
                f"(it already has {key}={fields[key]!r})"
            )
        fields[key] = value


def _until(value: str | None) -> datetime | None:
    """nt= keeps stories first seen at or before it (the desk's `until` is exclusive)."""
    when = _ts(value)
    return when + timedelta(microseconds=1) if when else None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _continuation(c: str) -> int | None:
    try:
        n = int(c, 16)
    except ValueError:
        return None
    return n if n > 0 else None


@functools.lru_cache(maxsize=4096)
def _site(url: str) -> str:
    """A feed's site (its htmlUrl): scheme and host, without the URL's credentials."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}/" if host else ""


def _origin(names: Sequence[str], feeds: dict[str, Any], streams: FeedStreams) -> Origin:
    for name in names:
        f = feeds.get(name)
        if f is not None:
            return Origin(streams.stream_id(f), f.title or f.name, _site(f.url))
    name = names[0] if names else "page watch"
    return Origin(f"{LABEL_PREFIX}{name}", name, "")


def _stream_from_path(request: Request, decoded: str) -> str:
    """The stream id as the client escaped it: the raw path, unquoted once, so a
    feed URL's own ``%2F`` or ``?`` survives (newsboat escapes the whole id)."""
    raw = request.scope.get("raw_path")
    root = request.scope.get("root_path", "")
    if isinstance(raw, bytes):
        path = raw.decode("latin-1").split("?", 1)[0]
        for prefix in ("/reader/atom/", "/reader/api/0/stream/contents/"):
            marker = root + prefix
            if path.startswith(marker):
                return unquote(path[len(marker) :])
            idx = path.find(prefix)
            if idx >= 0:
                return unquote(path[idx + len(prefix) :])
    return decoded
