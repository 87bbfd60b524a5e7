"""Text normalisation, tokenisation and stemming shared by queries and articles.

Queries and article text must go through exactly the same steps, otherwise a
query word can never equal a text word.  The steps are:

1. split the ORIGINAL text into words (letters, digits and combining marks);
   apostrophes glue a word group together so that elision can be undone, every
   other character (hyphen, punctuation, space, line break) separates words;
2. undo French/Italian elision (``l'exportation`` -> ``exportation``) and drop an
   English possessive ``'s``: these are not words of their own, so they neither
   match nor count in NEAR distances;
3. normalise each word: NFKC, case-fold, accents stripped.

Every :class:`RawToken` keeps its character offsets into the original text, so
snippets and highlights point at what the reader actually sees.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # loaded by the first stemming: validating a query does not stem
    import snowballstemmer

#: Apostrophes treated alike: straight, curly (left/right), modifier letter,
#: grave and acute accents used as apostrophes by sloppy typists.
APOSTROPHES = "'\u2019\u2018\u02bc`\u00b4"

#: Characters that may sit inside a word without splitting it and are then
#: deleted (soft hyphen, zero-width (non-)joiner, word joiner): HTML extraction
#: leaves soft hyphens inside long German words ("Export\u00adkontrollen").
IGNORABLE = "\u00ad\u200c\u200d\u2060"

#: Hyphen characters: a hyphenated query word also matches the words written
#: together ("semi-conducteur" -> "semiconducteur"), see query.py.
HYPHENS = "-\u2010\u2011"

#: Elided clitics (French, Italian, Catalan) written before an apostrophe.
ELISIONS = frozenset({
    "l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu",
    "presqu", "quelqu", "dell", "all", "dall", "nell", "sull", "coll", "pell", "quell", "quest",
    "un", "nessun", "buon", "bell", "gl", "anch", "dov", "com", "cos",
})  # fmt: skip

#: ISO 639-1 code -> Snowball algorithm name.
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian",
    "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


def combining_mark_ranges() -> tuple[tuple[int, int], ...]:
    """Every combining mark (category M) we may meet, as code point ranges, computed
    from this Python's Unicode database (~15 ms: `query.unimarks` holds them ahead)."""
    ranges: list[tuple[int, int]] = []
    for cp in [*range(0x20000), *range(0xE0100, 0xE01F0)]:
        if unicodedata.category(chr(cp))[0] != "M":
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return tuple(ranges)


def _combining_marks() -> str:
    """A regex class body for every combining mark (category M) we may meet.

    Python's ``\\w`` does not include combining marks, so decomposed text
    ("contro\\u0302le") would otherwise be cut in two. The ranges come from
    `query.unimarks` when it was made for this Python's Unicode version, else they
    are computed here, so the table never goes stale.
    """
    from aggregator.query import unimarks

    same = unicodedata.unidata_version == unimarks.UNIDATA_VERSION
    ranges = unimarks.RANGES if same else combining_mark_ranges()
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)


_MARKS = _combining_marks()
_WORD = rf"(?:[^\W_\u02bc]|[{_MARKS}{IGNORABLE}])+"
_APOS = f"[{re.escape(APOSTROPHES)}]"
#: A word group: words glued by apostrophes ("l'exportation", "Nvidia's").
WORD_GROUP_RE = re.compile(rf"{_WORD}(?:{_APOS}{_WORD})*")
_WORD_RE = re.compile(_WORD)
_APOS_RE = re.compile(_APOS)
_IGNORABLE_TABLE = {ord(c): None for c in IGNORABLE}


class RawToken(NamedTuple):
    """One word of a text: offsets into the original, its folded and normal forms."""

    start: int
    end: int
    folded: str  # NFKC + case-fold, accents kept (what the stemmer wants)
    norm: str  # folded with accents stripped (what matching compares)


def strip_accents(text: str) -> str:
    """Drop combining marks after canonical decomposition (contrôle -> controle)."""
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept)


