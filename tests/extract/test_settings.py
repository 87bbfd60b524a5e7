"""The extraction settings chosen in issue 17.3, and that they keep the stored metadata."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import lxml.html
import pytest

from aggregator.cli.seedsite import article_page, load_seed
from aggregator.extract.article import (
    PREVIOUS_SETTINGS,
    SETTINGS,
    TRAFILATURA_OPTIONS,
    ExtractSettings,
    _strip_inert,
    extract_article,
)

URL = "https://news.example.com/politique/trump-nvidia-huang"
SEED = load_seed()
PARAGRAPH = (
    "Die Bundesregierung hat am Mittwoch neue Regeln für die Ausfuhr von Halbleitern "
    "beschlossen, nachdem mehrere Unternehmen vor wachsenden Risiken gewarnt hatten. "
)
#: a blog post whose only date is in its prose (htmldate's extensive search finds it)
PROSE_DATED = (
    "<html><head><title>Die lange Reise</title></head><body><main><article>"
    "<h1>Die lange Reise</h1><p>Veröffentlicht am 25. September 2018 von Anna Muster</p>"
    + "".join(f"<p>{PARAGRAPH * 2}</p>" for _ in range(4))
    + "</article></main></body></html>"
)
#: metadata only in JSON-LD, beside scripts and comments that say other things
JSON_LD = (
    '<html><head><title>Titel</title><script type="application/ld+json">'
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Schlagzeile",'
    ' "author": {"@type": "Person", "name": "Erika Mustermann"},'
    ' "datePublished": "2024-03-12T10:30:00+01:00"}</script>'
    "<script>var headline = 'not the headline';</script><style>p {color: red}</style>"
    "</head><body><!-- Autor: Max Falsch --><article>"
    + "".join(f"<p>{PARAGRAPH * 2}</p>" for _ in range(4))
    + "<noscript>Bitte JavaScript einschalten</noscript><svg><text>Logo</text></svg>"
    "</article></body></html>"
)


def test_shipped_settings_are_the_measured_ones() -> None:
    """benchmarks/bench_extract.py chose these on the tune half; change them only with it."""
    assert (
        ExtractSettings(
            trafilatura={"include_comments": False, "fast": True, "favor_recall": True},
            extensive_date_search=True,
            own_metadata=True,
            strip_inert=True,
        )
        == SETTINGS
    )
    assert SETTINGS.trafilatura == TRAFILATURA_OPTIONS
    assert (
        ExtractSettings(
            trafilatura={"include_comments": False, "favor_precision": True},
            extensive_date_search=True,
            own_metadata=False,
            strip_inert=False,
        )
        == PREVIOUS_SETTINGS
    )


@pytest.mark.parametrize(
    "page",
    [article_page(SEED, URL), PROSE_DATED, JSON_LD],
    ids=["seed", "prose-dated", "json-ld"],
)
def test_our_metadata_pass_stores_what_trafilaturas_did(page: str) -> None:
    new, old = extract_article(page, URL), extract_article(page, URL, PREVIOUS_SETTINGS)
    fields = ("title", "author", "published", "canonical_url", "description", "sitename")
    assert {f: getattr(new, f) for f in fields} == {f: getattr(old, f) for f in fields}
    assert new.published is not None


def test_dates_in_prose_still_found() -> None:
    assert extract_article(PROSE_DATED, URL).published == datetime(2018, 9, 25, tzinfo=UTC)
    quick = replace(SETTINGS, extensive_date_search=False)
    assert extract_article(PROSE_DATED, URL, quick).published is None


def test_json_ld_metadata_survives_the_inert_strip() -> None:
    result = extract_article(JSON_LD, URL)
    assert result.author == "Erika Mustermann"
    assert result.published == datetime(2024, 3, 12, 9, 30, tzinfo=UTC)
    for absent in ("not the headline", "color: red", "Max Falsch", "JavaScript", "Logo"):
        assert absent not in result.text


def test_strip_inert_keeps_json_ld_and_text_around_what_it_drops() -> None:
    tree = lxml.html.fromstring(
        JSON_LD.replace("<!--", "vorher <!--").replace("-->", "--> nachher")
    )
    _strip_inert(tree)
    html = lxml.html.tostring(tree, encoding="unicode")
    assert "application/ld+json" in html and "Erika Mustermann" in html
    for gone in ("not the headline", "color: red", "Max Falsch", "<noscript", "<svg"):
        assert gone not in html
    assert "vorher" in html and "nachher" in html
