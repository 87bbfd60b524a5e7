"""A desk over the seed site: the French seed story, matched by a topic, plus a
second story that matches nothing; the reader API mounted at /api/greader."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator import make_aggregator
from aggregator.cli.seedsite import SeedArticle, article_page, load_seed, rss_feed
from aggregator.web.app import create_app
from tests.support.clock import Clock
from tests.support.config import write_config
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
        """What the web desk's "mark read" button does."""
        self.agg.set_read("desk", [article_id], read)


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
        web={"users": [{"name": "desk", "password": "s3cret"}], "base_url": BASE_URL},
    )
    clock = Clock(datetime(2025, 2, 3, 13, 0, tzinfo=UTC))
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    try:
        [result] = agg.poll()
        assert result.error is None and result.new == 2 and result.matches == 1
        [seed_article] = agg.articles(topic="export-controls")
        app = create_app(agg)
        yield SeedDesk(agg, app, http_server, seed, page, clock, seed_article.id)
    finally:
        agg.close()
