"""Matching articles against topics: the seed case, near misses, every operator, scopes, snippets."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.exceptions import ConfigError, QuerySyntaxError
from aggregator.topics import (
    Document,
    Snippet,
    TopicIndex,
    TopicMatch,
    TopicSpec,
    analyze,
    highlight,
)

EXPORTS = """("export control*" OR "export restriction*" OR "entity list" OR "export ban*"
   OR contrôle* NEAR/3 export* OR restriction* NEAR/3 export*
   OR Exportkontroll* OR Ausfuhrkontroll* OR (Export* NEAR/3 (Kontroll* OR Beschränkung*)))"""
CHIPS = """(chip* OR semiconductor* OR puce* OR semi-conducteur* OR Halbleiter* OR Nvidia
   OR AI OR IA OR KI)"""
EXPORT_CONTROLS = TopicSpec(
    name="export-controls",
    description="Controls on exports of chips and AI technology",
    query=f"{EXPORTS}\n  AND {CHIPS}",
    fields=("title", "body"),
    languages=("en", "fr", "de"),
)

WINE = """Les exportations de vin français ont reculé de 8 % l'an dernier, selon la fédération \
des exportateurs. Les viticulteurs de Bordeaux redoutent de nouvelles restrictions à \
l'exportation vers la Chine, où les droits de douane sur le cognac ont déjà été relevés.
Les contrôles sanitaires à l'exportation se sont aussi durcis aux États-Unis. « Nous avons \
perdu un tiers de nos clients », explique un négociant de Saint-Émilion. La filière demande au \
gouvernement un plan d'aide et une meilleure promotion des vins à l'étranger. Les exportations \
de champagne, en revanche, restent stables."""

REMOTE = """How to set up your new TV remote control. The remote controls the TV, the soundbar \
and the streaming box. In the settings menu you can export your custom controls layout to a \
file, and parental controls restrict what children can watch. The AI voice assistant built \
into the remote runs on a low-power chip. Export the settings before a factory reset: the \
controls on the side panel stay active."""


def match(query: str, body: str = "", *, lang: str | None = "en", **kw: Any) -> TopicMatch | None:
    """Match one topic against one document; keyword args go to the Document or TopicSpec."""
    doc_keys = {"title", "summary", "feeds", "tags"}
    doc = Document(body=body, language=lang, **{k: v for k, v in kw.items() if k in doc_keys})
    spec = TopicSpec("t", query, **{k: v for k, v in kw.items() if k not in doc_keys})
    found = TopicIndex([spec]).match(doc)
    return found[0] if found else None


def matches(query: str, body: str = "", **kw: Any) -> bool:
    return match(query, body, **kw) is not None


# ------------------------------------------------------------------ the point


def test_export_controls_topic_matches_the_french_seed(seed_text: str) -> None:
    [found] = TopicIndex([EXPORT_CONTROLS]).match(Document(body=seed_text, language="fr"))
    assert found.topic == "export-controls"
    assert "contrôles à l'exportation" in found.terms
    assert "contrôles d'exportation" in found.terms
    assert "restrictions à l'exportation" in found.terms
    assert "Nvidia" in found.terms
    assert any("contrôles à l'exportation" in s.text for s in found.snippets)


def test_seed_snippet_highlights_point_at_the_matched_words(seed_text: str) -> None:
    [found] = TopicIndex([EXPORT_CONTROLS]).match(Document(body=seed_text, language="fr"))
    marked = {s.text[a:b] for s in found.snippets for a, b in s.highlights}
    assert "contrôles à l'exportation" in marked
    assert marked <= set(found.terms)


def test_seed_matches_with_the_language_detected(seed_text: str) -> None:
    doc = Document(title="Trump rencontre le PDG de Nvidia", body=seed_text)
    assert analyze(doc).language == "fr"
    assert TopicIndex([EXPORT_CONTROLS]).match(doc)


def test_french_wine_exports_are_a_near_miss() -> None:
    # the export half of the query matches ...
    assert matches(EXPORTS, WINE, lang="fr", languages=("en", "fr", "de"))
    # ... but without any chip/AI word the topic must stay silent
    assert TopicIndex([EXPORT_CONTROLS]).match(Document(body=WINE, language="fr")) == []


