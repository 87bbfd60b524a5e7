"""The topic query language: parse trees, syntax errors with columns, prefilter terms."""

from __future__ import annotations

import pytest

from aggregator.exceptions import QuerySyntaxError
from aggregator.topics import normalize, parse_query, prefilter_terms, tokenize, validate_query

EXPORT_CONTROLS = """("export control*" OR "export restriction*" OR "entity list" OR "export ban*"
   OR contrôle* NEAR/3 export* OR restriction* NEAR/3 export*
   OR Exportkontroll* OR Ausfuhrkontroll* OR (Export* NEAR/3 (Kontroll* OR Beschränkung*)))
  AND (chip* OR semiconductor* OR puce* OR semi-conducteur* OR Halbleiter* OR Nvidia
   OR AI OR IA OR KI)"""


def tree(query: str) -> str:
    return str(parse_query(query))


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Contrôle", "controle"),
        ("CONTRÔLE", "controle"),
        ("contro\u0302le", "controle"),  # decomposed accent
        ("Straße", "strasse"),
        ("ＡＩ", "ai"),  # full-width (NFKC)
        ("ﬁnance", "finance"),  # ligature (NFKC)
        ("l’export", "l'export"),  # curly apostrophe unified
    ],
)
def test_normalize_folds_case_accents_and_compatibility_forms(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("l'exportation", ["exportation"]),
        ("l’exportation", ["exportation"]),
        ("d'exportation qu'il", ["exportation", "il"]),
        ("dell'economia all'estero un'altra", ["economia", "estero", "altra"]),
        ("Nvidia's chips", ["nvidia", "chips"]),
        ("semi-conducteurs", ["semi", "conducteurs"]),
        ("Export\u00adkontrollen", ["exportkontrollen"]),  # soft hyphen inside a word
        ("O'Brien", ["o", "brien"]),  # not an elision: both kept
    ],
)
def test_tokenize_undoes_elision_and_splits_hyphens(text: str, words: list[str]) -> None:
    assert [t.norm for t in tokenize(text)] == words


def test_tokens_keep_offsets_into_the_original_text() -> None:
    text = "Les contrôles à l’exportation\nd'IA"
    spans = [text[t.start : t.end] for t in tokenize(text)]
    assert spans == ["Les", "contrôles", "à", "exportation", "IA"]


# ------------------------------------------------------------------ operators


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("nvidia", "nvidia"),
        ("a b", "(AND a b)"),
        ("a AND b", "(AND a b)"),
        ("a OR b", "(OR a b)"),
        ("a b OR c", "(OR (AND a b) c)"),  # AND binds tighter than OR
        ("a OR b c", "(OR a (AND b c))"),
        ("NOT a", "(NOT a)"),
        ("a NOT b", "(AND a (NOT b))"),
        ("a -b", "(AND a (NOT b))"),
        ('-"remote control" tv', '(AND (NOT "remote control") tv)'),
        ("-(a OR b) c", "(AND (NOT (OR a b)) c)"),
        ("(a OR (b AND (c OR d)))", "(OR a (AND b (OR c d)))"),
        ("x AND (y OR (z AND NOT w))", "(AND x (OR y (AND z (NOT w))))"),
        ("export*", "export*"),
        ("*kontroll*", "*kontroll*"),
        ("*kontrolle", "*kontrolle"),
        ('"export controls"', '"export controls"'),
        ('"export control*"', '"export control*"'),
        ('"a b"~3', '"a b"~3'),
        ("a NEAR/3 b", "(NEAR/3 a b)"),
        ("a NEAR/0 b", "(NEAR/0 a b)"),
        ('a NEAR/2 "b c"', '(NEAR/2 a "b c")'),
        ("a NEAR/1 b NEAR/2 c", "(NEAR/2 (NEAR/1 a b) c)"),
        ("Export* NEAR/3 (Kontroll* OR Beschränkung*)",
         "(NEAR/3 export* (OR kontroll* beschrankung*))"),
        ("a NEAR/2 b c", "(AND (NEAR/2 a b) c)"),  # NEAR binds tighter than AND
        ("title:nvidia", "title:nvidia"),
        ('title:"export controls"', 'title:"export controls"'),
        ("body:(a OR b)", "body:(OR a b)"),
        ("summary:x", "summary:x"),
        ("lang:fr", "lang:fr"),
        ("lang:FR-fr", "lang:fr"),
        ("lang:(fr OR de)", "(OR lang:fr lang:de)"),
        ("feed:le-monde", "feed:le-monde"),
        ('tag:"Tech News"', "tag:tech news"),
        ("AI OR IA OR KI", "(OR ai ia ki)"),  # upper-case words that are not operators
        ('"and" "or"', "(AND and or)"),  # the words themselves, quoted
        ("CONTRÔLE", "controle"),
        ("l'exportation", "exportation"),
        ("l’exportation", "exportation"),
        ("e-mail", '(OR "e mail" email)'),
        ("semi-conducteur*", '(OR "semi conducteur*" semiconducteur*)'),
        ('"industrie des semi-conducteurs"',
         '(OR "industrie des semi conducteurs" "industrie des semiconducteurs")'),
        ("chips, & salsa", "(AND chips salsa)"),  # punctuation-only words vanish
        ("“export controls”", '"export controls"'),  # curly quotes delimit phrases
    ],
)  # fmt: skip
def test_parse_tree(query: str, expected: str) -> None:
    assert tree(query) == expected


