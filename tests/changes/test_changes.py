"""Change monitoring: noise is not a change, real edits are summarised and alerted right."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.changes import (
    ChangeSummary,
    ChangeThreshold,
    DiffOp,
    RecheckSchedule,
    TopicDelta,
    comparable_hash,
    comparable_text,
    learn_boilerplate,
    line_key,
    next_recheck,
    parse_schedule,
    parse_threshold,
    render_html,
    render_json,
    render_text,
    retraction_signal,
    retraction_summary,
    should_alert,
    side_text,
    summarize_change,
    topic_delta,
    word_diff,
)
from aggregator.changes.corrections import is_correction_notice

PROMO = [
    "Professional-grade financial intelligence",
    "20M+ securities. Real-time data. Institutional insights.",
    "Trusted by professionals at Goldman Sachs, BlackRock, and JPMorgan",
    "Nouvelles",
]
RELATED = [
    "Related: Nvidia shares slide after DeepSeek launch",
    "Related: Singapore rejects chip smuggling claims",
    "Related: Senate bill would ban AI exports to China",
    "Related: Huang meets Trump at the White House",
]
P1 = (
    "Nvidia chief executive Jensen Huang met President Donald Trump at the White House "
    "on Friday to discuss artificial intelligence and chips."
)
P2 = (
    "The meeting came days after the Chinese start-up DeepSeek released a model that it "
    "says rivals American systems at a fraction of the cost."
)
P3 = (
    "Washington is weighing tighter export controls on advanced processors, officials said, "
    "as investigators look at how DeepSeek obtained its chips."
)
P_NEW = (
    "Lawmakers from both parties urged the administration to close loopholes that let "
    "Chinese firms buy restricted chips through intermediaries in Southeast Asia."
)
CORRECTION = (
    "Correction: An earlier version of this article misstated the day of the meeting; "
    "it was Friday, not Thursday."
)


def page(
    *body: str, stamp: str = "Updated 5 minutes ago", related: tuple[int, ...] = (0, 1, 2)
) -> str:
    """An extracted article page: stamp line, body, related links, promo block."""
    links = [RELATED[i] for i in related]
    return "\n\n".join([stamp, *body, *links, *PROMO])


SIBLING_BODIES = [
    "Sibling story about oil prices rising in Asian trading.",
    "Sibling story about the central bank holding rates.",
    "Sibling story about a merger between two carmakers.",
    "Sibling story about record wheat harvests in Ukraine.",
]


def sibling(n: int) -> str:
    """Another article of the same site, with the site's furniture around it."""
    body = SIBLING_BODIES[n]
    return page(
        body, stamp=f"Updated {n + 1} hours ago", related=((n + 1) % 4, (n + 2) % 4, (n + 3) % 4)
    )


@pytest.fixture
def site_boilerplate() -> frozenset[str]:
    return learn_boilerplate([sibling(n) for n in range(4)])


# --- noise is not a change --------------------------------------------------------


def test_whitespace_and_nbsp_do_not_change_the_hash() -> None:
    a = "First  paragraph here.\n\n\n\nSecond\tparagraph."
    b = "  First paragraph\u00a0here.\nSecond paragraph.  \n"
    assert comparable_hash(a) == comparable_hash(b)
    assert comparable_text(a) == "First paragraph here.\nSecond paragraph."


def test_timestamp_only_changes_give_equal_hashes() -> None:
    v1 = page(P1, "Eulerpool News 3 févr. 2025, 12:36", P2, stamp="Updated 5 minutes ago")
    v2 = page(P1, "Eulerpool News 3 févr. 2025, 14:10", P2, stamp="Mis à jour il y a 3 min")
    v3 = page(P1, "Eulerpool News 4 févr. 2025, 09:02", P2, stamp="Last updated: 14:32 GMT")
    v4 = page(P1, P2, stamp="Aktualisiert vor 2 Stunden")
    assert len({comparable_hash(v) for v in (v1, v2, v3, v4)}) == 1
    assert P1 in comparable_text(v1) and P2 in comparable_text(v1)


def test_stamp_inside_long_paragraph_is_masked_not_dropped() -> None:
    old = P3 + " Updated 14:32 GMT"
    new = P3 + " Updated 15:10 GMT"
    assert comparable_hash(old) == comparable_hash(new)
    assert P3 in comparable_text(new)


def test_real_edit_is_not_mistaken_for_noise() -> None:
    old = page(P1, "Nvidia lost almost 600 billion dollars of market value on Monday.")
    new = page(P1, "Nvidia lost almost 700 billion dollars of market value on Monday.")
    assert comparable_hash(old) != comparable_hash(new)


