"""Login tokens and POST tokens.

A login (``Auth=``) token is 32 random bytes, given to the client once and kept
only as its SHA-256 digest. A POST token (``T=``, from ``/reader/api/0/token``)
is an HMAC of the current half hour under the login token's digest, so it needs
no storage, dies with its login token, and expires: the current and previous
windows are accepted (FeedHQ's tokens live 30 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

POST_TOKEN_WINDOW_S = 1800
#: POST tokens that clients send without ever asking for one (FeedMe sends an
#: empty one, Reeder "x"; FreshRSS accepts both). The login token in the
#: Authorization header is what authenticates; it cannot be forged cross-site.
PLACEHOLDER_POST_TOKENS = frozenset({"", "x"})


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def post_token(login_hash: str, now: datetime, *, back: int = 0) -> str:
    window = int(now.timestamp()) // POST_TOKEN_WINDOW_S - back
    mac = hmac.new(login_hash.encode(), f"post-token:{window}".encode(), hashlib.sha256)
    return mac.hexdigest()[:57]  # Google's tokens were 57 characters; some clients check


def post_token_ok(login_hash: str, token: str | None, now: datetime) -> bool:
    if token is None or token in PLACEHOLDER_POST_TOKENS:
        return True
    return any(hmac.compare_digest(token, post_token(login_hash, now, back=b)) for b in (0, 1))