def _fold_once(text: str) -> str:
    """NFKC, case-fold, NFKC again (case-folding can denormalise), unify apostrophes."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKC", text).translate(_IGNORABLE_TABLE)
    return _APOS_RE.sub("'", text)


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Case- and compatibility-folded text with accents kept.

    Iterates to a fixed point because NFKC and case folding do not commute for
    a handful of code points; normalising twice must equal normalising once.
    """
    for _ in range(4):
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return text


@lru_cache(maxsize=200_000)
def normalize(text: str) -> str:
    """The matching form of a text: folded (see :func:`fold`) and accents stripped."""
    for _ in range(4):
        normal = strip_accents(fold(text))
        if normal == text:
            break
        text = normal
    return text


def _split_group(group: str) -> list[tuple[int, int]]:
    """Word spans inside an apostrophe-glued group, elision and possessive removed."""
    spans = [m.span() for m in _WORD_RE.finditer(group)]
    while len(spans) > 1 and fold(group[slice(*spans[0])]) in ELISIONS:
        spans.pop(0)
    if len(spans) > 1 and fold(group[slice(*spans[-1])]) == "s":
        spans.pop()
    return spans


_FORMS: dict[str, tuple[str, str]] = {}
_FORMS_MAX = 300_000


def word_forms(raw: str) -> tuple[str, str]:
    """(folded, normal) forms of one raw word, memoised: articles repeat their words."""
    forms = _FORMS.get(raw)
    if forms is None:
        if len(_FORMS) >= _FORMS_MAX:
            _FORMS.clear()
        folded = fold(raw)
        forms = _FORMS[raw] = (folded, normalize(folded))
    return forms


def iter_words(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, folded, normal) of each word: the hot loop behind :func:`tokenize`."""
    has_apostrophe = _APOS_RE.search
    for m in WORD_GROUP_RE.finditer(text):
        group = m.group()
        if not has_apostrophe(group):
            folded, norm = word_forms(group)
            if norm:
                yield m.start(), m.end(), folded, norm
            continue
        base = m.start()
        for a, b in _split_group(group):
            folded, norm = word_forms(group[a:b])
            if norm:
                yield base + a, base + b, folded, norm


def tokenize(text: str) -> list[RawToken]:
    """Words of ``text`` with offsets into it, elision undone, in reading order."""
    return [RawToken(*word) for word in iter_words(text)]


def language_code(language: str | None) -> str | None:
    """Primary ISO 639 subtag, lower-case ("fr-FR" -> "fr"); None for empty input."""
    if not language:
        return None
    code = re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
    return code or None


def has_stemmer(language: str | None) -> bool:
    """Whether Snowball knows ``language`` (ISO code)."""
    return language is not None and language in SNOWBALL


_LOCAL = threading.local()


def _stemmer(language: str) -> snowballstemmer.Stemmer:
    """One stemmer per thread and language: Snowball stemmers keep mutable state."""
    cache: dict[str, snowballstemmer.Stemmer] = _LOCAL.__dict__.setdefault("stemmers", {})
    if language not in cache:
        import snowballstemmer  # all of Snowball's languages: loaded when first needed

        cache[language] = snowballstemmer.stemmer(SNOWBALL[language])
    return cache[language]


_STEMS: dict[str, dict[str, str]] = {}
_STEMS_MAX = 300_000


def stem(folded: str, language: str) -> str:
    """Snowball stem of a folded word, accents stripped afterwards (memoised per language).

    Stemming the accented form keeps the stemmer's own rules intact (French
    suffixes such as -é); stripping after makes "controles" and "contrôles"
    land on the same stem.  Unknown languages return the normal form.
    """
    cache = _STEMS.get(language)
    if cache is None:
        cache = _STEMS.setdefault(language, {})
    found = cache.get(folded)
    if found is None:
        if len(cache) >= _STEMS_MAX:
            cache.clear()
        found = cache[folded] = _stem(folded, language)
    return found


def _stem(folded: str, language: str) -> str:
    if language not in SNOWBALL:
        return normalize(folded)
    return normalize(_stemmer(language).stemWord(folded))