def test_share_and_comment_counts_are_ignored() -> None:
    old = page(P1, "1.2k shares", "34 comments", P2, "12 commentaires", "Kommentare (5)")
    new = page(P1, "1.3k shares", "41 comments", P2, "15 commentaires", "Kommentare (7)")
    assert comparable_hash(old) == comparable_hash(new)


def test_share_counts_in_prose_are_content() -> None:
    old = "The fund sold 2,000 shares of Nvidia on Friday, according to a filing seen by us."
    new = "The fund sold 3,000 shares of Nvidia on Friday, according to a filing seen by us."
    assert comparable_hash(old) != comparable_hash(new)


def test_learned_boilerplate_covers_promo_and_rotating_related_links(
    site_boilerplate: frozenset[str],
) -> None:
    assert {line_key(line) for line in PROMO + RELATED} <= site_boilerplate
    assert not any("sibling story" in key for key in site_boilerplate)


def test_rotating_promo_block_gives_equal_hashes(site_boilerplate: frozenset[str]) -> None:
    v1 = page(P1, P2, related=(0, 1, 2))
    v2 = page(P1, P2, related=(3, 1))
    assert comparable_hash(v1) != comparable_hash(
        v2
    )  # without learning, rotation looks like an edit
    assert comparable_hash(v1, site_boilerplate) == comparable_hash(v2, site_boilerplate)


def test_seed_article_promo_lines_are_dropped_once_learned(seed_text: str) -> None:
    others = [f"Story {n} body text about markets.\n\n" + "\n\n".join(PROMO) for n in range(3)]
    boilerplate = learn_boilerplate([seed_text, *others])
    text = comparable_text(seed_text, boilerplate)
    assert "Professional-grade financial intelligence" not in text
    assert "Nouvelles" not in text
    assert "Le patron de Nvidia, Jensen Huang" in text


def test_learn_boilerplate_needs_enough_articles() -> None:
    assert learn_boilerplate([page(P1), page(P2)]) == frozenset()
    with pytest.raises(ValueError, match="min_share"):
        learn_boilerplate([], min_share=0)


def test_line_key_ignores_case_digits_and_edge_punctuation() -> None:
    assert line_key("Trusted by 5,000 professionals.") == line_key(
        "  trusted by 7,250 PROFESSIONALS"
    )


# --- one story through its versions ---------------------------------------------------

V1 = ("Trump meets Nvidia's Huang", page(P1, P2, P3))
V2 = ("Trump meets Nvidia chief as US eyes China AI progress", page(P1, P2, P3))
V3 = (V2[0], page(P1, P2, P3, P_NEW, stamp="Updated 1 minute ago"))
V4 = (V2[0], page(P1, P2, P3, P_NEW, CORRECTION, stamp="Updated just now"))
V5 = (V1[0], page(P1, P2, P3, stamp="Updated 2 minutes ago", related=(1, 2, 3)))


def summarize(
    old: tuple[str, str],
    new: tuple[str, str],
    boilerplate: frozenset[str],
    earlier: tuple[tuple[str, str], ...] = (),
) -> ChangeSummary:
    hashes = {comparable_hash(text, boilerplate) for _, text in earlier}
    return summarize_change(*old, *new, boilerplate, earlier_hashes=hashes)


def test_headline_rewrite(site_boilerplate: frozenset[str]) -> None:
    s = summarize(V1, V2, site_boilerplate)
    assert s.headline_changed
    assert (s.old_title, s.new_title) == (V1[0], V2[0])
    assert (s.words_added, s.words_removed, s.paragraphs_added) == (0, 0, 0)
    assert s.kind() == "headline"


def test_paragraph_added(site_boilerplate: frozenset[str]) -> None:
    s = summarize(V2, V3, site_boilerplate)
    assert not s.headline_changed
    assert (s.paragraphs_added, s.paragraphs_removed, s.paragraphs_changed) == (1, 0, 0)
    assert (s.words_added, s.words_removed) == (len(P_NEW.split()), 0)
    assert s.correction is None
    assert s.kind() == "substantial"


def test_correction_appended(site_boilerplate: frozenset[str]) -> None:
    s = summarize(V3, V4, site_boilerplate)
    assert s.correction == CORRECTION
    assert s.paragraphs_added == 1
    assert s.kind() == "correction"