def test_english_remote_control_article_is_a_near_miss() -> None:
    # it has "export", "controls", "AI" and "chip" — but no export control
    for word in ("export", "controls", "AI", "chip"):
        assert matches(word, REMOTE)
    assert TopicIndex([EXPORT_CONTROLS]).match(Document(body=REMOTE, language="en")) == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The US tightened export controls on Nvidia chips.", "en"),
        ("New Export-Controls hit AI accelerators.", "en"),
        ("Washington adds Huawei to the Entity List over semiconductor sales.", "en"),
        ("Die USA verschärfen die Exportkontrollen für Halbleiter.", "de"),
        ("Neue Export-Beschränkungen für KI-Chips.", "de"),
        ("Les restrictions américaines à l'exportation de puces inquiètent.", "fr"),
    ],
)
def test_export_controls_topic_matches_in_three_languages(text: str, lang: str) -> None:
    assert TopicIndex([EXPORT_CONTROLS]).match(Document(body=text, language=lang))


# ------------------------------------------------------------------ operators


def test_terms_are_case_insensitive() -> None:
    assert matches("nvidia", "NVIDIA and Nvidia")
    assert matches("AI", "the ai boom")
    found = match("NVIDIA", "NVIDIA and Nvidia and nvidia")
    assert found is not None and found.terms == ("NVIDIA", "Nvidia", "nvidia")


def test_and_or_not() -> None:
    text = "Nvidia sells chips"
    assert matches("nvidia AND chips", text)
    assert matches("nvidia chips", text)  # juxtaposition is AND
    assert not matches("nvidia AND tariffs", text)
    assert matches("tariffs OR chips", text)
    assert not matches("tariffs OR wine", text)
    assert matches("nvidia NOT tariffs", text)
    assert not matches("nvidia NOT chips", text)
    assert not matches("nvidia -chips", text)
    assert matches("nvidia -wine", text)


def test_not_only_query_matches_articles_without_the_word() -> None:
    assert matches("NOT wine", "chips and more chips")
    assert not matches("NOT wine", "red wine")
    found = match("NOT wine", "chips")
    assert found is not None and found.terms == ()


def test_nested_parentheses() -> None:
    query = "nvidia AND (chips OR (export AND NOT (wine OR cheese)))"
    assert matches(query, "Nvidia export news")
    assert not matches(query, "Nvidia export of wine")
    assert matches(query, "Nvidia chips and wine")


def test_or_highlights_every_true_branch() -> None:
    found = match("chips OR nvidia OR wine", "Nvidia chips")
    assert found is not None and set(found.terms) == {"Nvidia", "chips"}


def test_trailing_wildcard_matches_unstemmed_prefix() -> None:
    assert matches("export*", "exports rose")
    assert matches("export*", "l'exportation", lang="fr")
    assert not matches("restriction*", "they restrict trade")  # prefix of the word, not the stem


def test_leading_star_matches_inside_german_compounds() -> None:
    text = "Die Exportkontrollen wurden verschärft."
    assert matches("*kontroll*", text, lang="de")
    assert matches("*kontrollen", text, lang="de")
    assert not matches("*kontroll", text, lang="de")  # suffix wildcard: must END with it
    assert not matches("kontroll*", text, lang="de")  # prefix wildcard: must START with it


def test_phrase_matches_across_line_breaks_punctuation_and_hyphens() -> None:
    assert matches('"export controls"', "new export\ncontrols")
    assert matches('"export controls"', "export, controls")
    assert matches('"export controls"', "Export-Controls")
    assert not matches('"export controls"', "export of controls")
    assert not matches('"export controls"', "controls export")


def test_phrase_matches_inflected_forms() -> None:
    assert matches('"export control"', "export controls")
    assert matches('"export controls"', "export control")
    assert matches('"export control"', "Export-Controls")


def test_hyphenated_query_word_matches_split_and_joined_spellings() -> None:
    for text in ("les semi-conducteurs", "les semi conducteurs", "les semiconducteurs"):
        assert matches("semi-conducteur*", text, lang="fr"), text
    assert matches('"industrie des semi-conducteurs"', "l'industrie des semiconducteurs", lang="fr")


def test_lowercase_words_inside_quotes_are_terms() -> None:
    assert matches('"or"', "le prix de l'or", lang="fr")
    assert not matches('"or"', "le prix de l'argent", lang="fr")


