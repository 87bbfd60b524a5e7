"""A desk over the seed site: the French seed story, matched by a topic, plus a
second story that matches nothing; the reader API mounted at /api/greader."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from aggregator import make_aggregator
from aggregator.cli.seedsite import SeedArticle, article_page, load_seed, rss_feed
from aggregator.storage.reader_api import TRIAGE, ReaderApiStore
from aggregator.web.greader import routes
from tests.support.config import write_config
from tests.support.greader import API
from tests.support.httpserver import LoopbackServer

EXPORT_TOPIC = {
    "name": "export-controls",
    "query": (
        '("export control*" OR "export restriction*" OR contrôle* NEAR/3 export* '
        "OR restriction* NEAR/3 export*) AND (chip* OR puce* OR semi-conducteur* "
        "OR Nvidia OR IA)"
    ),
}
BASE_URL = "https://desk.example.org"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 2, 3, 13, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _Ctx:
    def __init__(self, agg: Any) -> None:
        self.agg = agg
        self.base_url = BASE_URL

    def check_password(self, user: str, password: str) -> bool:
        return user == "desk" and hmac.compare_digest(password.encode(), b"s3cret")

    def usernames(self) -> set[str]:
        return {"desk"}


@dataclass
class SeedDesk:
    agg: Any
    app: Any
    server: LoopbackServer
    seed: SeedArticle
    page_url: str
    clock: Clock
    seed_id: int

    def publish(self, title: str, paragraphs: list[str]) -> None:
        self.server.route(
            "/2025/02/03/nvidia.html",
            article_page(self.seed, self.page_url, title=title, paragraphs=paragraphs),
        )

    def mark_read(self, article_id: int, read: bool = True) -> None:
        """What the web desk's "mark read" does."""
        self.agg.reader_api.set_state("desk", [article_id], self.clock(), read=read)


@pytest.fixture
def seed_desk(http_server: LoopbackServer, tmp_path: Path) -> Iterator[SeedDesk]:
    seed = load_seed()
    page = http_server.url("/2025/02/03/nvidia.html")
    http_server.route("/2025/02/03/nvidia.html", article_page(seed, page))
    http_server.route(
        "/feed.xml",
        rss_feed(
            seed,
            feed_url=http_server.url("/feed.xml"),
            article_url=page,
            extra_items=[("Météo du week-end", http_server.url("/meteo.html"), "Du soleil.")],
        ),
        content_type="application/rss+xml",
    )
    cfg = write_config(
        tmp_path,
        [
            {
                "name": "eulerpool",
                "url": http_server.url("/feed.xml"),
                "extract": True,
                "tags": ["business"],
            }
        ],
        topics=[EXPORT_TOPIC],
    )
    clock = Clock()
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    try:
        TRIAGE.create(agg.store.engine, checkfirst=True)
        agg.reader_api = ReaderApiStore(agg.store.engine)
        [result] = agg.poll()
        assert result.error is None and result.new == 2 and result.matches == 1
        [seed_article] = agg.articles(topic="export-controls")
        app = Starlette(routes=[Mount(API, routes=routes(_Ctx(agg)))])
        yield SeedDesk(agg, app, http_server, seed, page, clock, seed_article.id)
    finally:
        agg.close()
