"""aggregator.ingest.identity: canonical URLs, hashes, per-feed identity rules, near-duplicates."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.ingest.identity import (
    TRACKING_PARAMS,
    canonical_url,
    choose_rule,
    entry_fingerprint,
    entry_key,
    hamming,
    jaccard,
    max_hamming,
    near_duplicate,
    shingles,
    simhash,
    text_hash,
)
from aggregator.parse.feeds import parse_feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


# --------------------------------------------------------------------------- canonical_url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://News.Example.COM/Path/Story", "https://news.example.com/Path/Story"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
        (
            "https://example.com/a?id=7&UTM_Campaign=x&fbclid=abc&page=2",
            "https://example.com/a?id=7&page=2",
        ),
        (
            "https://example.com/a?b=2&gclid=1&a=1&mc_cid=3&mc_eid=4",
            "https://example.com/a?b=2&a=1",
        ),
        ("https://example.com/caf%c3%a9?q=%e2%82%ac", "https://example.com/caf%C3%A9?q=%E2%82%AC"),
        ("https://münchen.example/straße", "https://xn--mnchen-3ya.example/straße"),
        ("https://user:pw@Example.com:443/x", "https://user:pw@example.com/x"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("file:///etc/hosts", "file:///etc/hosts"),
        ("http://[broken", "http://[broken"),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


@pytest.mark.parametrize(
    "name",
    [
        "utm_content",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "ref_src",
        "cmpid",
        "ocid",
    ],
)
def test_every_named_tracking_parameter_is_dropped(name: str) -> None:
    assert canonical_url(f"https://e.example/a?keep=1&{name}=zzz") == "https://e.example/a?keep=1"


def test_tracking_list_holds_the_documented_names() -> None:
    assert {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "ref_src",
        "cmpid",
        "ocid",
    } <= TRACKING_PARAMS


def test_non_tracking_parameters_keep_their_order_and_spelling() -> None:
    url = "https://e.example/search?z=1&a=%2f&utm_term=x&m=&a=2"
    assert canonical_url(url) == "https://e.example/search?z=1&a=%2F&m=&a=2"


_url_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_urls = st.one_of(
    st.builds(
        "{}://{}{}{}{}".format,
        st.sampled_from(["http", "HTTPS", "ftp", "", "mailto"]),
        st.sampled_from(
            ["example.com", "EXAMPLE.com:80", "bücher.de", "[::1]:443", "u@h:8080", "", "a..b"]
        ),
        st.sampled_from(["", "/", "/a/%7e", "//double", "/p?"]),
        st.one_of(st.just(""), st.builds("?{}".format, _url_text)),
        st.one_of(st.just(""), st.builds("#{}".format, _url_text)),
    ),
    _url_text,
)


@settings(max_examples=500)
@given(_urls)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=200)
@given(
    st.sampled_from(sorted(TRACKING_PARAMS) + ["utm_source", "utm_x"]),
    st.text(alphabet="abc123", max_size=5),
)
def test_adding_a_tracking_parameter_never_changes_the_canonical_url(name: str, value: str) -> None:
    base = "https://e.example/story?id=1"
    assert canonical_url(f"{base}&{name}={value}") == canonical_url(base)


# --------------------------------------------------------------------------- hashes


def test_text_hash_is_sha256_of_collapsed_whitespace() -> None:
    assert text_hash("  a \n\t b ") == hashlib.sha256(b"a b").hexdigest()
    assert text_hash("a b") != text_hash("a  c")


_words = st.lists(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Zs", "Zl", "Zp", "Cc", "Cs"]),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=30,
)
_spaces = st.lists(
    st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u2003"]), min_size=31, max_size=31
)


@given(_words, _spaces)
def test_text_hash_invariant_under_whitespace_changes(words: list[str], gaps: list[str]) -> None:
    if any(w.split() != [w] for w in words):
        return  # a "word" containing whitespace is not one word
    spaced = gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=False))
    assert text_hash(spaced) == text_hash(" ".join(words))


def test_entry_fingerprint_changes_with_each_field_but_not_with_layout() -> None:
    base = entry_fingerprint("Title", "<p>Summary</p>", "<p>Body text</p>")
    assert entry_fingerprint("Title ", "<p>Summary</p>\n", "<p>Body  text</p>") == base
    changed = {
        entry_fingerprint("Title!", "<p>Summary</p>", "<p>Body text</p>"),
        entry_fingerprint("Title", "<p>Summary.</p>", "<p>Body text</p>"),
        entry_fingerprint("Title", "<p>Summary</p>", "<p>Body text, corrected</p>"),
        entry_fingerprint("Title", None, "<p>Summary</p><p>Body text</p>"),
    }
    assert base not in changed and len(changed) == 4


def test_entry_fingerprint_keeps_fields_apart() -> None:
    assert entry_fingerprint("a", "b", None) != entry_fingerprint("a b", None, None)
    assert entry_fingerprint("a", None, "b") != entry_fingerprint("a", "b", None)


# --------------------------------------------------------------------------- identity rules


@dataclass(frozen=True)
class Item:
    id: str | None = None
    url: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None


def test_rule_id_when_ids_present_and_unique() -> None:
    items = [Item("a", "https://e.example/1"), Item("b", "https://e.example/1")]
    assert choose_rule(items) == "id"
    assert [entry_key(i, "id") for i in items] == ["id:a", "id:b"]


@pytest.mark.parametrize("ids", [["a", "a"], ["a", None], ["a", "  "]])
def test_rule_url_when_ids_missing_or_repeated(ids: list[str | None]) -> None:
    items = [
        Item(ids[0], "https://e.example/1?utm_source=x"),
        Item(ids[1], "https://E.example/2#top"),
    ]
    assert choose_rule(items) == "url"
    assert [entry_key(i, "url") for i in items] == [
        "url:https://e.example/1",
        "url:https://e.example/2",
    ]


def test_rule_hash_when_urls_collide_after_canonicalisation() -> None:
    items = [
        Item(url="https://e.example/live?utm_source=a", title="Update 1", content="<p>One</p>"),
        Item(url="https://e.example/live#x", title="Update 2", content="<p>Two</p>"),
    ]
    assert choose_rule(items) == "hash"
    keys = [entry_key(i, "hash") for i in items]
    assert keys[0] == "hash:" + text_hash("Update 1\nOne") and keys[0] != keys[1]


def test_hash_key_ignores_how_the_markup_is_serialised() -> None:
    """feedparser and the fast parse path serialise sanitised markup differently."""
    a = Item(title="Live", content='<p class="x">One &amp; <b>two</b></p>')
    b = Item(title="Live", content="<p>One &#38; <strong>two</strong></p>")
    c = Item(title="Live", content="<p>One &amp; three</p>")
    assert entry_key(a, "hash") == entry_key(b, "hash") != entry_key(c, "hash")


def test_hash_key_uses_summary_when_there_is_no_content() -> None:
    a, b = (
        Item(title="Corrections", summary="<p>On Monday</p>"),
        Item(title="Corrections", summary="<p>On Tuesday</p>"),
    )
    assert entry_key(a, "hash") != entry_key(b, "hash")


def test_entry_key_falls_back_when_the_rule_cannot_apply() -> None:
    assert entry_key(Item(url="https://e.example/x"), "id") == "url:https://e.example/x"
    assert entry_key(Item(title="t", content="c"), "url") == "hash:" + text_hash("t\nc")


def test_rule_of_an_empty_feed() -> None:
    assert choose_rule([]) == "id"


def test_rules_on_parsed_fixtures() -> None:
    """ParsedEntry satisfies the protocol; a CMS that repeats one guid falls back to URLs."""
    sloppy = parse_feed(
        (FIXTURES / "rss20_duplicate_guids.xml").read_bytes(), url="https://sloppy.example.com/rss"
    )
    assert choose_rule(sloppy.entries) == "url"
    assert [entry_key(e, "url") for e in sloppy.entries] == [
        "url:https://sloppy.example.com/story-one",
        "url:https://sloppy.example.com/story-two",
    ]
    good = parse_feed((FIXTURES / "rss20.xml").read_bytes(), url="https://news.example.com/rss")
    assert choose_rule(good.entries) == "id"
    old = parse_feed((FIXTURES / "rss091.xml").read_bytes(), url="http://gazette.example.net/rss")
    assert choose_rule(old.entries) == "url"  # RSS 0.91 has no guids


# --------------------------------------------------------------------------- near duplicates

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "su",
    "ta",
    "ri",
    "po",
    "de",
    "va",
    "gu",
    "ze",
    "fo",
    "bi",
    "hu",
]
VOCABULARY = [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES]


def sentence(rng: random.Random) -> str:
    words = rng.sample(VOCABULARY, rng.randint(12, 18))
    return " ".join(words).capitalize() + "."


def article(rng: random.Random, sentences: int = 20) -> list[str]:
    return [sentence(rng) for _ in range(sentences)]


def test_shingles_normalise_case_punctuation_and_layout() -> None:
    assert shingles("The Quick, brown fox -- jumps!") == shingles("the quick brown\nfox jumps")
    assert len(shingles("one two three four five")) == 2
    assert len(shingles("too short")) == 1 and shingles("...") == set()


def test_simhash_is_stable_64_bit_and_close_for_similar_texts() -> None:
    rng = random.Random(3)
    text = " ".join(article(rng))
    edited = text.replace(text.split(".")[5], " " + sentence(rng)[:-1])
    assert simhash(text) == simhash(text) and 0 <= simhash(text) < 2**64
    assert hamming(simhash(text), simhash(edited)) <= max_hamming(0.8)
    assert hamming(simhash(text), simhash(" ".join(article(rng)))) > 10


def test_jaccard_and_max_hamming_bounds() -> None:
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 0.5 and jaccard(set(), set()) == 0.0
    assert max_hamming(1.0) == 0 and max_hamming(0.8) < max_hamming(0.5) <= 64


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=19))
def test_near_duplicate_with_one_sentence_changed(seed: int, changed: int) -> None:
    rng = random.Random(seed)
    original = article(rng)
    edited = list(original)
    edited[changed] = sentence(rng)
    a, b = " ".join(original), " ".join(edited)
    assert near_duplicate(a, b)
    assert near_duplicate(a, b, a_simhash=simhash(a), b_simhash=simhash(b))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["reuters", "ap", "newsletter"]))
def test_near_duplicate_with_outlet_boilerplate_prepended(seed: int, outlet: str) -> None:
    boilerplate = {
        "reuters": "LONDON (Reuters) -",
        "ap": "WASHINGTON (AP) — Copyright 2024 The Associated Press. All rights reserved.",
        "newsletter": "Sign up for our morning briefing and get the top stories in your inbox every day. Advertisement.",
    }[outlet]
    story = " ".join(article(random.Random(seed)))
    assert near_duplicate(story, f"{boilerplate}\n\n{story}")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=2**32))
def test_unrelated_texts_are_not_near_duplicates(seed: int, offset: int) -> None:
    a = " ".join(article(random.Random(seed)))
    b = " ".join(article(random.Random(seed + offset)))
    assert not near_duplicate(a, b)
    assert not near_duplicate(a, b, a_simhash=simhash(a), b_simhash=simhash(b))


def test_near_duplicate_rejects_half_a_story_and_empty_text() -> None:
    story = article(random.Random(11))
    assert not near_duplicate(" ".join(story), " ".join(story[:10]))
    assert not near_duplicate("", "") and not near_duplicate("...", "Some words here.")


def test_near_duplicate_precheck_rejects_by_simhash_alone() -> None:
    """With stored simhashes far apart the texts are not even shingled (same text here)."""
    text = " ".join(article(random.Random(5)))
    assert near_duplicate(text, text)
    assert not near_duplicate(text, text, a_simhash=0, b_simhash=2**64 - 1)


def test_entry_protocol_accepts_replaced_dataclasses() -> None:
    item = Item("x", "https://e.example/1")
    assert (
        entry_key(replace(item, id=None), choose_rule([replace(item, id=None)]))
        == "url:https://e.example/1"
    )
