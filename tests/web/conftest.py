"""The desk under test: a loopback news site polled by a real Aggregator, served by
the real web app on uvicorn, and (for the browser tests) Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aggregator import make_aggregator
from aggregator.cli.seedsite import SeedArticle, article_page, load_seed, rss_feed
from aggregator.core import Aggregator
from aggregator.web.serve import WebServer
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.support.receiver import WebhookReceiver

T = TypeVar("T")
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPIC = {
    "name": "export-controls",
    "query": '(contrôle* NEAR/3 export* OR "export control*") AND (puce* OR Nvidia OR chip*)',
}
STORY = "/2025/02/03/nvidia.html"
#: The paragraph an edit inserts (the diff test looks for it).
INSERTED = (
    "Le Congrès examine désormais un texte qui durcirait encore les règles applicables "
    "aux ventes de processeurs graphiques vers la Chine, selon plusieurs sources proches "
    "du dossier consultées par la rédaction."
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("AGGREGATOR_TEST_ARTIFACTS", "/tmp/aggregator-test-artifacts"))


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in another thread: Playwright's sync API keeps an event loop running in
    this one, and the Aggregator's poll/deliver/recheck start their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@dataclass
class Desk:
    """A polled site, its Aggregator and the desk serving it."""

    agg: Aggregator
    web: WebServer
    site: LoopbackServer
    seed: SeedArticle
    clock: Clock
    receiver: WebhookReceiver
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.web.url

    def story_id(self) -> int:
        return next(a.id for a in self.agg.articles(limit=50) if a.title == self.seed.title)

    def publish(self, title: str, paragraphs: list[str]) -> None:
        page = self.site.url(STORY)
        self.site.route(STORY, article_page(self.seed, page, title=title, paragraphs=paragraphs))

    def edit_story(self) -> int:
        """Insert a paragraph in the story and re-check it: version 2."""
        paras = list(self.seed.paragraphs)
        self.publish(self.seed.title, paras[:2] + [INSERTED] + paras[2:])
        self.clock.now += timedelta(hours=1)
        aid = self.story_id()
        off_loop(self.agg.recheck, [aid])
        return aid

    def deliver(self) -> Any:
        import asyncio

        async def go() -> Any:
            async with self.agg.running() as st:
                return await self.agg.deliver_due(st, worker="test")

        return off_loop(asyncio.run, go())


def site(server: LoopbackServer, seed: SeedArticle) -> None:
    page = server.url(STORY)
    server.route(STORY, article_page(seed, page))
    server.route(
        "/feed.xml",
        rss_feed(seed, feed_url=server.url("/feed.xml"), article_url=page),
        content_type="application/rss+xml",
    )
    server.route("/broken.xml", "<h1>Internal error</h1>", status=500)


def make_desk(
    tmp_path: Path,
    server: LoopbackServer,
    *,
    database: str | None = None,
    web: dict[str, Any] | None = None,
    poll: bool = True,
    channels: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> Desk:
    seed = load_seed()
    site(server, seed)
    receiver = WebhookReceiver(server)
    feeds = [
        {
            "name": "eulerpool",
            "url": server.url("/feed.xml"),
            "extract": True,
            "tags": ["business"],
        },
        {"name": "broken-wire", "url": server.url("/broken.xml")},
    ]
    alerts = [{"name": "desk-hook", "kind": "webhook", "url": receiver.url, "group_window": "0s"}]
    alerts += list(channels)
    extra: dict[str, Any] = {"web": web} if web else {}
    cfg = write_config(tmp_path, feeds, topics=[TOPIC], alerts=alerts, database=database, **extra)
    clock = Clock()
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    if poll:
        off_loop(agg.poll)
    server_ = WebServer(agg, "127.0.0.1", 0).start()
    return Desk(agg, server_, server, seed, clock, receiver)


@pytest.fixture
def desk(tmp_path: Path, http_server: LoopbackServer) -> Iterator[Desk]:
    d = make_desk(tmp_path, http_server)
    try:
        yield d
    finally:
        d.web.close()
        d.agg.close()


# ---------------------------------------------------------------- the browser


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download is possible here).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread
    while it is open, and later modules' tests call asyncio.run()."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is required on CI (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    if not chromium_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required on CI: apt-get install -y chromium ({CHROMIUM})")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot is saved when the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.console_errors = errors
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"{request.node.name}.png"
            try:
                pg.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failure: {shot}")
            except Exception as e:  # noqa: BLE001 - the test already failed; say why no shot
                print(f"no screenshot: {e}")
        context.close()
