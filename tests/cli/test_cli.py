"""The CLI from outside: real subprocess-free calls of `main(argv)`, real files, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.cli.seedsite import article_page, load_seed, rss_feed
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"

COMMENTED = """\
# Desk config — keep this comment
database: sqlite:///agg.db
network:
  allow_private: [127.0.0.1/32]   # test site
defaults:
  interval: 15m
  extract: false
feeds:
  # the first feed
  - name: first
    url: {url}
    tags: [en]   # inline comment
topics: []
alerts: []
"""


def run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args])


@pytest.fixture
def site(http_server: LoopbackServer) -> LoopbackServer:
    http_server.route(
        "/rss.xml", (FIXTURES / "rss20.xml").read_bytes(), content_type="application/rss+xml"
    )
    http_server.route(
        "/atom.xml", (FIXTURES / "atom10.xml").read_bytes(), content_type="application/atom+xml"
    )
    http_server.route(
        "/",
        "<html><head><title>Home</title>"
        '<link rel="alternate" type="application/atom+xml" title="News" '
        'href="/atom.xml"></head><body>hi</body></html>',
    )
    return http_server


def test_feeds_add_discovers_from_html_and_keeps_comments(
    site: LoopbackServer, tmp_path: Path
) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(COMMENTED.format(url=site.url("/rss.xml")))
    assert (
        run(
            cfg,
            "feeds",
            "add",
            site.url("/"),
            "--name",
            "second",
            "--interval",
            "10m",
            "--tag",
            "de",
            "--no-extract",
        )
        == 0
    )
    text = cfg.read_text()
    assert "# Desk config — keep this comment" in text and "# inline comment" in text
    assert "# the first feed" in text and "# test site" in text
    assert site.url("/atom.xml") in text and "name: second" in text
    assert text.index("name: first") < text.index("name: second")
    from aggregator import load_config

    second = load_config(cfg).feed("second")
    assert second is not None and second.extract is False and second.tags == ["de"]


def test_feeds_add_rejects_a_page_without_feed(
    site: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.route("/plain", "<html><body>no feed here</body></html>")
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(COMMENTED.format(url=site.url("/rss.xml")))
    before = cfg.read_text()
    assert run(cfg, "feeds", "add", site.url("/plain")) == 1
    err = capsys.readouterr().err
    assert "announces no feed" in err and "hint:" in err and "Traceback" not in err
    assert cfg.read_text() == before


def test_remove_enable_disable_in_place(site: LoopbackServer, tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(COMMENTED.format(url=site.url("/rss.xml")))
    assert run(cfg, "feeds", "disable", "first") == 0
    assert "enabled: false" in cfg.read_text() and "# inline comment" in cfg.read_text()
    assert run(cfg, "feeds", "enable", "first") == 0
    assert "enabled: false" not in cfg.read_text()
    assert run(cfg, "feeds", "remove", "first") == 0
    assert "name: first" not in cfg.read_text() and "# Desk config" in cfg.read_text()
    assert run(cfg, "feeds", "remove", "first") == 2


def test_opml_import_then_export_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, [])
    opml = tmp_path / "in.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head>
<body><outline text="World"><outline type="rss" text="BBC World" title="BBC World"
 xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://bbc.co.uk"/>
<outline type="rss" text="Le Monde" xmlUrl="https://www.lemonde.fr/rss/une.xml"/></outline>
<outline type="rss" text="Heise" xmlUrl="https://www.heise.de/rss/heise-atom.xml"/>
</body></opml>""")
    assert run(cfg, "feeds", "import", str(opml)) == 0
    assert run(cfg, "feeds", "import", str(opml)) == 0  # idempotent: skips known URLs
    capsys.readouterr()
    assert run(cfg, "feeds", "export", "--format", "opml") == 0
    exported = capsys.readouterr().out
    from aggregator.parse.opml import parse_opml

    again = parse_opml(exported.encode())
    original = parse_opml(opml.read_bytes())
    assert sorted(f.url for f in again) == sorted(f.url for f in original)
    assert {f.url: f.title for f in again} == {f.url: f.title for f in original}
    assert {f.url: f.tags for f in again}["https://www.lemonde.fr/rss/une.xml"] == ("world",)
    assert run(cfg, "feeds", "export", "--format", "yaml") == 0
    assert "https://www.heise.de/rss/heise-atom.xml" in capsys.readouterr().out


def test_invalid_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("feeds:\n  - name: a\n    url: https://x.org/f\n    interval: soon\n")
    assert run(cfg, "feeds", "list") == 2
    err = capsys.readouterr().err
    assert "feeds[0].interval" in err and f"{cfg}:4" in err and "Traceback" not in err