def test_the_export_controls_topic_parses() -> None:
    text = tree(EXPORT_CONTROLS)
    assert text.startswith('(AND (OR "export control*"')
    assert "(NEAR/3 controle* export*)" in text
    assert '"semi conducteur*" semiconducteur*' in text


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("(a OR b", 1, "unbalanced '('"),
        ("x AND ((a)", 7, "unbalanced '('"),
        ("a OR b)", 7, "unbalanced ')'"),
        ("()", 1, "empty parentheses"),
        ("a AND", 3, "'AND' has nothing on its right"),
        ("a OR", 3, "'OR' has nothing on its right"),
        ("a AND OR b", 3, "'AND' has nothing on its right"),
        ("(a OR) b", 4, "'OR' has nothing on its right"),
        ("OR a", 1, "'OR' needs a term on its left"),
        ("NOT", 1, "'NOT' has nothing on its right"),
        ("a NEAR/3", 3, "has nothing on its right"),
        ("a NEAR b", 3, "bad proximity operator"),
        ("a NEAR/x b", 3, "bad proximity operator"),
        ("a NEAR/-1 b", 3, "bad proximity operator"),
        ("a NEAR/1000 b", 3, "too far"),
        ("(a AND b) NEAR/3 c", 2, "NEAR works on words"),
        ("a NEAR/3 NOT b", 10, "NEAR works on words"),
        ("a NEAR/3 lang:fr", 10, "NEAR works on words"),
        ("foo:bar", 1, "unknown field 'foo'"),
        ("x Headline:bar", 3, "unknown field 'Headline'"),
        ('"export controls', 1, "unterminated quote"),
        ('a "b', 3, "unterminated quote"),
        ('""', 1, "empty phrase"),
        ('"a b"~x', 6, "must be followed by a number"),
        ('"a b" ~2', 7, "must follow a closing quote"),
        ("ex*rt", 3, "only allowed at the start or end"),
        ("*", 1, "needs letters"),
        ("a*", 1, "too short"),
        ("*ab*", 2, "too short"),
        ("title:", 1, "'title:' has nothing"),
        ("lang:(title:x)", 7, "inside lang:"),
        ("a or b", 3, "ambiguous 'or'"),
        ("chips and semiconductors", 7, "ambiguous 'and'"),
        ("Not this", 1, "ambiguous 'Not'"),
    ],
)
def test_syntax_errors_point_at_the_column(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert info.value.column == column
    assert fragment in info.value.message
    assert info.value.query == query
    assert info.value.pointer().splitlines()[-1] == " " * (column - 1) + "^"


def test_errors_carry_a_hint() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query("a or b")
    assert info.value.hint is not None and "OR" in info.value.hint


def test_validate_query_accepts_good_and_rejects_bad_queries() -> None:
    validate_query(EXPORT_CONTROLS)
    with pytest.raises(QuerySyntaxError):
        validate_query("(chips")


# ------------------------------------------------------------------ prefilter


def test_prefilter_terms_of_a_single_word_is_its_stem_prefix() -> None:
    prefixes = prefilter_terms("restrictions")
    assert prefixes is not None and len(prefixes) == 1
    assert "restrictions".startswith(prefixes[0]) and "restriction".startswith(prefixes[0])


def test_prefilter_terms_pick_the_narrowest_required_group() -> None:
    # both sides of the AND are required; one word beats a two-word OR group
    prefixes = prefilter_terms("(nvidia OR semiconductor*) AND tariffs")
    assert prefixes is not None and len(prefixes) == 1
    assert "tariffs".startswith(prefixes[0]) and "tarif".startswith(prefixes[0])


def test_prefilter_terms_of_an_or_group_lists_every_branch() -> None:
    prefixes = prefilter_terms("nvidia OR semiconductor*")
    assert prefixes is not None and len(prefixes) == 2
    assert any("nvidia".startswith(p) for p in prefixes)
    assert "semiconductor" in prefixes


def test_prefilter_terms_of_a_phrase_is_one_of_its_words() -> None:
    prefixes = prefilter_terms('"export controls"')
    assert prefixes is not None and len(prefixes) == 1
    assert "export".startswith(prefixes[0]) or "controls".startswith(prefixes[0])


def test_prefilter_terms_cover_the_export_controls_topic() -> None:
    prefixes = prefilter_terms(EXPORT_CONTROLS, ["en", "fr", "de"])
    assert prefixes is not None
    # the French seed article must pass the prefilter: one of its words is covered
    seed_words = {t.norm for t in tokenize("contrôles à l'exportation des puces Nvidia")}
    assert any(w.startswith(p) for w in seed_words for p in prefixes)


@pytest.mark.parametrize("query", ["NOT chips", "-chips", "*kontroll*", "lang:fr", "a OR NOT b"])
def test_prefilter_terms_none_when_the_query_cannot_be_narrowed(query: str) -> None:
    assert prefilter_terms(query) is None


def test_prefilter_terms_skip_unexpressible_clauses() -> None:
    prefixes = prefilter_terms("*kontroll* AND nvidia")
    assert prefixes is not None and len(prefixes) == 1 and "nvidia".startswith(prefixes[0])
