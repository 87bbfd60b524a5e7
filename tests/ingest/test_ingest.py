"""Ingest core, end to end against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.cli.seedsite import article_page, load_seed, rss_feed
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, Response, gzip_bomb, validated

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def _serve(server: LoopbackServer, name: str, ctype: str) -> str:
    return server.route("/" + name, (FIXTURES / name).read_bytes(), content_type=ctype)


FORMATS = [
    ("rss20.xml", "application/rss+xml", "Council approves new budget & tax plan"),
    ("rss10.rdf", "application/rdf+xml", None),
    ("atom10.xml", "application/atom+xml", None),
    ("jsonfeed11.json", "application/feed+json", "Wahlbeteiligung steigt"),
    ("jsonfeed10.json", "application/json", None),
]


@pytest.mark.parametrize("name,ctype,title", FORMATS)
def test_each_format_ingests_and_second_poll_adds_nothing(
    http_server: LoopbackServer,
    tmp_path: Path,
    db_url: str,
    name: str,
    ctype: str,
    title: str | None,
    make_agg: AggFactory,
) -> None:
    url = _serve(http_server, name, ctype)
    cfg = write_config(tmp_path, [{"name": "f", "url": url}], database=db_url)
    with make_agg(cfg) as agg:
        [first] = agg.poll()
        assert first.error is None, first.error
        assert first.new >= 1
        items = agg.articles(limit=100)
        assert len(items) == first.new
        assert all(a.feeds == ("f",) for a in items)
        assert all(a.url is None or a.url.startswith("http") for a in items)
        if title:
            assert title in {a.title for a in items}
        http_server.routes["/" + name] = lambda req: Response(
            200, (FIXTURES / name).read_bytes() + b"\n", {"Content-Type": ctype}
        )
        [second] = agg.poll()
        assert second.error is None
        assert second.new == 0 and second.unchanged == first.new
        assert len(agg.articles(limit=100)) == first.new


def test_rss20_fields_are_stored(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    url = _serve(http_server, "rss20.xml", "application/rss+xml")
    with make_agg(write_config(tmp_path, [{"name": "city", "url": url}])) as agg:
        agg.poll()
        by_title = {a.title: a for a in agg.articles()}
        budget = agg.article(by_title["Council approves new budget & tax plan"].id)
        assert budget.url == "https://news.example.com/politics/2024/05/budget.html"
        assert budget.published == datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
        assert "7 to 2" in (budget.text or "") and "track()" not in (budget.text or "")
        assert budget.language == "en"
        bridge = by_title["Bridge closed for repairs"]
        assert bridge.url == http_server.url("/transport/bridge-closed")  # relative to the feed
        assert bridge.published == datetime(2024, 5, 13, 22, 5, tzinfo=UTC)
        assert "javascript" not in str([a.url for a in agg.articles()])


def test_conditional_get_and_304_skips_parsing(
    http_server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_agg: AggFactory,
) -> None:
    body = (FIXTURES / "rss20.xml").read_bytes()
    url = http_server.handle("/feed", validated(body, etag='"abc"'))
    from aggregator.ingest import prepare

    calls: list[str] = []
    real = prepare.parse_feed
    monkeypatch.setattr(prepare, "parse_feed", lambda *a, **k: calls.append("x") or real(*a, **k))
    with make_agg(write_config(tmp_path, [{"name": "f", "url": url}])) as agg:
        [first] = agg.poll()
        [second] = agg.poll()
    assert first.new == 3 and calls == ["x"]
    assert second.not_modified and second.new == 0
    req = http_server.requests_for("/feed")[-1]
    assert req.headers.get("if-none-match") == '"abc"'
    assert req.headers.get("if-modified-since") == "Mon, 03 Feb 2025 12:36:00 GMT"


def test_seed_article_page_is_extracted(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    seed = load_seed()
    page_url = http_server.url("/2025/02/03/nvidia.html")
    http_server.route("/2025/02/03/nvidia.html", article_page(seed, page_url))
    feed_url = http_server.route(
        "/feed.xml",
        rss_feed(seed, feed_url=http_server.url("/feed.xml"), article_url=page_url),
        content_type="application/rss+xml",
    )
    cfg = write_config(tmp_path, [{"name": "eulerpool", "url": feed_url, "extract": True}])
    with make_agg(cfg, extract_workers=1) as agg:
        [r] = agg.poll()
        assert r.error is None and r.new == 1
        a = agg.article(agg.articles()[0].id)
    assert a.extracted and a.extract_error is None
    assert a.language == "fr"
    assert a.title == seed.title
    assert a.published is not None and a.published.date() == seed.published.date()
    for paragraph in seed.paragraphs:
        assert paragraph[:60] in (a.text or "")
    assert "Nous utilisons des cookies" not in (a.text or "")


def test_same_article_in_two_feeds_is_stored_once(
    http_server: LoopbackServer, tmp_path: Path, db_url: str, make_agg: AggFactory
) -> None:
    seed = load_seed()
    page = "https://news.example.org/story.html?utm_source=rss"
    for name in ("a", "b"):
        http_server.route(
            f"/{name}.xml",
            rss_feed(
                seed,
                feed_url=http_server.url(f"/{name}.xml"),
                article_url=page + ("&fbclid=x" if name == "b" else ""),
            ),
            content_type="application/rss+xml",
        )
    cfg = write_config(
        tmp_path,
        [
            {"name": "a", "url": http_server.url("/a.xml")},
            {"name": "b", "url": http_server.url("/b.xml")},
        ],
        database=db_url,
    )
    with make_agg(cfg) as agg:
        results = agg.poll()
        agg.poll()
        items = agg.articles()
    assert sorted(r.new for r in results) == [1, 1]
    assert len(items) == 1
    assert items[0].feeds == ("a", "b")


def _good_feed(server: LoopbackServer) -> str:
    return _serve(server, "rss20.xml", "application/rss+xml")


@pytest.mark.slow
def test_each_failure_is_recorded_on_its_feed_alone(
    http_server: LoopbackServer,
    tmp_path: Path,
    db_url: str,
    make_agg: AggFactory,
    request: pytest.FixtureRequest,
) -> None:
    s = http_server
    # A 429's Retry-After holds for every feed of its origin (issue 13 #17), so the
    # throttling server is another origin: the good feed must still be polled again below.
    throttler = LoopbackServer()
    request.addfinalizer(throttler.close)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    bad = {
        "not-found": s.route("/404", b"nope", status=404),
        "server-error": s.route("/500", b"boom", status=500),
        "gone": s.route("/410", b"gone", status=410),
        "throttled": throttler.route(
            "/429", b"slow down", status=429, headers={"Retry-After": "3600"}
        ),
        "loop": s.route("/loop", b"", status=302, headers={"Location": "/loop2"}),
        "slow": s.route(
            "/slow", b"<rss>" + b" " * 50, content_type="application/rss+xml", trickle=1.0
        ),
        "bomb": s.route(
            "/bomb",
            gzip_bomb(50),
            content_type="application/rss+xml",
            headers={"Content-Encoding": "gzip"},
        ),
        "xml-bomb": _serve(s, "billion_laughs.xml", "application/rss+xml"),
        "xxe": s.route("/xxe", _xxe_feed(secret), content_type="application/rss+xml"),
        "empty": s.route("/empty", b"", content_type="application/rss+xml"),
        "random": s.route(
            "/random", random.Random(1).randbytes(4096), content_type="application/rss+xml"
        ),
    }
    s.route("/loop2", b"", status=302, headers={"Location": "/loop"})
    feeds = [{"name": "good", "url": _good_feed(s)}] + [
        {"name": n, "url": u} for n, u in bad.items()
    ]
    cfg = write_config(
        tmp_path, feeds, database=db_url, network={"timeout": "3s", "max_bytes": 1_000_000}
    )
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with make_agg(cfg, clock=lambda: now) as agg:
        results = {r.feed: r for r in agg.poll()}
        assert results["good"].error is None and results["good"].new == 3
        for name in bad:
            assert results[name].error, f"{name} should record an error"
        assert results["gone"].disabled
        assert "timed out" in (results["slow"].error or "")
        assert results["bomb"].error_kind == "too_large"
        assert results["loop"].error_kind == "redirects"
        states = {f.name: f for f in agg.feeds()}
        assert states["throttled"].next_due_at is not None
        assert states["throttled"].next_due_at >= now + timedelta(seconds=3600)
        assert not states["gone"].enabled and states["gone"].disabled_reason
        assert states["not-found"].last_error and "404" in states["not-found"].last_error
        # nothing stored is lost when a feed that worked starts failing
        s.route("/rss20.xml", b"", status=500)
        again = {r.feed: r for r in agg.poll()}
        assert again["good"].error and len(agg.articles()) == 3
        assert again["gone"].disabled and again["gone"].error_kind == "disabled"
        assert again["throttled"].skipped_until == states["throttled"].next_due_at
    assert "TOP-SECRET-VALUE" not in _dump_db(tmp_path, db_url)


def _xxe_feed(secret: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
        "<link>https://x.example/1</link><description>&xxe;</description></item>"
        "</channel></rss>"
    ).encode()


def _dump_db(tmp_path: Path, db_url: str) -> str:
    if not db_url.startswith("sqlite"):
        return ""
    return (tmp_path / "test.db").read_bytes().decode("latin-1")


def test_invalid_utf8_is_recovered_with_a_warning(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    url = _serve(http_server, "rss20_invalid_utf8.xml", "application/rss+xml")
    with make_agg(write_config(tmp_path, [{"name": "f", "url": url}])) as agg:
        [r] = agg.poll()
    assert r.error or r.warnings
    if not r.error:
        assert r.new >= 1


def test_item_linking_to_private_address_is_not_fetched(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    seed = load_seed()
    private = f"http://127.0.0.2:{http_server.port}/internal"
    feed = http_server.route(
        "/feed.xml",
        rss_feed(seed, feed_url=http_server.url("/feed.xml"), article_url=private),
        content_type="application/rss+xml",
    )
    cfg = write_config(tmp_path, [{"name": "f", "url": feed, "extract": True}])
    with make_agg(cfg) as agg:
        [r] = agg.poll()
        a = agg.article(agg.articles()[0].id)
    assert r.error is None and r.new == 1
    assert not a.extracted and a.extract_error and "127.0.0.2" in a.extract_error
    assert http_server.requests_for("/internal") == []
    assert seed.standfirst[:40] in (a.text or "")


def test_poll_with_unknown_name_is_a_usage_error(tmp_path: Path, make_agg: AggFactory) -> None:
    from aggregator import NotFoundError

    with (
        make_agg(write_config(tmp_path, [])) as agg,
        pytest.raises(NotFoundError),
    ):
        agg.poll(["nope"])


def test_relative_sqlite_path_resolves_against_config_folder(
    tmp_path: Path, make_agg: AggFactory
) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    with make_agg(write_config(sub, [], database="sqlite:///data/agg.db")):
        pass
    assert (sub / "data" / "agg.db").exists()


def test_worker_pool_serves_successive_polls(
    http_server: LoopbackServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    """Each `poll()` runs its own event loop; the warm worker processes outlive them."""
    url = _serve(http_server, "rss20.xml", "application/rss+xml")
    with make_agg(write_config(tmp_path, [{"name": "f", "url": url}]), extract_workers=1) as agg:
        [first] = agg.poll()
        pids = agg.extractor.worker_pids()
        body = (FIXTURES / "rss20.xml").read_bytes().replace(b"Bridge closed", b"Bridge shut")
        http_server.route("/rss20.xml", body, content_type="application/rss+xml")
        [second] = agg.poll()
        assert agg.extractor.worker_pids() == pids and pids
    assert first.error is None and first.new == 3
    assert second.error is None and second.updated == 1
