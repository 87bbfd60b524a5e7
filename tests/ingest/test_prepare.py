"""Per-entry values computed in the workers do not depend on which parser ran."""

from __future__ import annotations

import pytest

from aggregator.ingest import identity
from aggregator.ingest.prepare import prepare_feed
from aggregator.parse import feeds as parse

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Desk</title><link>https://news.example/</link>
<item><title>Export controls tightened</title><link>https://news.example/a?utm_source=x</link>
<guid>a-1</guid>
<description>&lt;p class="lead"&gt;Washington &amp;amp; Beijing &lt;b&gt;clash&lt;/b&gt;
&lt;a href="/more" onclick="x()"&gt;again&lt;/a&gt;.&lt;/p&gt;&lt;p&gt;Second paragraph of the
story about chips, with enough words to identify its language reliably.&lt;/p&gt;</description>
</item>
<item><title>Sans lien</title><guid isPermaLink="false">b-2</guid>
<description>Un texte brut sans balises, assez long pour que la langue soit reconnue
sans hésitation par le modèle.</description></item>
</channel></rss>""".encode()


@pytest.fixture(params=[True, False], ids=["fast-path", "feedparser"])
def parser_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(parse, "FAST_PATH", request.param)
    return bool(request.param)


def test_prepared_values(parser_path: bool) -> None:
    feed = prepare_feed(RSS, "https://news.example/feed")
    first, second = feed.prepared
    assert first.text.startswith("Washington & Beijing clash again.\n\nSecond paragraph")
    assert first.summary_text == first.text
    assert first.article_key == "url:https://news.example/a"
    assert first.content_hash == identity.text_hash(first.text)
    assert (first.language, second.language) == ("en", "fr")
    assert second.article_key.startswith("url:") is False


def test_both_parsers_give_the_same_fingerprints_and_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "FAST_PATH", True)
    fast = prepare_feed(RSS, "https://news.example/feed")
    monkeypatch.setattr(parse, "FAST_PATH", False)
    slow = prepare_feed(RSS, "https://news.example/feed")
    assert [p.fingerprint for p in fast.prepared] == [p.fingerprint for p in slow.prepared]
    assert [p.article_key for p in fast.prepared] == [p.article_key for p in slow.prepared]
    for a, b, pa, pb in zip(fast.parsed.entries, slow.parsed.entries, fast.prepared, slow.prepared):
        assert identity.entry_key(a, "hash", pa.text) == identity.entry_key(b, "hash", pb.text)


def test_fingerprint_and_hash_are_the_identity_functions_of_the_text() -> None:
    """The worker's shortcut (normalising the text once) changes no value."""
    feed = prepare_feed(RSS, "https://news.example/feed")
    for e, p in zip(feed.parsed.entries, feed.prepared):
        content = p.text if e.content else None
        assert p.fingerprint == identity.entry_fingerprint(e.title, p.summary_text, content)
        assert p.content_hash == identity.text_hash(p.text)