# ------------------------------------------------------------------ proximity


@pytest.mark.parametrize("query", ["tariffs NEAR/3 chips", "chips NEAR/3 tariffs"])
def test_near_in_both_orders_up_to_its_limit(query: str) -> None:
    assert matches(query, "tariffs on all imported chips")  # 3 words between: matches
    assert matches(query, "chips face new tariffs")  # other order, 2 between
    assert not matches(query, "tariffs on all the imported chips")  # 4 between: too far


def test_near_zero_means_adjacent_in_either_order() -> None:
    assert matches("chips NEAR/0 tariffs", "tariffs chips")
    assert not matches("chips NEAR/0 tariffs", "tariffs on chips")


def test_near_does_not_count_elided_articles_or_punctuation() -> None:
    # contrôles(0) à(1) l'exportation(2): one word between
    assert matches("contrôle* NEAR/1 export*", "les contrôles à l'exportation", lang="fr")
    assert matches("contrôle* NEAR/0 export*", "les contrôles d'exportation", lang="fr")
    assert matches("chips NEAR/0 tariffs", "chips, tariffs")


def test_near_needs_two_distinct_words() -> None:
    assert not matches("export* NEAR/3 export*", "export rules")
    assert matches("export* NEAR/3 export*", "exports and exporters")


def test_near_accepts_phrases_and_groups() -> None:
    text = "the export of chips to China"
    assert matches('"export of" NEAR/2 china', text)  # "chips to" between
    assert not matches('"export of" NEAR/1 china', text)
    assert matches("(chips OR wafers) NEAR/2 china", text)
    assert not matches("(wafers OR tools) NEAR/2 china", text)
    assert matches("(chips NEAR/2 china) NEAR/3 export", text)


def test_near_surface_is_the_whole_stretch() -> None:
    found = match("contrôle* NEAR/3 export*", "renforcer les contrôles à l'exportation.", lang="fr")
    assert found is not None and found.terms == ("contrôles à l'exportation",)


def test_lucene_proximity_form() -> None:
    assert matches('"export chips"~2', "export of the chips")
    assert matches('"export chips"~2', "chips for export")  # any order
    assert not matches('"export chips"~1', "export of the chips")
    assert matches('"a b c"~1', "c a x b")
    assert not matches('"a b c"~1', "c x a x b")


def test_sloppy_phrase_with_repeated_words_fails_fast() -> None:
    # 12 "a" cannot fit in 11 consecutive a's: must not try every permutation
    assert not matches('"' + "a " * 12 + '"~0', "a " * 11 + "b " * 5 + "a " * 11)
    assert matches('"' + "a " * 12 + '"~1', "a " * 6 + "b " + "a " * 6)


def test_proximity_does_not_cross_fields() -> None:
    assert not matches("chips NEAR/5 tariffs", "tariffs rise", title="New chips")
    assert not matches('"chips tariffs"', "tariffs rise", title="New chips")


# ------------------------------------------------------------------ normalisation in matching


def test_accents_are_ignored() -> None:
    assert matches("contrôle", "CONTROLE", lang="fr")
    assert matches("controle", "le contrôle", lang="fr")
    assert matches("CONTRÔLE", "contrôle", lang="fr")
    assert matches("Beschränkung", "Beschrankung", lang="de")


def test_apostrophes_and_elision() -> None:
    assert matches("exportation", "l’exportation", lang="fr")
    assert matches("exportation", "l'exportation", lang="fr")
    assert matches("l'exportation", "d’exportation", lang="fr")
    assert matches('"contrôles d’exportation"', "contrôles d'exportation", lang="fr")
    assert matches("economia", "dell'economia", lang="it")
    assert matches("il", "qu'il", lang="fr")


@pytest.mark.parametrize(
    ("query", "text", "lang"),
    [
        ("restriction", "new restrictions", "en"),
        ("restrictions", "a restriction", "en"),
        ("control", "tighter controls", "en"),
        ("Kontrolle", "die Kontrollen", "de"),
        ("Kontrollen", "die Kontrolle", "de"),
        ("Beschränkung", "die Beschränkungen", "de"),
        ("exportation", "les exportations", "fr"),
        ("exportations", "une exportation", "fr"),
        ("contrôle", "les contrôles", "fr"),
        ("export", "une exportation", "fr"),  # French stem of exportation is export
    ],
)
def test_stemming_matches_inflections(query: str, text: str, lang: str) -> None:
    assert matches(query, text, lang=lang)


