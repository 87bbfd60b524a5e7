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
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ...exceptions import AggregatorError, NotFoundError
from .ids import ItemIds
from .render import Origin, Shown, content_html, edit_line
from .render import categories as item_categories
from .streams import (
    LABEL_PREFIX,
    Stream,
    parse_stream,
)
from .tokens import new_login_token, post_token, post_token_ok, token_hash

Handler = Callable[[Request], Awaitable[Response]]

MAX_CONTENTS = 1000
MAX_IDS = 10000
DEFAULT_N = 20
#: Seconds a failed login waits before answering: slows a password guesser down.
LOGIN_FAILURE_DELAY_S = 0.3


class Backend(Protocol):
    """What the API needs from the web application's context."""

    def check_password(self, user: str, password: str) -> bool: ...


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

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------ plumbing

    @property
    def agg(self) -> Any:
        return self.ctx.agg

    @property
    def store(self) -> Any:
        return self.agg.reader_api

    def now(self) -> datetime:
        return self.agg.clock()  # type: ignore[no-any-return]

    def ids(self) -> ItemIds:
        return ItemIds.of(self.store.installation_id(), (t.name for t in self.agg.config.topics))

    def base_url(self) -> str | None:
        web = getattr(self.agg.config, "web", None)
        base = getattr(self.ctx, "base_url", None) or getattr(web, "base_url", None)
        return str(base).rstrip("/") if base else None

    def users(self) -> set[str]:
        names = getattr(self.ctx, "usernames", None)
        if names is not None:
            return set(names())
        web = getattr(self.agg.config, "web", None)
        return {u.name for u in getattr(web, "users", None) or ()}

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
            except NotFoundError as e:
                return PlainTextResponse(f"Not Found: {e.message}", 404)
            except AggregatorError as e:
                hint = f" ({e.hint})" if e.hint else ""
                return bad_request(f"{e.message}{hint}")

        return wrapped

    async def caller(self, request: Request) -> Caller | None:
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "googlelogin" or not rest.strip().lower().startswith("auth="):
            return None
        token = rest.strip()[len("auth=") :].strip()
        if not token:
            return None
        digest = token_hash(token)
        user = await self.run(self.store.token_user, digest, self.now())
        if user is None or user not in self.users():
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

    def select(self, stream: Stream) -> Any:
        """The StreamSelect for a parsed stream id; NotFoundError for unknown ones."""
        from ...storage.reader_api import StreamSelect

        cfg = self.agg.config
        if stream.kind == "state":
            kind = {"reading-list": "all"}.get(stream.value, stream.value)
            return StreamSelect(kind)  # type: ignore[arg-type]
        if stream.kind == "feed":
            feed = next((f for f in cfg.feeds if f.url == stream.value), None)
            if feed is None:
                raise NotFoundError(f"no subscription feed/{stream.value}")
            return StreamSelect("feeds", (feed.name,))
        if stream.kind == "topic":
            if stream.value not in {t.name for t in cfg.topics}:
                raise NotFoundError(f"no topic named {stream.value!r}")
            return StreamSelect("topics", (stream.value,))
        return StreamSelect("feeds", tuple(f.name for f in cfg.feeds if stream.value in f.tags))

    def parse(self, value: str) -> Stream:
        stream = parse_stream(value)
        if stream is None:
            raise NotFoundError(f"unknown stream id {value!r}")
        return stream

    def query(self, user: str, stream: Stream, p: QueryParams | FormData, top: int) -> Any:
        from ...storage.reader_api import StreamQuery

        after = None
        c = p.get("c")
        if isinstance(c, str) and c:
            after = _continuation(c)
            if after is None:
                raise BadParameter(f"bad continuation {c!r}")
        return StreamQuery(
            user=user,
            stream=self.select(stream),
            include=tuple(self.select(self.parse(str(v))) for v in p.getlist("it") if v),
            exclude=tuple(self.select(self.parse(str(v))) for v in p.getlist("xt") if v),
            since=_ts(_str(p.get("ot"))),
            until=_ts(_str(p.get("nt"))),
            after=after,
            oldest_first=p.get("r") == "o",
            limit=_int(_str(p.get("n")), DEFAULT_N, top) + 1,
        )

    def page(self, q: Any) -> tuple[list[Any], str | None]:
        """A page of item refs and the continuation for the next one."""
        refs = self.store.stream(q)
        more = len(refs) == q.limit
        refs = refs[: q.limit - 1]
        return refs, (f"{refs[-1].article_id:x}" if more and refs else None)

    def shown(
        self, user: str, article_ids: Sequence[int], *, view: str | None = None
    ) -> list[Shown]:
        ids = self.ids()
        cfg = self.agg.config
        feeds = {f.name: f for f in cfg.feeds}
        base = self.base_url()
        out = []
        for it in self.store.items(user, article_ids):
            tags = [t for name in it.feeds if (f := feeds.get(name)) for t in f.tags]
            origin = _origin(it.feeds, feeds)
            desk = f"{base}/items/{it.article_id}" if base else None
            edited = (
                edit_line(
                    it.edits.edits,
                    it.edits.headline_changed,
                    it.edits.words_added,
                    it.edits.words_removed,
                )
                if it.edits
                else None
            )
            out.append(
                Shown(
                    id_long=ids.long(it.article_id, view),
                    id_short=ids.short(it.article_id),
                    title=it.title or "(no title)",
                    url=it.url,
                    author=it.author,
                    published=it.published or it.first_seen_at,
                    crawled=it.first_seen_at,
                    categories=item_categories(
                        tags=tags, topics=it.topics, read=it.read, starred=it.starred
                    ),
                    origin=origin,
                    content=content_html(
                        it.text,
                        it.summary,
                        url=it.url,
                        desk_url=desk,
                        edited=edited,
                        retracted=it.retracted,
                    ),
                )
            )
        return out

    def stream_title(self, stream: Stream) -> str:
        if stream.kind == "feed":
            f = next((f for f in self.agg.config.feeds if f.url == stream.value), None)
            return (f.title or f.name) if f else stream.value
        if stream.kind == "topic":
            return f"Topic: {stream.value}"
        if stream.kind == "label":
            return stream.value
        return {
            "all": "Reading list",
            "reading-list": "Reading list",
            "starred": "Starred",
            "read": "Read",
            "unread": "Unread",
        }.get(stream.value, stream.value)

    # ------------------------------------------------------------ handlers: auth

    async def client_login(self, request: Request) -> Response:
        p = await self.params(request)
        user, password = _str(p.get("Email")) or "", _str(p.get("Passwd")) or ""
        ok = (
            bool(user)
            and user in self.users()
            and await self.run(self.ctx.check_password, user, password)
        )
        if not ok:
            await asyncio.sleep(LOGIN_FAILURE_DELAY_S)
            return PlainTextResponse("Error=BadAuthentication\n", 401)
        token = new_login_token()
        client = _str(p.get("source")) or request.headers.get("user-agent")
        await self.run(self.store.add_token, user, token_hash(token), client, self.now())
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


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _continuation(c: str) -> int | None:
    try:
        n = int(c, 16)
    except ValueError:
        return None
    return n if n > 0 else None


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" if parts.netloc else url


def _origin(names: Sequence[str], feeds: dict[str, Any]) -> Origin:
    for name in names:
        f = feeds.get(name)
        if f is not None:
            return Origin(f"feed/{f.url}", f.title or f.name, _site(f.url))
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
