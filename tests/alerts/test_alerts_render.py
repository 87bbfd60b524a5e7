"""Shared rendering: cleaned lines, highlight ranges, subjects, templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.alerts.render import (
    MAX_SUBJECT,
    Markup,
    Templates,
    clean_line,
    html_snippet,
    spans,
    subject,
    text_snippet,
)
from aggregator.alerts.types import Snippet
from tests.support.outbox import article, change_event, match_event


def test_clean_line_removes_every_breaking_character() -> None:
    assert clean_line("a\r\nb\u2028c\u2029d\x00e\x85f\tg  h") == "a b c d e f g h"
    assert clean_line(None) == ""


@pytest.mark.slow
@given(st.text())
def test_clean_line_never_leaves_a_line_break(text: str) -> None:
    assert len(clean_line(text).splitlines()) <= 1


def test_highlights_are_clamped_merged_and_keep_word_boundaries() -> None:
    snippet = Snippet("exports of chips", ((0, 6), (3, 7), (40, 50), (12, 11), (-5, 0)))
    assert spans(snippet) == [(0, 7)]
    assert text_snippet(snippet) == "*exports* of chips"
    assert text_snippet(Snippet("exports", ((0, 6),))) == "*export*s"  # no space inserted


def test_html_snippet_escapes_inside_and_outside_marks() -> None:
    snippet = Snippet("<b>chips</b> & <i>", ((3, 8),))
    assert html_snippet(snippet) == "&lt;b&gt;<mark>chips</mark>&lt;/b&gt; &amp; &lt;i&gt;"


def test_subjects() -> None:
    assert subject([match_event()]) == "[export-controls] EU tightens export controls on chips"
    assert subject([change_event()]).startswith("[export-controls] Edited: EU delays")
    long = subject([match_event(art=article(title="word " * 100))])
    assert len(long) <= MAX_SUBJECT and long.endswith("…")


def test_templates_escape_values_in_html_unless_marked(tmp_path: Path) -> None:
    (tmp_path / "x.html").write_text("<p>$a</p>$b")
    (tmp_path / "x.txt").write_text("$a $b")
    templates = Templates(tmp_path)
    values = {"a": "<script>", "b": Markup("<hr>")}
    assert templates.render("x.html", values) == "<p>&lt;script&gt;</p><hr>"
    assert templates.render("x.txt", values) == "<script> <hr>"


def test_a_value_is_not_expanded_again() -> None:
    rendered = Templates().render(
        "source.txt", {"feed": "$url", "url": "u", "problem": "p", "detail": "d"}
    )
    assert "Feed: $url" in rendered