def test_stemming_uses_the_article_language() -> None:
    # "Kontrollen" stems to "kontroll" with the German stemmer, not the English one
    assert matches("Kontrolle", "die Kontrollen", lang="de")
    assert not matches("Kontrolle", "die Kontrollen", lang="en")


def test_query_words_are_stemmed_in_the_default_languages_or_the_topic_ones() -> None:
    assert matches("exportaciones", "la exportación", lang="es")  # Spanish is a default
    # Swedish is not a default: without it only the exact form matches
    assert not matches("kontrollerna", "kontroller", lang="sv")
    assert matches("kontrollerna", "kontroller", lang="sv", languages=("sv",))


def test_language_filter_of_a_topic() -> None:
    assert matches("nvidia", "Nvidia", lang="fr", languages=("fr",))
    assert not matches("nvidia", "Nvidia", lang="en", languages=("fr",))
    assert matches("nvidia", "Nvidia", lang="fr-FR", languages=("FR",))


# ------------------------------------------------------------------ fields and scopes


def test_default_fields_are_title_summary_and_body() -> None:
    assert matches("nvidia", "", title="Nvidia")
    assert matches("nvidia", "", summary="Nvidia")
    assert matches("nvidia", "Nvidia")


def test_topic_fields_restrict_where_words_count() -> None:
    assert not matches("nvidia", "", summary="Nvidia", fields=("title", "body"))
    assert matches("nvidia", "", title="Nvidia", fields=("title",))
    assert not matches("nvidia", "Nvidia", fields=("title",))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("title:nvidia", True),
        ("title:chips", False),
        ("summary:tariffs", True),
        ("summary:nvidia", False),
        ("body:chips", True),
        ("body:(wine OR chips)", True),
        ("body:(wine OR nvidia)", False),
        ('title:"nvidia results"', True),
        ("title:nvidia body:chips", True),
        ("title:(nvidia NEAR/1 results)", True),
    ],
)
def test_field_scopes(query: str, expected: bool) -> None:
    doc = {"title": "Nvidia results", "summary": "About tariffs", "body": "Chips sold out"}
    assert matches(query, doc["body"], title=doc["title"], summary=doc["summary"]) is expected


def test_explicit_scope_overrides_topic_fields() -> None:
    assert matches("summary:tariffs", "", summary="tariffs", fields=("title",))


def test_metadata_scopes() -> None:
    kw: dict[str, Any] = {"feeds": ("le-monde",), "tags": ("Tech",)}
    assert matches("nvidia lang:fr", "Nvidia", lang="fr", **kw)
    assert not matches("nvidia lang:fr", "Nvidia", lang="de", **kw)
    assert matches("nvidia lang:(de OR fr)", "Nvidia", lang="fr", **kw)
    assert matches("nvidia feed:Le-Monde", "Nvidia", **kw)
    assert not matches("nvidia feed:reuters", "Nvidia", **kw)
    assert matches("nvidia tag:tech", "Nvidia", **kw)
    assert matches("nvidia -tag:sport", "Nvidia", **kw)
    assert matches("lang:fr", "n'importe quoi", lang="fr")


def test_topic_feed_and_tag_scopes() -> None:
    spec = TopicSpec("t", "nvidia", feeds=("le-monde",), tags=("tech",))
    index = TopicIndex([spec])
    assert index.match(Document(body="Nvidia", feeds=("le-monde",), tags=("tech",)))
    assert not index.match(Document(body="Nvidia", feeds=("reuters",), tags=("tech",)))
    assert not index.match(Document(body="Nvidia", feeds=("le-monde",), tags=("sport",)))


# ------------------------------------------------------------------ the index


def test_index_returns_every_matching_topic_in_config_order() -> None:
    index = TopicIndex([
        TopicSpec("wine", "vin* OR wine"),
        TopicSpec("chips", "chip* OR puce*"),
        TopicSpec("nvidia", "nvidia"),
    ])  # fmt: skip
    found = index.match(Document(body="Nvidia et les puces", language="fr"))
    assert [m.topic for m in found] == ["chips", "nvidia"]


