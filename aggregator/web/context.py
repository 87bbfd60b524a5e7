"""What every part of the web layer shares: the Aggregator, its web settings, auth.

The desk pages (``aggregator.web.pages``), the Atom feeds and the reader API
(``aggregator.web.greader``, which exposes ``routes(ctx)``) all receive one
:class:`WebContext`. They call the Aggregator facade only, never storage.

Per request, the middleware in ``aggregator.web.app`` leaves the verified
session in ``request.state.session`` and the desk user (whose read/starred state
the request sees) in ``request.state.user``; :meth:`WebContext.user` reads it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from aggregator.web.auth import Auth, Session

if TYPE_CHECKING:
    from aggregator.core import Aggregator


@dataclass
class WebContext:
    """The Aggregator behind the web app, and the auth helpers built from its config.

    `auth` follows live reloads of feeds.yaml: a user added or a password changed
    in ``web.users`` takes effect on the next request, no restart needed.
    """

    agg: Aggregator
    #: Set by `aggregator run`: the daemon delivers queued alerts itself.
    daemon: bool = False
    _auth: Auth | None = field(default=None, repr=False)
    _auth_for: Any = field(default=None, repr=False)
    _secret: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def config(self) -> Any:
        """The whole Config (feeds.yaml) as the Aggregator holds it now."""
        return self.agg.config

    @property
    def web(self) -> Any:
        """The `web:` section of feeds.yaml (listen, base_url, users)."""
        return self.agg.config.web

    @property
    def auth(self) -> Auth:
        web = self.web
        with self._lock:
            if self._auth is None or self._auth_for is not web:
                if self._secret is None:
                    self._secret = self.agg.desk_secret()
                users = {u.name: u.password for u in web.users}
                self._auth, self._auth_for = Auth(users, self._secret), web
            return self._auth

    def check_password(self, user: str, password: str) -> bool:
        """A `web.users` name and its password (constant time; never logged)."""
        return self.auth.check_password(user, password)

    def user_names(self) -> tuple[str, ...]:
        """Who may log in (web.users), in config order."""
        return self.auth.user_names

    # ------------------------------------------------------------ per request

    @staticmethod
    def session(request: Request) -> Session | None:
        return getattr(request.state, "session", None)

    @staticmethod
    def user(request: Request) -> str | None:
        """The desk user of this request (None: not logged in, login needed)."""
        return getattr(request.state, "user", None)

    def csrf(self, request: Request) -> str:
        """The CSRF token to put in this request's forms."""
        session = self.session(request)
        return self.auth.csrf_token(session) if session is not None else ""

    def base_url(self, request: Request) -> str:
        """Where the desk is reached from outside: web.base_url, else this request's origin."""
        if self.web.base_url:
            return str(self.web.base_url).rstrip("/")
        root = request.scope.get("root_path", "")
        return f"{request.url.scheme}://{request.url.netloc}{root}"

    def absolute(self, request: Request, path: str) -> str:
        return self.base_url(request) + path

    def story_url(self, request: Request, article_id: int) -> str:
        return self.absolute(request, f"/items/{article_id}")

    def feed_url(self, request: Request, path: str) -> str:
        """An Atom feed's absolute URL with its secret token."""
        return f"{self.absolute(request, path)}?token={self.auth.feed_token(path)}"
