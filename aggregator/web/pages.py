"""The desk's pages: topic streams, stories, changes, sources, alerts, search, login.

Handlers are thin: read the query, call the Aggregator facade, render a template.
GET handlers are plain functions (Starlette runs them in its thread pool, so a
database read never blocks the event loop); POST handlers parse the form, check
its CSRF token, and hand the facade call to the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Route

from aggregator.exceptions import AggregatorError, NotFoundError, QuerySyntaxError
from aggregator.types import StreamFilter
from aggregator.web.auth import cookie_header
from aggregator.web.context import WebContext
from aggregator.web.render import environment

log = logging.getLogger("aggregator.web")

#: Seconds the language filter's choices are kept.
LANGUAGES_TTL_S = 60.0
#: The unread badge counts this far ("100+"): each counted story is an index lookup.
UNREAD_CAP = 100
#: Stories per page of a stream.
PAGE_SIZE = 50
#: The time filter's choices.
SINCE = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATES = ("all", "unread", "starred", "read")


@dataclass(frozen=True)
class Form:
    """A POSTed form whose CSRF token checked out."""

    data: FormData

    def ids(self) -> list[int]:
        out = []
        for raw in self.data.getlist("id"):
            try:
                out.append(int(str(raw)))
            except ValueError:
                continue
        return out

    def get(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        return str(value) if value is not None else default


class CsrfRefused(Exception):
    """A POST without a valid CSRF token (or from another site)."""


class Pages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.env = environment()
        self._languages: tuple[float, list[str]] | None = None

    # ------------------------------------------------------------ helpers

    def languages(self) -> list[str]:
        """The language filter's choices, read at most once a minute (a scan of the
        newest stories costs more than the rest of a stream page)."""
        now = time.monotonic()
        if self._languages is None or now - self._languages[0] > LANGUAGES_TTL_S:
            self._languages = (now, self.ctx.agg.stream_languages())
        return self._languages[1]

    def render(self, request: Request, template: str, code: int = 200, **values: Any) -> Response:
        agg = self.ctx.agg
        values.setdefault("title", None)
        html = self.env.get_template(template).render(
            request=request,
            root=request.scope.get("root_path", ""),
            user=self.ctx.user(request),
            csrf=self.ctx.csrf(request),
            login_required=self.ctx.auth.login_required,
            topics=[t.name for t in agg.config.topics],
            now=agg.clock(),
            **values,
        )
        return HTMLResponse(html, status_code=code)

    def error(
        self, request: Request, status: int, message: str, hint: str | None = None
    ) -> Response:
        return self.render(
            request, "error.html", code=status, message=message, hint=hint, title="Error"
        )

    async def form(self, request: Request) -> Form:
        """The POSTed form, if its CSRF token is this session's and it comes from this site."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            raise CsrfRefused("cross-site request")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise CsrfRefused("cross-site request")
        data = await request.form()
        token = str(data.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not self.ctx.auth.check_csrf(self.ctx.session(request), token):
            raise CsrfRefused("missing or wrong CSRF token")
        return Form(data)

    def back(self, request: Request, form: Form, default: str = "/") -> Response:
        """Where a form returns to: its `next`, when it is a path on this site."""
        target = form.get("next") or default
        if not target.startswith("/") or target.startswith("//"):
            target = default
        root = request.scope.get("root_path", "")
        return RedirectResponse(root + target, status_code=303)

    # ------------------------------------------------------------ stream

    def stream_filter(
        self, request: Request, topic: str | None
    ) -> tuple[StreamFilter, dict[str, str]]:
        q = request.query_params
        params = {k: q.get(k, "") for k in ("language", "feed", "tag", "since", "state")}
        state = params["state"] if params["state"] in STATES else "all"
        since = SINCE.get(params["since"])
        now = self.ctx.agg.clock()
        f = StreamFilter(
            user=self.ctx.user(request),
            topic=topic,
            matched=topic is None,
            feed=params["feed"] or None,
            tag=params["tag"] or None,
            language=params["language"] or None,
            since=now - since if since else None,
            read={"unread": False, "read": True}.get(state),
            starred=True if state == "starred" else None,
            before=_int(q.get("before")),
            limit=PAGE_SIZE,
        )
        return f, params

    def stream(self, request: Request) -> Response:
        topic = request.path_params.get("name") or None
        if topic is None and request.query_params.get("topic"):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "topic"]
            target = f"/topics/{quote(request.query_params['topic'])}"
            qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in rest if v)
            root = request.scope.get("root_path", "")
            return RedirectResponse(root + target + (f"?{qs}" if qs else ""), status_code=303)
        agg = self.ctx.agg
        spec = next((t for t in agg.config.topics if t.name == topic), None)
        if topic is not None and spec is None:
            return self.error(
                request,
                404,
                f"no topic named {topic!r}",
                "topics are defined in feeds.yaml; see `aggregator topics list`",
            )
        f, params = self.stream_filter(request, topic)
        if f.feed and agg.config.feed(f.feed) is None:
            return self.error(request, 404, f"no feed named {f.feed!r}", "see the Sources page")
        page = agg.stream(f)
        atom_path = f"/feeds/topics/{topic}.atom" if topic else None
        return self.render(
            request,
            "stream.html",
            page=page,
            topic=spec,
            params=params,
            filter=f,
            languages=self.languages(),
            feeds=[x.name for x in agg.config.feeds],
            tags=sorted({tag for x in agg.config.feeds for tag in x.tags}),
            atom=self.ctx.feed_url(request, atom_path) if atom_path else None,
            unread=agg.count_stream(
                StreamFilter(user=f.user, topic=topic, matched=topic is None, read=False),
                cap=UNREAD_CAP,
            )
            if f.user
            else None,
            unread_cap=UNREAD_CAP,
            title=f"Topic: {topic}" if topic else "All topics",
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        )

    # ------------------------------------------------------------ story

    def story(self, request: Request) -> Response:
        agg = self.ctx.agg
        aid = int(request.path_params["id"])
        try:
            article = agg.article(aid)
        except NotFoundError as e:
            return self.error(
                request,
                404,
                e.message if hasattr(e, "message") else str(e),
                "the story may be from another database",
            )
        versions = agg.versions(aid)
        changes = {c.to_version: c for c in agg.changes(article_id=aid, limit=1000)}
        numbers = [v.number for v in versions]
        a, b = _int(request.query_params.get("a")), _int(request.query_params.get("b"))
        if (a is None or b is None) and len(numbers) >= 2:
            a, b = numbers[-2], numbers[-1]
        diff = None
        if a is not None and b is not None and a in numbers and b in numbers and a != b:
            diff = agg.compare_versions(aid, min(a, b), max(a, b))
        user = self.ctx.user(request)
        triage = agg.triage(user, [aid]).get(aid) if user else None
        queries = {t.name: t.query for t in agg.config.topics}
        latest: dict[str, Any] = {}
        for m in article.matches:  # the latest version's match per topic, earlier ones listed
            if m.topic not in latest or m.version > latest[m.topic].version:
                latest[m.topic] = m
        earlier = {
            topic: [
                m.version for m in article.matches if m.topic == topic and m.version != best.version
            ]
            for topic, best in latest.items()
        }
        return self.render(
            request,
            "story.html",
            article=article,
            versions=versions,
            latest_matches=list(latest.values()),
            earlier=earlier,
            changes=changes,
            diff=diff,
            a=a,
            b=b,
            triage=triage,
            queries=queries,
            title=article.title or f"Story {aid}",
            here=request.url.path,
        )

    # ------------------------------------------------------------ changes

    def changes(self, request: Request) -> Response:
        agg = self.ctx.agg
        topic = request.query_params.get("topic") or None
        kind = request.query_params.get("kind") or None
        if topic and topic not in {t.name for t in agg.config.topics}:
            return self.error(request, 404, f"no topic named {topic!r}")
        items = agg.changes(topic=topic, limit=500 if kind else 100)
        if kind:
            items = [c for c in items if c.kind == kind][:100]
        return self.render(
            request,
            "changes.html",
            changes=items,
            topic=topic,
            kind=kind,
            kinds=("headline", "correction", "substantial", "light", "revert", "retraction"),
            atom=self.ctx.feed_url(request, "/feeds/changes.atom"),
            title="Changes",
        )

    # ------------------------------------------------------------ sources

    def sources(self, request: Request) -> Response:
        agg = self.ctx.agg
        feeds = agg.feeds()
        activity = agg.feed_activity(30)
        return self.render(
            request,
            "feeds.html",
            feeds=feeds,
            activity=activity,
            watches=agg.config.watches,
            watch_states=agg.watch_states(),
            title="Sources",
        )

    # ------------------------------------------------------------ alerts

    def alerts(self, request: Request) -> Response:
        agg = self.ctx.agg
        status = request.query_params.get("status") or None
        return self.render(
            request,
            "alerts.html",
            alerts=agg.alerts(status, 200),
            counts=agg.alert_counts(),
            status=status,
            daemon=self.ctx.daemon,
            atom=self.ctx.feed_url(request, "/feeds/alerts.atom"),
            flash=request.query_params.get("retried"),
            sent=request.query_params.get("sent"),
            title="Alerts",
        )

    async def retry(self, request: Request) -> Response:
        form = await self.form(request)
        ids = form.ids()
        if not ids and form.get("all") != "dead":
            return self.error(request, 400, "no alert chosen", "tick an alert, or retry all dead")
        try:
            n = await run_in_threadpool(self.ctx.agg.retry_alerts, ids or None)
        except NotFoundError as e:
            return self.error(request, 404, str(e))
        sent = await self._deliver_now()
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/alerts?retried={n}&sent={sent}", status_code=303)

    async def _deliver_now(self) -> int:
        """Send what is due now, as `aggregator alerts retry` does (leases keep a daemon
        serving the same outbox from sending it twice). Returns how many were sent."""
        agg = self.ctx.agg

        async def go() -> int:
            async with agg.running() as st:
                report = await agg.deliver_due(st, worker=f"web-{os.getpid()}")
                return int(report.sent)

        try:
            return await run_in_threadpool(asyncio.run, go())
        except AggregatorError as e:
            log.warning("delivering after a retry failed (the daemon will retry): %s", e)
            return 0

    # ------------------------------------------------------------ search

    def search(self, request: Request) -> Response:
        q = (request.query_params.get("q") or "").strip()
        results: list[Any] = []
        problem = None
        if q:
            try:
                results = self.ctx.agg.search(q, limit=50)
            except QuerySyntaxError as e:
                problem = e
        return self.render(
            request,
            "search.html",
            q=q,
            results=results,
            problem=problem,
            title=f"Search: {q}" if q else "Search",
        )

    # ------------------------------------------------------------ triage

    async def triage(self, request: Request) -> Response:
        form = await self.form(request)
        user = self.ctx.user(request)
        if user is None:
            return PlainTextResponse("log in first\n", status_code=401)
        action, ids = form.get("action"), form.ids()
        calls: dict[str, Callable[[], int]] = {
            "read": lambda: self.ctx.agg.set_read(user, ids, True),
            "unread": lambda: self.ctx.agg.set_read(user, ids, False),
            "star": lambda: self.ctx.agg.set_starred(user, ids, True),
            "unstar": lambda: self.ctx.agg.set_starred(user, ids, False),
        }
        if action not in calls or not ids:
            return PlainTextResponse(
                "action must be read, unread, star or unstar, with ids\n", status_code=400
            )
        await run_in_threadpool(calls[action])
        if request.headers.get("accept", "").startswith("application/json"):
            state = await run_in_threadpool(self.ctx.agg.triage, user, ids)
            return JSONResponse(
                {str(i): {"read": s.read, "starred": s.starred} for i, s in state.items()}
            )
        return self.back(request, form)

    async def mark_all_read(self, request: Request) -> Response:
        form = await self.form(request)
        user = self.ctx.user(request)
        if user is None:
            return PlainTextResponse("log in first\n", status_code=401)
        until = _time(form.get("until")) or self.ctx.agg.clock()
        topic = form.get("topic") or None
        f = StreamFilter(
            user=user,
            topic=topic,
            matched=topic is None,
            feed=form.get("feed") or None,
            tag=form.get("tag") or None,
            language=form.get("language") or None,
        )
        await run_in_threadpool(self.ctx.agg.mark_all_read, f, until)
        return self.back(request, form)

    # ------------------------------------------------------------ login

    def login_page(self, request: Request) -> Response:
        return self.render(
            request,
            "login.html",
            next=_local(request.query_params.get("next")),
            failed=False,
            title="Log in",
        )

    async def login(self, request: Request) -> Response:
        form = await self.form(request)
        name, password = form.get("name"), form.get("password")
        auth = self.ctx.auth
        target = _local(form.get("next"))
        if not auth.login_required:
            return RedirectResponse(request.scope.get("root_path", "") + target, status_code=303)
        if not auth.check_password(name, password):
            return self.render(
                request,
                "login.html",
                code=401,
                next=target,
                failed=True,
                login_name=name,
                title="Log in",
            )
        _, cookie = auth.new_session(name)
        response = RedirectResponse(request.scope.get("root_path", "") + target, status_code=303)
        response.headers.append(
            "set-cookie", cookie_header(cookie, _https(request, self.ctx)).decode("latin-1")
        )
        return response

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        _, cookie = self.ctx.auth.new_session(None)
        response = RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)
        response.headers.append(
            "set-cookie", cookie_header(cookie, _https(request, self.ctx)).decode("latin-1")
        )
        return response

    def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def favicon(self, request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/static/favicon.svg", status_code=301)


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


def _time(v: str | None) -> datetime | None:
    if not v:
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _local(target: str | None) -> str:
    """A redirect target on this site only (no //host or scheme: an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _https(request: Request, ctx: WebContext) -> bool:
    return request.url.scheme == "https" or str(ctx.web.base_url or "").startswith("https://")


def _guard(pages: Pages, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """POST handlers: a refused CSRF check is a 403 page, an AggregatorError a 400."""

    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except CsrfRefused as e:
            return pages.error(
                request, 403, f"refused: {e}", "reload the page and submit the form again"
            )
        except AggregatorError as e:
            return pages.error(request, 400, str(e), getattr(e, "hint", None))

    return endpoint


def page_routes(ctx: WebContext) -> list[BaseRoute]:
    from aggregator.web.atom import Feeds

    pages = Pages(ctx)
    feeds = Feeds(ctx)
    return [
        Route("/", pages.stream),
        Route("/topics/{name}", pages.stream),
        Route("/items/{id:int}", pages.story),
        Route("/changes", pages.changes),
        Route("/feeds", pages.sources),
        Route("/alerts", pages.alerts),
        Route("/alerts/retry", _guard(pages, pages.retry), methods=["POST"]),
        Route("/search", pages.search),
        Route("/triage", _guard(pages, pages.triage), methods=["POST"]),
        Route("/mark-all-read", _guard(pages, pages.mark_all_read), methods=["POST"]),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", _guard(pages, pages.login), methods=["POST"]),
        Route("/logout", _guard(pages, pages.logout), methods=["POST"]),
        Route("/healthz", pages.healthz),
        Route("/favicon.ico", pages.favicon),
        Route("/feeds/topics/{name}.atom", feeds.topic),
        Route("/feeds/alerts.atom", feeds.alerts),
        Route("/feeds/changes.atom", feeds.changes),
    ]