def test_revert_to_first_version(site_boilerplate: frozenset[str]) -> None:
    s = summarize(V4, V5, site_boilerplate, earlier=(V1, V2, V3))
    assert comparable_hash(V5[1], site_boilerplate) == comparable_hash(V1[1], site_boilerplate)
    assert s.is_revert
    assert s.paragraphs_removed == 2
    assert s.kind() == "revert"


def test_noise_only_recheck_is_no_change(site_boilerplate: frozenset[str]) -> None:
    noisy = (V1[0], page(P1, P2, P3, stamp="Updated 3 hours ago", related=(2, 3)))
    s = summarize(V1, noisy, site_boilerplate)
    assert s.kind() == "none"
    assert s.words_changed == 0


def test_small_edit_is_light() -> None:
    s = summarize_change("T", P1, "T", P1.replace("Friday", "Thursday"))
    assert (s.words_added, s.words_removed, s.paragraphs_changed) == (1, 1, 1)
    assert s.kind() == "light"


def test_retraction_summary_kind() -> None:
    assert retraction_summary("Pulled story").kind() == "retraction"


@pytest.mark.parametrize(
    "line",
    [
        "Correction: The minister's name was misspelled.",
        "Corrections: two figures were wrong.",
        "Update, Feb. 3, 2025: The minister resigned.",
        "Editor’s note: this story has been amended.",
        "Clarification - the report was not final.",
        "Mise à jour : le ministre a démissionné.",
        "Rectificatif : une erreur s'est glissée dans le chiffre.",
        "Anmerkung der Redaktion: In einer früheren Fassung stand ein falsches Datum.",
        "Korrektur: Der Name wurde korrigiert.",
        "Corrección: la cifra era incorrecta.",
        "Aggiornamento: il ministro si è dimesso.",
        "An earlier version of this article misstated the date.",
    ],
)
def test_correction_notices_are_recognised(line: str) -> None:
    assert is_correction_notice(line)


@pytest.mark.parametrize(
    "line",
    [
        "Corrections officers said the prison was overcrowded.",
        "Updated figures for 2024 show a rise: more people moved.",
        "(Update 19-May-2020) Test",
        "The company will update its guidance on Monday.",
    ],
)
def test_ordinary_sentences_are_not_corrections(line: str) -> None:
    assert not is_correction_notice(line)


# --- word diff --------------------------------------------------------------------------


def test_word_diff_marks_replaced_word_and_keeps_paragraph_breaks() -> None:
    ops = word_diff("The cat sat.\n\nIt slept.", "The dog sat.\n\nIt slept.")
    assert ops == [
        DiffOp("equal", "The "),
        DiffOp("delete", "cat "),
        DiffOp("insert", "dog "),
        DiffOp("equal", "sat.\n\nIt slept."),
    ]


def test_word_diff_appended_paragraph() -> None:
    ops = word_diff("One.", "One.\n\nTwo more words.")
    assert ops == [DiffOp("equal", "One."), DiffOp("insert", "\n\nTwo more words.")]


_TEXT = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "the", "end.", " ", "  ", "\n", "\n\n", "\t"]),
    max_size=40,
).map("".join)


@given(_TEXT, _TEXT)
def test_word_diff_round_trips(old: str, new: str) -> None:
    ops = word_diff(old, new)
    assert side_text(ops, "old") == old
    assert side_text(ops, "new") == new
    assert all(op.text for op in ops)
    assert all(a.op != b.op for a, b in itertools.pairwise(ops))


def synthetic_article(rng: random.Random, n_words: int) -> str:
    """Zipf-like word frequencies, 18-word sentences, 5-sentence paragraphs."""
    words = [f"w{int(rng.paretovariate(1.1))}" for _ in range(n_words)]
    ends = {0: ".\n\n", 18: ". ", 36: ". ", 54: ". ", 72: ". "}
    return "".join(w + ends.get(i % 90, " ") for i, w in enumerate(words, 1)).strip()


def test_ten_thousand_word_diff_is_fast() -> None:
    rng = random.Random(7)
    old = synthetic_article(rng, 10_000)
    tokens = old.split(" ")
    plain = [i for i, tok in enumerate(tokens) if tok.startswith("w") and tok[1:].isdigit()]
    for i in rng.sample(plain, 100):
        tokens[i] = "changed"
    new = " ".join(tokens)
    start = time.perf_counter()
    ops = word_diff(old, new)
    summary = summarize_change("t", old, "t", new)
    elapsed = time.perf_counter() - start
    assert side_text(ops, "new") == new
    assert (summary.words_added, summary.words_removed) == (100, 100)
    assert elapsed < 1.0, f"10k-word diff and summary took {elapsed:.2f}s"


