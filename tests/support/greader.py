"""Reader API test helpers: a feed of N dated stories, a logged-in client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

from starlette.testclient import TestClient

API = "/api/greader"
Z = API + "/reader/api/0"


def rss(
    items: Sequence[tuple[str, str, str]],
    *,
    title: str = "Loopback news",
    start: datetime | None = None,
) -> str:
    """RSS 2.0 of (guid, title, description) items, newest first, an hour apart."""
    when = start or datetime(2025, 2, 3, 12, 0, tzinfo=UTC)
    parts = []
    for i, (guid, head, desc) in enumerate(items):
        stamp = format_datetime(when - timedelta(hours=i), usegmt=True)
        parts.append(
            f"<item><title>{escape(head)}</title><link>{escape(guid)}</link>"
            f'<guid isPermaLink="true">{escape(guid)}</guid><pubDate>{stamp}</pubDate>'
            f"<description>{escape(desc)}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example.org/</link>"
        f"<description>x</description>{''.join(parts)}</channel></rss>"
    )


def login(client: TestClient, user: str = "desk", password: str = "s3cret") -> str:
    r = client.post(
        API + "/accounts/ClientLogin",
        data={
            "Email": user,
            "Passwd": password,
            "service": "reader",
            "accountType": "HOSTED_OR_GOOGLE",
        },
    )
    assert r.status_code == 200, r.text
    lines = dict(line.split("=", 1) for line in r.text.strip().splitlines())
    return lines["Auth"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"GoogleLogin auth={token}"}


def get_json(client: TestClient, token: str, path: str, **params: Any) -> Any:
    r = client.get(Z + path, params=params, headers=auth(token))
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


class ServedApp:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread (for real clients)."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        import time

        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self._sock.close()
