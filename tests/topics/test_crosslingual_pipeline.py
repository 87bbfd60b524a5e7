"""Cross-lingual topics end to end: config keys, a real poll, storage, alerts, CLI.

An English-only topic (the bundled one) against the French seed served by a
loopback feed; the French vocabulary is wordfreq's list, its vectors computed
once and cached under $AGGREGATOR_CACHE_DIR (or ~/.cache/aggregator).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from aggregator.alerts.plan import decode_event
from aggregator.alerts.webhook import event_data
from aggregator.cli.main import main
from aggregator.config.models import load_config
from aggregator.core import make_aggregator
from aggregator.exceptions import ConfigError
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

QUERY = '"export control*" AND (chip* OR semiconductor*)'
DESCRIPTION = "US export controls on AI chips and semiconductors"
ENGLISH = (
    "Washington tightens export controls on AI chips",
    "The US widened export controls on advanced chips and semiconductor tools on Monday.",
)


def _rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>http://127.0.0.1/{i}</link>"
        f"<guid>item-{i}</guid><description>{escape(d)}</description></item>"
        for i, (t, d) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>t</title><link>http://127.0.0.1/</link><description>d</description>{body}"
        "</channel></rss>"
    ).encode()


def _seed_item(seed_text: str) -> tuple[str, str]:
    paragraphs = [p for p in seed_text.split("\n\n") if p.strip()]
    return paragraphs[1], "\n\n".join(paragraphs[2:])


def _config(tmp: Path, url: str, **topic: object) -> Path:
    return write_config(
        tmp,
        [{"name": "desk", "url": url}],
        topics=[{"name": "export-controls", "query": QUERY, "description": DESCRIPTION, **topic}],
        alerts=[{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}],
    )


@pytest.fixture
def feed(http_server: LoopbackServer, seed_text: str) -> str:
    http_server.route(
        "/feed.xml",
        _rss([_seed_item(seed_text), ENGLISH]),
        content_type="application/rss+xml",
    )
    return http_server.url("/feed.xml")


def test_config_keys(tmp_path: Path) -> None:
    path = _config(tmp_path, "http://127.0.0.1/f.xml")
    topic = load_config(path).topics[0]
    assert topic.cross_lingual is True and topic.threshold == "auto"
    assert topic.descriptions() == (DESCRIPTION,)
    path = _config(tmp_path, "http://127.0.0.1/f.xml", description=["One.", "Two."], threshold=0.42)
    topic = load_config(path).topics[0]
    assert topic.descriptions() == ("One.", "Two.") and topic.threshold == 0.42
    path = _config(tmp_path, "http://127.0.0.1/f.xml", threshold=3)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "threshold" in str(e.value)


def test_poll_catches_the_french_story_and_stores_the_explanation(
    tmp_path: Path, feed: str
) -> None:
    with make_aggregator(_config(tmp_path, feed), extract_workers=0) as agg:
        assert len(agg.crosslingual) == 1
        [result] = agg.poll()
        assert result.error is None and result.new == 2
        found = {a.language: a for a in agg.articles(topic="export-controls")}
        assert set(found) == {"fr", "en"}
        [fr] = agg.article(found["fr"].id).matches
        [en] = agg.article(found["en"].id).matches
        assert en.method == "literal" and en.score is None
        assert fr.method in ("expanded", "semantic") and fr.score is not None
        how = fr.explanation or {}
        assert how["score"] >= how["threshold"]
        texts = [s["text"] for s in how["sentences"]]
        assert any("restrictions à l'exportation de puces IA" in t for t in texts), texts
        assert any(t.startswith("fr:") for t in how["expanded_terms"])
        # the alert carries the best sentence as its snippet, matched words highlighted
        rows = [decode_event(r) for r in agg.store.outbox_payloads(status="pending")]
        by_language = {e.article.language: e for e in rows if e.article}
        data = event_data(by_language["fr"])
        [m] = data["matches"]
        assert m["method"] == fr.method and m["score"] == fr.score
        assert m["snippet"] == texts[0]
        article = by_language["fr"].article
        assert article is not None and article.snippets[0].highlights
        snippet = article.snippets[0]
        marked = [snippet.text[a:b] for a, b in snippet.highlights]
        assert any(w.casefold().startswith("export") for w in marked)
        assert event_data(by_language["en"])["matches"][0]["method"] == "literal"


def test_cross_lingual_false_matches_exactly_as_the_literal_query(
    tmp_path: Path, feed: str
) -> None:
    on, off = tmp_path / "on", tmp_path / "off"
    on.mkdir()
    off.mkdir()
    with make_aggregator(_config(off, feed, cross_lingual=False), extract_workers=0) as agg:
        assert len(agg.crosslingual) == 0
        agg.poll()
        plain = [agg.article(a.id) for a in agg.articles(topic="export-controls")]
    assert [a.language for a in plain] == ["en"]  # the French story is not caught
    with make_aggregator(_config(on, feed), extract_workers=0) as agg:
        agg.poll()
        both = [agg.article(a.id) for a in agg.articles(topic="export-controls")]
    [en] = [a for a in both if a.language == "en"]
    # the English story's match is the same literal match either way
    assert [(m.terms, m.snippets, m.method) for m in en.matches] == [
        (m.terms, m.snippets, m.method) for m in plain[0].matches
    ]


def test_topics_test_with_and_without_cross_lingual(
    tmp_path: Path, seed_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, "http://127.0.0.1/f.xml")
    _, body = _seed_item(seed_text)
    args = ["--config", str(cfg), "topics", "test", "export-controls", "--text", body]
    assert main([*args, "--language", "fr"]) == 0
    shown = capsys.readouterr().out
    assert "method: expanded" in shown or "method: semantic" in shown
    assert "expanded terms that hit: fr:" in shown
    assert "restrictions à l'[exportation] de puces IA" in shown
    assert main([*args, "--language", "fr", "--no-cross-lingual"]) == 1
    assert "MISS" in capsys.readouterr().out


def test_topics_expand_lists_and_writes_keeping_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, "http://127.0.0.1/f.xml")
    cfg.write_text("# the desk's own comment\n" + cfg.read_text(encoding="utf-8"), "utf-8")
    base = ["--config", str(cfg), "topics"]
    assert main([*base, "expand", "export-controls", "--language", "fr", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    words = {w["word"]: w["terms"] for w in table["fr"]}
    # each word of the query, and the phrase as a whole (its own probe)
    assert set(words) == {"export", "control*", "chip*", "semiconductor*", "export control*"}
    assert any(t["pattern"] == "export*" for t in words["export"])
    assert main([*base, "expand", "export-controls", "--language", "fr", "--write"]) == 0
    text = cfg.read_text(encoding="utf-8")
    assert text.startswith("# the desk's own comment")
    query = load_config(cfg).topics[0].query
    assert query.startswith(f"({QUERY}) OR ") and "export*" in query
    assert main([*base, "list"]) == 0
    assert "expansion + semantic: ar de es fr" in capsys.readouterr().out