def test_poll_list_show_json(
    site: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(
        tmp_path,
        [
            {"name": "rss", "url": site.url("/rss.xml")},
            {"name": "broken", "url": site.url("/missing")},
        ],
    )
    assert run(cfg, "poll") == 0
    out = capsys.readouterr().out
    assert "rss" in out and "3 new" in out and "broken" in out and "404" in out
    assert run(cfg, "items", "list", "--json", "--feed", "rss") == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 3
    assert {"id", "url", "title", "feeds", "published", "language", "extracted", "versions"} <= set(
        items[0]
    )
    assert run(cfg, "items", "show", str(items[0]["id"]), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["text"] and shown["feeds"] == ["rss"] and shown["versions"] == 1
    assert run(cfg, "items", "list", "--since", "1h", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert run(cfg, "items", "show", "99999") == 2
    assert run(cfg, "feeds", "list", "--json") == 0
    feeds = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert feeds["rss"]["articles"] == 3 and "404" in feeds["broken"]["last_error"]


def test_feeds_test_prints_without_storing(
    site: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, [])
    assert run(cfg, "feeds", "test", site.url("/rss.xml"), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "rss20" and len(report["entries"]) == 3
    assert not (tmp_path / "test.db").exists()  # nothing stored: not even a database
    assert run(cfg, "items", "list", "--json") == 1  # read-only: says the database is new
    assert "does not exist yet" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_offline(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aggregator", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "*"},
    )
    assert proc.returncode == 0, proc.stderr
    seed = load_seed()
    assert seed.title in proc.stdout
    assert "language: fr" in proc.stdout
    assert "contrôles à l'exportation" in proc.stdout or "exportation" in proc.stdout
    assert (tmp_path / "demo.db").exists()


def test_seed_site_serves_feed_and_page() -> None:
    seed = load_seed()
    page = article_page(seed, "http://x.test/a.html")
    feed = rss_feed(seed, feed_url="http://x.test/f.xml", article_url="http://x.test/a.html")
    assert seed.paragraphs[0][:50] in page and "http://x.test/a.html" in feed


def test_topics_test_and_search_on_the_demo_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli.demo import run_demo

    assert run_demo(tmp_path, lambda s: None) == 0
    cfg = tmp_path / "feeds.yaml"
    assert run(cfg, "topics", "test", "export-controls", "--stored", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hits"] == 1
    assert any("contrôles à l'exportation" in s for s in report["documents"][0]["snippets"])
    assert run(cfg, "search", "contrôle* NEAR/3 export*", "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found) == 1 and found[0]["language"] == "fr"
    assert run(cfg, "search", '"remote control"', "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run(cfg, "items", "list", "--topic", "export-controls", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert (
        run(
            cfg,
            "topics",
            "test",
            "export-controls",
            "--text",
            "Les exportations de vin vers la Chine ont reculé, malgré les restrictions "
            "sanitaires levées en janvier.",
        )
        == 1
    )
    assert run(cfg, "topics", "test", "--query", "(chips AND", "--text", "x") == 2
    assert "column" in capsys.readouterr().err
    assert run(cfg, "alerts", "list", "--json") == 0
    alerts = json.loads(capsys.readouterr().out)
    assert [a["status"] for a in alerts] == ["pending"] and alerts[0]["topic"] == "export-controls"
    assert list(tmp_path.glob("*.eml"))


def test_versions_diff_changes_and_recheck_commands(
    http_server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = load_seed()
    page = http_server.url("/a.html")
    http_server.route("/a.html", article_page(seed, page))
    http_server.route(
        "/f.xml",
        rss_feed(seed, feed_url=http_server.url("/f.xml"), article_url=page),
        content_type="application/rss+xml",
    )
    cfg = write_config(tmp_path, [{"name": "f", "url": http_server.url("/f.xml"), "extract": True}])
    assert run(cfg, "poll") == 0
    http_server.route(
        "/a.html", article_page(seed, page, title="Nvidia : Washington durcit le ton")
    )
    assert run(cfg, "recheck", "1") == 0
    assert "v2 (headline)" in capsys.readouterr().out
    assert run(cfg, "items", "versions", "1", "--json") == 0
    versions = json.loads(capsys.readouterr().out)
    assert [v["number"] for v in versions] == [1, 2]
    assert versions[1]["change"]["headline_changed"] is True
    assert run(cfg, "items", "diff", "1", "--format", "json") == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["from"] == 1 and diff["to"] == 2
    assert run(cfg, "items", "diff", "1", "--format", "html") == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and "durcit" in html and "<ins" in html
    assert run(cfg, "items", "diff", "1") == 0
    assert "headline:" in capsys.readouterr().out
    assert run(cfg, "changes", "list", "--json") == 0
    [change] = json.loads(capsys.readouterr().out)
    assert change["kind"] == "headline" and change["to_version"] == 2
    assert run(cfg, "items", "diff", "1", "--from", "1", "--to", "9") == 2
    assert run(cfg, "recheck") == 2
