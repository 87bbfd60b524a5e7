"""Re-checks match through the same matchers as ingest: cross-lingual included.

An edit that brings the export-controls story into a French article must be
caught by an English-only topic, as the article would have been on its first
poll (issue 18): the re-check path used to run the literal queries only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from aggregator.cli.seedsite import SeedArticle, load_seed
from tests.monitor.test_monitor import Site, _agg
from tests.support.clock import Clock
from tests.support.httpserver import LoopbackServer

ENGLISH_TOPIC = {
    "name": "export-controls",
    "query": '"export control*" AND (chip* OR semiconductor*)',
    "description": "US export controls on AI chips and semiconductors",
}


def test_an_edit_that_brings_the_story_in_is_matched_cross_lingually(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # the standfirst (the feed's description) is kept off the topic too
    seed: SeedArticle = replace(
        load_seed(), standfirst="Le patron de Nvidia a rencontré Donald Trump vendredi."
    )
    site, clock = Site(http_server, seed), Clock()
    plain = [p for p in seed.paragraphs if "export" not in p.lower()]
    site.publish(seed.title, plain)
    with _agg(tmp_path, http_server, clock, topics=[ENGLISH_TOPIC]) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        assert agg.article(aid).language == "fr"
        assert agg.article(aid).matches == ()
        clock.now += timedelta(minutes=20)
        site.publish(seed.title, list(seed.paragraphs))
        [result] = agg.recheck([aid])
        assert result.outcome == "edit"
        [match] = agg.article(aid).matches
    assert match.topic == "export-controls"
    assert match.method in ("expanded", "semantic") and match.score is not None
    texts = [s["text"] for s in (match.explanation or {})["sentences"]]
    assert any("restrictions à l'exportation de puces IA" in t for t in texts), texts