# --- topics and alerting -------------------------------------------------------------------

NO_TOPICS = TopicDelta((), (), ())


def test_topic_delta_introduced_removed_and_context() -> None:
    old = {"chips": ["Nvidia"], "trade": ["tariffs"], "ai": ["DeepSeek"], "space": []}
    new = {"chips": ["Nvidia"], "ai": ["DeepSeek"], "exports": ["export controls"]}
    diff = word_diff(
        "Nvidia met Trump. Tariffs loom. DeepSeek rose.",
        "Nvidia met Trump. DeepSeek rose sharply. New export controls loom.",
    )
    delta = topic_delta(old, new, diff)
    assert delta == TopicDelta(introduced=("exports",), removed=("trade",), context_changed=())
    far_edit = word_diff("Nvidia met Trump on Friday.", "Nvidia met Trump on Thursday.")
    assert topic_delta({"chips": ["Nvidia"]}, {"chips": ["Nvidia"]}, far_edit) == NO_TOPICS
    # Punctuation sticks to its word, so an aside right after the term touches it.
    aside = word_diff("Nvidia met Trump.", "Nvidia, the chipmaker, met Trump.")
    assert topic_delta({"chips": ["Nvidia"]}, {"chips": ["Nvidia"]}, aside).context_changed == (
        "chips",
    )
    replaced = word_diff("Nvidia met Trump.", "Nvidia and AMD met Trump.")
    delta2 = topic_delta({"chips": ["Nvidia"]}, {"chips": ["Nvidia", "AMD"]}, replaced)
    assert delta2.context_changed == ("chips",)


def _summary(**changes: Any) -> ChangeSummary:
    return dataclasses.replace(ChangeSummary(False, "t", "t", 0, 0, 0, 0, 0, None), **changes)


def test_small_edit_does_not_alert() -> None:
    assert should_alert(_summary(words_added=3, words_removed=2), NO_TOPICS, ChangeThreshold()) == (
        False,
        [],
    )


@pytest.mark.parametrize(
    ("summary", "delta", "reason"),
    [
        (_summary(headline_changed=True, new_title="u"), NO_TOPICS, "headline changed"),
        (_summary(words_added=15, words_removed=5), NO_TOPICS, "20 words changed"),
        (_summary(), TopicDelta(("export-controls",), (), ()), "topic export-controls introduced"),
        (_summary(), TopicDelta((), ("chips",), ()), "topic chips removed"),
        (_summary(correction="Correction: x"), NO_TOPICS, "correction notice"),
        (_summary(retracted=True), NO_TOPICS, "story pulled"),
    ],
)
def test_each_threshold_criterion_alerts(
    summary: ChangeSummary, delta: TopicDelta, reason: str
) -> None:
    assert should_alert(summary, delta, ChangeThreshold()) == (True, [reason])


def test_disabled_criteria_stay_quiet() -> None:
    quiet = ChangeThreshold(headline=False, min_words=0, topic_change=False, correction=False)
    summary = _summary(headline_changed=True, words_added=500, correction="Correction: x")
    assert should_alert(summary, TopicDelta(("a",), ("b",), ()), quiet) == (False, [])


def test_context_change_alone_does_not_alert() -> None:
    assert should_alert(_summary(), TopicDelta((), (), ("chips",)), ChangeThreshold())[0] is False


def test_parse_threshold() -> None:
    config = {"headline": False, "min_words": 50, "topic_change": True, "correction": True}
    assert parse_threshold(config) == ChangeThreshold(headline=False, min_words=50)
    assert parse_threshold(None) == ChangeThreshold()
    with pytest.raises(ValueError, match="unknown change threshold key"):
        parse_threshold({"min_word": 5})
    with pytest.raises(ValueError, match="headline must be true or false"):
        parse_threshold({"headline": "yes"})
    with pytest.raises(ValueError, match="min_words"):
        parse_threshold({"min_words": -1})


@pytest.mark.parametrize(
    ("status", "vanished", "expected"),
    [
        (404, False, "page returned 404"),
        (410, False, "page returned 410 Gone"),
        (200, True, "item vanished from its feed while neighbours remain"),
        (503, False, None),
        (None, False, None),
    ],
)
def test_retraction_signal(status: int | None, vanished: bool, expected: str | None) -> None:
    assert retraction_signal(status, vanished) == expected


