"""Property tests: normalisation is stable, no query crashes, cut phrases always match."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import QuerySyntaxError
from aggregator.query.syntax import CLOSE_QUOTES, OPEN_QUOTES
from aggregator.topics import (
    Document,
    TopicIndex,
    TopicSpec,
    analyze,
    normalize,
    parse_query,
    prefilter_terms,
    tokenize,
)

REAL_TEXT = (
    "Alors qu'Nvidia a publiquement souligné avoir discuté avec Trump de la « politique des "
    "semi-conducteurs et de l'IA », la pression monte à Washington pour renforcer encore les "
    "contrôles à l'exportation. Die USA verschärfen die Exportkontrollen für Halbleiter. "
    "The U.S. Commerce Department's new export-control rules hit AI chips — again."
)

WORDS = [
    "export", "exports", "exportation", "exportations", "contrôles", "Kontrollen", "Kontrolle",
    "restriction", "restrictions", "chips", "puces", "semi-conducteurs", "Nvidia's", "AI", "IA",
    "KI", "Straße", "ＡＩ", "ﬁnance", "e\u0301te\u0301", "Halbleiter", "dell'economia", "OR",
    "and", "NEAR/3", "title:", "(x)", "*", "don't", "O'Brien", "2 000", "11,6", "Export\u00adverbot",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\n", "\n\n", ", ", " - ", "-", ". ", "’", "'", " « ", " » ", "\t", "/"]
ELIDED = ["l’", "l'", "d'", "qu’", "L'", "j'", "dell'", "s'"]

word = st.one_of(
    st.sampled_from(WORDS),
    st.builds(lambda e, w: e + w, st.sampled_from(ELIDED), st.sampled_from(WORDS)),
    st.text(min_size=1, max_size=8),
)
texts = st.one_of(
    st.builds(
        lambda ws, seps: "".join(w + s for w, s in zip(ws, seps)),
        st.lists(word, min_size=1, max_size=25),
        st.lists(st.sampled_from(SEPARATORS), min_size=25, max_size=25),
    ),
    st.text(max_size=200),
    st.just(REAL_TEXT),
)
QUERY_PIECES = [
    "AND", "OR", "NOT", "NEAR/2", "NEAR/0", "NEAR/x", "NEAR", "(", ")", '"', "“", "”", "-", "*",
    "export*", "*kontroll*", "*kontrolle", "title:", "body:", "summary:", "lang:fr", "feed:x",
    "tag:", "lang:", '"a b"~2', "~3", "chips", "AI", "l'exportation", "semi-conducteur*", "or",
    "contrôle*", "Nvidia", '"export controls"', "foo:", "e-mail", "**", "a*",
]  # fmt: skip
queries = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(QUERY_PIECES), st.text(max_size=6)), min_size=0, max_size=12
    ).map(" ".join),
    st.lists(st.sampled_from(QUERY_PIECES), max_size=12).map("".join),
    st.text(max_size=40),
)
languages = st.sampled_from([None, "en", "fr", "de", "it", "sv", "zz"])


@given(st.text())
def test_normalising_twice_equals_normalising_once(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(texts)
def test_tokens_point_into_the_original_text_in_order(text: str) -> None:
    tokens = tokenize(text)
    for tok in tokens:
        assert 0 <= tok.start < tok.end <= len(text)
        assert tok.norm and normalize(tok.norm) == tok.norm
    assert all(a.end <= b.start for a, b in itertools.pairwise(tokens))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, texts, languages)
def test_no_query_raises_anything_but_syntax_errors_on_any_text(
    query: str, text: str, language: str | None
) -> None:
    try:
        index = TopicIndex([TopicSpec("t", query)])
    except QuerySyntaxError as e:
        assert 1 <= e.column <= len(query) + 1
        return
    prefilter_terms(query)
    for found in index.match(Document(title=text[:30], body=text, language=language)):
        for snippet in found.snippets:
            assert all(0 <= a < b <= len(snippet.text) for a, b in snippet.highlights)
        assert all(term for term in found.terms)


_QUOTES = {ord(c): " " for c in OPEN_QUOTES + CLOSE_QUOTES + "*"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.data(), languages)
def test_a_phrase_cut_from_a_text_matches_that_text(
    text: str, data: st.DataObject, language: str | None
) -> None:
    tokens = tokenize(text)
    assume(tokens)
    i = data.draw(st.integers(0, len(tokens) - 1), label="first word")
    k = data.draw(st.integers(1, min(5, len(tokens) - i)), label="words")
    piece = text[tokens[i].start : tokens[i + k - 1].end].translate(_QUOTES)
    index = TopicIndex([TopicSpec("t", f'"{piece}"')])
    assert index.match(Document(body=text, language=language)), piece


# -------------------------------------------------------- prefilter soundness

VOCAB = [
    "export", "exports", "exportation", "exportations", "control", "controls", "contrôle",
    "contrôles", "Kontrolle", "Kontrollen", "restriction", "restrictions", "chip", "chips",
    "puce", "puces", "fly", "flies", "Haus", "Häuser", "industry", "industries", "ability",
    "abilities", "Beschränkung", "Beschränkungen", "brief", "brieven", "premier", "première",
    "économie", "économies", "running", "runs", "semi-conducteurs", "semiconductors",
]  # fmt: skip


def _query(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from(VOCAB),
        st.sampled_from(VOCAB).map(lambda w: w[: max(3, len(w) - 2)] + "*"),
        st.lists(st.sampled_from(VOCAB), min_size=2, max_size=3).map(
            lambda ws: f'"{" ".join(ws)}"'
        ),
    )
    if depth == 0:
        return leaf
    sub = _query(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, b: f"({a} AND {b})", sub, sub),
        st.builds(lambda a, b: f"({a} OR {b})", sub, sub),
        st.builds(lambda a, b: f"({a} NOT {b})", sub, sub),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _query(2),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=12).map(" ".join),
    st.sampled_from(["en", "fr", "de", "nl", "es"]),
)
def test_prefilter_terms_never_reject_a_matching_document(query: str, text: str, lang: str) -> None:
    if not TopicIndex([TopicSpec("t", query)]).match(Document(body=text, language=lang)):
        return
    prefixes = prefilter_terms(query)
    words = [t.norm for t in analyze(Document(body=text, language=lang)).tokens]
    assert prefixes is None or any(w.startswith(p) for w in words for p in prefixes)


def test_parse_never_accepts_a_query_without_words() -> None:
    for query in ["", " ", "()", '""', "AND", "-", "* *"]:
        try:
            parse_query(query)
        except QuerySyntaxError:
            continue
        raise AssertionError(f"{query!r} parsed")