def test_index_only_evaluates_topics_whose_required_words_occur() -> None:
    index = TopicIndex([
        TopicSpec("a", '"export controls" AND (chips OR nvidia)'),
        TopicSpec("b", "wine AND cheese"),
        TopicSpec("c", "NOT wine"),  # cannot be narrowed: always evaluated
        TopicSpec("d", "*kontroll* AND halbleiter*"),
        TopicSpec("e", "export AND wine"),
    ])  # fmt: skip
    doc = Document(body="export controls on chips", language="en")
    assert index.candidates(doc) == ["a", "c"]
    assert [m.topic for m in index.match(doc)] == ["a", "c"]


def test_analyze_once_match_many() -> None:
    doc = Document(body="Les contrôles à l'exportation de puces", language="fr")
    analyzed = analyze(doc)
    first = TopicIndex([EXPORT_CONTROLS])
    second = TopicIndex([TopicSpec("puces", "puce*")])
    assert first.match(analyzed) == first.match(doc)
    assert [m.topic for m in second.match(first.analyze(doc))] == ["puces"]


def test_syntax_error_names_the_topic() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        TopicIndex([TopicSpec("ok", "chips"), TopicSpec("broken", "chips AND (nvidia")])
    assert "broken" in info.value.message
    assert info.value.column == 11


def test_unknown_topic_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TopicIndex([TopicSpec("t", "chips", fields=("headline",))])


def test_empty_document_matches_nothing_but_not_queries() -> None:
    index = TopicIndex([TopicSpec("a", "chips"), TopicSpec("b", "NOT chips")])
    assert [m.topic for m in index.match(Document())] == ["b"]


def test_terms_are_deduplicated_surface_forms() -> None:
    found = match("chip*", "Chips, chips and more chips. Chip!")
    assert found is not None and found.terms == ("Chips", "chips", "Chip")


# ------------------------------------------------------------------ snippets


LONG = (
    "Opening words that set the scene for a long story about trade. " * 5
    + "Then the government announced export controls on advanced chips. "
    + "Middle filler sentence about nothing much at all, just padding text. " * 6
    + "Finally Nvidia said the export controls would hurt sales. "
    + "Closing words that wrap up the long story about trade policy. " * 5
)


def test_snippets_are_about_200_chars_on_word_boundaries() -> None:
    found = match('"export controls" OR nvidia', LONG)
    assert found is not None and 1 <= len(found.snippets) <= 3
    for snippet in found.snippets:
        assert len(snippet.text) <= 200 + 2
        assert snippet.text.startswith("…") and snippet.text.endswith("…")
        inner = snippet.text.strip("…")
        assert inner == inner.strip()
        first_word, last_word = inner.split()[0], inner.split()[-1]
        assert first_word in LONG.split() and last_word in LONG.split()  # no cut words


def test_snippet_highlights_are_offsets_into_the_snippet_text() -> None:
    found = match('"export controls" OR nvidia', LONG)
    assert found is not None
    marked = [s.text[a:b] for s in found.snippets for a, b in s.highlights]
    assert set(marked) == {"export controls", "Nvidia"}


def test_at_most_three_snippets() -> None:
    text = " ".join(f"Paragraph {i} mentions chips once. " + "Filler words here. " * 20
                    for i in range(6))  # fmt: skip
    found = match("chips", text)
    assert found is not None and len(found.snippets) == 3


def test_short_text_snippet_is_the_whole_text_without_ellipsis() -> None:
    found = match("chips", "  New chips\nfrom Nvidia  ")
    assert found is not None
    assert found.snippets == (Snippet("New chips from Nvidia", ((4, 9),)),)


def test_title_hits_get_a_snippet() -> None:
    found = match("nvidia", "nothing here", title="Nvidia results")
    assert found is not None and found.snippets[0].text == "Nvidia results"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("brackets", "a [b<c>] d"),
        ("html", "a <mark>b&lt;c&gt;</mark> d"),
        ("ansi", "a \x1b[1;33mb<c>\x1b[0m d"),
    ],
)
def test_highlight_styles(style: Any, expected: str) -> None:
    assert highlight(Snippet("a b<c> d", ((2, 6),)), style) == expected


def test_highlight_merges_overlaps_and_clamps() -> None:
    assert highlight(Snippet("abcdef", ((1, 3), (2, 4), (5, 99))), "brackets") == "a[bcd]e[f]"
