"""The desk's ASGI application: Starlette routes, Jinja2 pages, static files, security.

``create_app(agg)`` is what `aggregator web` and `aggregator run` serve with
uvicorn, and what tests drive with an HTTP client or a browser. The reader API
(``aggregator.web.greader``, when installed) is mounted under ``/api/greader``
with the same :class:`WebContext`.

Every response carries a Content-Security-Policy without 'unsafe-inline': the
pages' only script is ``/static/desk.js``, so a story whose title or text holds
markup can neither run script nor style the page, even if an escape were missed.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from aggregator.exceptions import ConfigError
from aggregator.web.auth import SESSION_COOKIE, Session, cookie_header
from aggregator.web.context import WebContext

if TYPE_CHECKING:
    from aggregator.core import Aggregator

log = logging.getLogger("aggregator.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

#: Paths served to anyone: login, assets, probes. Atom feeds check their own token,
#: the reader API its own Authorization header.
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", "/feeds/", "/api/", "/favicon.ico")


def create_app(agg: Aggregator, *, daemon: bool = False, check_listen: bool = False) -> Starlette:
    """The desk for `agg`. `daemon`: served by `aggregator run` (alerts are delivered by
    the daemon). `check_listen`: refuse a web.listen beyond loopback without users."""
    ctx = WebContext(agg, daemon=daemon)
    if check_listen:
        check_exposure(agg.config.web)
    from aggregator.web.pages import page_routes

    routes: list[BaseRoute] = [*page_routes(ctx)]
    routes.append(Mount("/static", app=StaticFiles(directory=str(_static_dir())), name="static"))
    greader = _reader_api(ctx)
    if greader is not None:
        routes.append(Mount("/api/greader", routes=greader))
    app = Starlette(routes=routes)
    app.state.ctx = ctx
    app.add_middleware(DeskMiddleware, ctx=ctx)
    return app


def _static_dir() -> Any:
    return resources.files("aggregator.web").joinpath("static")


def _reader_api(ctx: WebContext) -> list[BaseRoute] | None:
    """The reader API's routes, if its module is installed (issue 16)."""
    try:
        module = importlib.import_module("aggregator.web.greader")
    except ModuleNotFoundError as e:
        if e.name != "aggregator.web.greader":
            raise
        return None
    routes = getattr(module, "routes", None)
    return list(routes(ctx)) if routes is not None else None


def check_exposure(web: Any) -> None:
    """Beyond loopback, the desk needs users: refuse to start otherwise."""
    if web.loopback or web.users:
        return
    raise ConfigError(
        f"web.listen is {web.listen}, reachable beyond this machine, and no web.users are "
        "set: the desk would be open to anyone",
        key="web.users",
        hint='add web.users (e.g. users: [{name: desk, password: "${DESK_PASSWORD}"}]), '
        "or listen on 127.0.0.1 and put a reverse proxy with authentication in front",
    )


class DeskMiddleware:
    """Sessions, the login wall and security headers, as plain ASGI (no body buffering).

    Every visitor gets a signed session cookie (logged out, it carries the CSRF
    nonce). A page needing a login redirects to /login (or gets 401 for non-GET).
    """

    def __init__(self, app: ASGIApp, ctx: WebContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = self.ctx.auth
        session = auth.read_session(_cookie(scope, SESSION_COOKIE))
        cookie: str | None = None
        if session is None or session.fresh_needed:
            session, cookie = auth.new_session(session.user if session else None)
        state = scope.setdefault("state", {})
        state["session"] = session
        state["user"] = auth.desk_user(session)
        secure = _secure(scope, self.ctx)
        path = scope.get("path", "/")
        if state["user"] is None and not path.startswith(PUBLIC_PREFIXES):
            await _login_wall(scope, send, cookie, secure)
            return

        start = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _security_headers()
                took = (time.perf_counter() - start) * 1000
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                own = any(
                    k == b"set-cookie" and v.startswith(SESSION_COOKIE.encode() + b"=")
                    for k, v in headers
                )
                if cookie is not None and not own and not path.startswith("/api/"):
                    headers.append((b"set-cookie", cookie_header(cookie, secure)))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _security_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]


async def _login_wall(scope: Scope, send: Send, cookie: str | None, secure: bool) -> None:
    path = scope.get("path", "/")
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    root = scope.get("root_path", "")
    if scope.get("method") in ("GET", "HEAD"):
        status, body = 303, b""
        headers = [(b"location", f"{root}/login?next={quote(target, safe='')}".encode())]
    else:
        status, body = 401, b"log in first\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers += _security_headers()
    if cookie is not None:
        headers.append((b"set-cookie", cookie_header(cookie, secure)))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is just no session
                return None
            if name in jar:
                return jar[name].value
    return None


def _secure(scope: Scope, ctx: WebContext) -> bool:
    """Cookies are Secure when the desk is reached over https (directly, or as
    web.base_url says behind a proxy)."""
    base = ctx.web.base_url or ""
    return scope.get("scheme") == "https" or str(base).startswith("https://")


__all__ = ["CSP", "DeskMiddleware", "Session", "check_exposure", "create_app"]
