"""Who may use the desk: password check, signed session cookies, CSRF and feed tokens.

Everything is derived from one secret key kept in the database (see
``Aggregator.desk_secret``), so several daemons serving the same PostgreSQL
database accept each other's sessions and feed tokens, and a restart logs no one out.

* Passwords are compared in constant time (both sides hashed first, every user
  compared, so neither the length nor the existence of a name leaks), and never logged.
* A session cookie is ``base64(json) . base64(hmac)``; it names the user, a random
  nonce and an expiry, and a fingerprint of the user's password: changing a password
  in feeds.yaml ends that user's sessions.
* Every visitor has a session, a logged-out one too: its nonce keys the CSRF token
  that every POST form carries (the login form included).
* Atom feeds cannot log in, so each feed URL carries its own token, an HMAC of the
  feed's path: one leaked URL exposes one feed, and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SESSION_COOKIE = "desk_session"
#: How long a login lasts without being renewed.
SESSION_SECONDS = 14 * 24 * 3600
#: A logged-out session (it only carries a CSRF nonce) is renewed this often.
ANONYMOUS_SECONDS = 24 * 3600
#: The user name of the desk's triage state when no users are configured (loopback only).
LOCAL_USER = "local"


@dataclass(frozen=True)
class Session:
    """A verified session cookie. `user` is None until someone logs in."""

    user: str | None
    nonce: str
    expires: int

    @property
    def fresh_needed(self) -> bool:
        """Close to expiry: the middleware sends a renewed cookie."""
        return self.expires - time.time() < ANONYMOUS_SECONDS / 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Auth:
    """Login, sessions, CSRF and feed tokens for one set of `web.users`."""

    def __init__(
        self, users: Mapping[str, str], secret: bytes, *, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the desk secret must be at least 16 bytes")
        self._users = dict(users)
        self._secret = secret
        self._clock = clock

    # ------------------------------------------------------------ users

    @property
    def login_required(self) -> bool:
        """No users configured: the desk is open (it then only listens on loopback)."""
        return bool(self._users)

    @property
    def user_names(self) -> tuple[str, ...]:
        return tuple(self._users)

    def check_password(self, name: str, password: str) -> bool:
        """True when `name` is a user and `password` is theirs; constant time in both."""
        given_name = hashlib.sha256(name.encode()).digest()
        given_pw = hashlib.sha256(password.encode()).digest()
        ok = False
        for user, pw in self._users.items():
            same_name = hmac.compare_digest(hashlib.sha256(user.encode()).digest(), given_name)
            same_pw = hmac.compare_digest(hashlib.sha256(pw.encode()).digest(), given_pw)
            ok |= same_name & same_pw
        return ok

    def desk_user(self, session: Session | None) -> str | None:
        """Whose triage state a request reads and writes: the logged-in user, or the
        local desk when no login is needed; None when a login is needed and missing."""
        if not self.login_required:
            return LOCAL_USER
        if session is None or session.user is None or session.user not in self._users:
            return None
        return session.user

    # ------------------------------------------------------------ sessions

    def new_session(self, user: str | None = None) -> tuple[Session, str]:
        """A fresh session (a new nonce: logging in never keeps the old CSRF token)."""
        seconds = SESSION_SECONDS if user else ANONYMOUS_SECONDS
        session = Session(user, secrets.token_urlsafe(16), int(self._clock()) + seconds)
        return session, self._encode(session)

    def _encode(self, s: Session) -> str:
        body = {"u": s.user, "n": s.nonce, "e": s.expires}
        if s.user is not None:
            body["p"] = self._password_mark(s.user)
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign('session', payload)}"

    def read_session(self, cookie: str | None) -> Session | None:
        """The session in a cookie value, or None if it is forged, expired or stale."""
        if not cookie or "." not in cookie:
            return None
        payload, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign("session", payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            user, nonce, expires = body.get("u"), str(body["n"]), int(body["e"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if expires < self._clock():
            return None
        if user is not None and not self._current(user, str(body.get("p", ""))):
            return None  # user removed, or password changed since login
        return Session(user, nonce, expires)

    def _current(self, user: str, mark: str) -> bool:
        return user in self._users and hmac.compare_digest(mark, self._password_mark(user))

    def _password_mark(self, user: str) -> str:
        return self._sign("password", f"{user}\0{self._users[user]}")[:16]

    # ------------------------------------------------------------ tokens

    def csrf_token(self, session: Session) -> str:
        return self._sign("csrf", session.nonce)

    def check_csrf(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(session))

    def feed_token(self, path: str) -> str:
        """The secret token of one Atom feed (its path without the query string)."""
        return self._sign("feed", path)[:32]

    def check_feed_token(self, path: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.feed_token(path))

    def derive(self, purpose: str, value: str = "") -> str:
        """A keyed hash for another part of the web layer (the reader API's tokens,
        stable entry ids): distinct per `purpose`, stable while the secret is kept."""
        return self._sign(f"ext:{purpose}", value)

    def _sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._secret, f"{purpose}\0{value}".encode(), hashlib.sha256)
        return _b64(mac.digest())


def cookie_header(value: str, secure: bool) -> bytes:
    """The Set-Cookie value of a session: HttpOnly, SameSite=Lax, Secure over https."""
    parts = [f"{SESSION_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")
