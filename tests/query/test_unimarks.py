"""The combining-mark table computed ahead (`query.unimarks`) is what this Python's
Unicode database says, and text splits the same with it as with a fresh computation."""

from __future__ import annotations

import unicodedata

import pytest

from aggregator.query import normalize, unimarks


def test_the_table_is_this_unicode_versions_marks() -> None:
    if unicodedata.unidata_version != unimarks.UNIDATA_VERSION:
        pytest.skip("another Unicode version: normalize computes the ranges itself")
    assert normalize.combining_mark_ranges() == unimarks.RANGES


def test_decomposed_words_stay_whole() -> None:
    # "contrôle" decomposed (o + U+0302) and a Devanagari word with a spacing mark (Mc)
    words = [t.norm for t in normalize.tokenize("contro\u0302le \u0915\u093f\u0924\u093e\u092c")]
    assert words == ["controle", normalize.fold("\u0915\u093f\u0924\u093e\u092c")]