# --- re-check schedule ---------------------------------------------------------------------

T0 = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)


def all_rechecks(schedule: RecheckSchedule) -> list[datetime]:
    times: list[datetime] = []
    nxt = next_recheck(T0, None, schedule)
    while nxt is not None:
        times.append(nxt)
        nxt = next_recheck(T0, nxt, schedule)
    return times


def test_default_schedule_decays_then_stops() -> None:
    times = all_rechecks(RecheckSchedule.DEFAULT)
    gaps = [b - a for a, b in itertools.pairwise([T0, *times])]
    minutes = timedelta(minutes=1)
    assert times[:2] == [T0 + 15 * minutes, T0 + 30 * minutes]
    assert gaps[:12] == [timedelta(minutes=15)] * 12  # up to 3 h
    assert gaps[12:33] == [timedelta(hours=1)] * 21  # 3 h -> 24 h
    assert gaps[33:81] == [timedelta(hours=3)] * 48  # 1 d -> 7 d
    assert gaps[81:] == [timedelta(days=1)] * 23  # 7 d -> 30 d
    assert times[-1] == T0 + timedelta(days=30)
    assert next_recheck(T0, T0 + timedelta(days=31), RecheckSchedule.DEFAULT) is None


def test_late_recheck_continues_from_last_check() -> None:
    last = T0 + timedelta(hours=5, minutes=7)  # the daemon was late
    assert next_recheck(T0, last, RecheckSchedule.DEFAULT) == last + timedelta(hours=1)


_STEPS = st.lists(st.tuples(st.integers(1, 500), st.integers(1, 300)), min_size=1, max_size=4).map(
    lambda raw: RecheckSchedule(
        tuple(
            (timedelta(minutes=sum(span for span, _ in raw[: i + 1])), timedelta(minutes=every))
            for i, (_, every) in enumerate(raw)
        )
    )
)


@given(_STEPS)
def test_rechecks_are_non_decreasing_and_follow_the_steps(schedule: RecheckSchedule) -> None:
    times = all_rechecks(schedule)
    for previous, current in itertools.pairwise([T0, *times]):
        assert current > previous
        assert current - previous == schedule.interval_at(previous - T0)
    assert all(t - T0 <= schedule.horizon for t in times)


def test_parse_schedule_matches_default() -> None:
    spec = [
        {"every": "15m", "until": "3h"},
        {"every": "1h", "until": "1d"},
        {"every": "3h", "until": "7d"},
        {"every": "1d", "until": "30d"},
    ]
    assert parse_schedule(spec) == RecheckSchedule.DEFAULT


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "empty"),
        ("15m", "must be a list"),
        ([{"until": "3h"}], "step 1: 'every' is missing"),
        ([{"every": "15m", "until": "3h"}, {"every": "1h"}], "step 2: 'until' is missing"),
        ([{"every": "soon", "until": "3h"}], "step 1: every: 'soon' is not a duration"),
        ([{"every": "0s", "until": "3h"}], "step 1: every must be positive"),
        ([{"every": "1h", "until": "1d"}, {"every": "1d", "until": "3h"}], "step 2: until 3h"),
        ([{"every": "1h", "until": "1d", "often": True}], "step 1: unknown key"),
        (["15m"], "step 1: expected a mapping"),
    ],
)
def test_parse_schedule_errors(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(spec)  # type: ignore[arg-type]


# --- rendering --------------------------------------------------------------------------------


def test_render_html_escapes_everything() -> None:
    html = render_html(
        "Old <b>title</b>",
        "Safe text.\n\n<script>alert(1)</script>",
        "New & title",
        "Safe text, now.",
    )
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "New &amp; title" in html
    assert html.startswith("<table") and html.endswith("</table>")
    assert "<del" in html and "<ins" in html


def test_render_text_plain_and_color() -> None:
    ops = word_diff("The cat sat.", "The dog sat.")
    assert render_text(ops, color=False) == "The [-cat-] {+dog+} sat."
    colored = render_text(ops, color=True)
    assert "\x1b[31mcat\x1b[0m" in colored and "\x1b[32mdog\x1b[0m" in colored


def test_render_json_is_serialisable() -> None:
    ops = word_diff("a b", "a c")
    summary = summarize_change("t", "a b", "t", "a c")
    data = json.loads(json.dumps(render_json(ops, summary)))
    assert data["kind"] == "light"
    assert data["summary"]["words_added"] == 1
    assert data["ops"][0] == {"op": "equal", "text": "a "}
