"""Article analysis: the tokens, stems and lookup tables matching works on.

Analysis is independent of the topics, so one :class:`AnalyzedDoc` can be
matched against any number of indexes (and is what makes matching cost
independent of how many topics there are: every per-word step happens here,
once per article).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from aggregator.query.normalize import has_stemmer, iter_words, language_code, stem, tokenize

#: Text fields in document order; a token's ``field`` is an index into this.
FIELDS = ("title", "summary", "body")

#: How much text language detection looks at: enough to be right, cheap on long bodies.
DETECT_CHARS = 2000

#: Separators around each distinct normal form in ``AnalyzedDoc.wild_text``:
#: anchor prefix ("\x02export") and suffix ("kontrolle\x03") wildcard patterns.
WORD_START = "\x02"
WORD_END = "\x03"


@dataclass(frozen=True)
class Document:
    """What the matcher sees of an article."""

    title: str = ""
    summary: str = ""
    body: str = ""
    language: str | None = None
    feeds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class DocToken(NamedTuple):
    """A word of one field: offsets into that field's original text, normal form, stem."""

    field: int
    start: int
    end: int
    norm: str
    stem: str


@dataclass(frozen=True, eq=False)
class AnalyzedDoc:
    """A document tokenised once; positions are indexes into ``tokens``."""

    document: Document
    language: str | None
    tokens: tuple[DocToken, ...]
    by_norm: Mapping[str, tuple[int, ...]]
    by_stem: Mapping[str, tuple[int, ...]]
    wild_text: str
    wild_starts: tuple[int, ...]
    wild_norms: tuple[str, ...]
    meta: frozenset[tuple[str, str]]

    def text(self, field: int) -> str:
        """Original text of a field."""
        return str(getattr(self.document, FIELDS[field]))


def detect_language(doc: Document) -> str | None:
    """Language of an article without one: fastText's lid.176 on the start of its text."""
    sample = " ".join((doc.title, doc.summary, doc.body[:DETECT_CHARS])).strip()
    if not tokenize(sample[:200]):
        return None
    from aggregator.extract.language import detect_language as identify

    code = identify(sample)
    return language_code(code) if code else None


def _field_tokens(doc: Document, language: str | None) -> list[DocToken]:
    """All tokens of all fields, stemmed in the document's language when Snowball knows it."""
    out: list[DocToken] = []
    for index, name in enumerate(FIELDS):
        words = iter_words(getattr(doc, name))
        if language is not None and has_stemmer(language):
            out += [DocToken(index, a, b, n, stem(f, language)) for a, b, f, n in words]
        else:
            out += [DocToken(index, a, b, n, n) for a, b, f, n in words]
    return out


def _positions(keys: list[str]) -> dict[str, tuple[int, ...]]:
    """Token positions of each distinct key, in reading order."""
    table: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        found = table.get(key)
        if found is None:
            table[key] = [i]
        else:
            found.append(i)
    return {k: tuple(v) for k, v in table.items()}


def _wild_layout(norms: list[str]) -> tuple[str, tuple[int, ...]]:
    """Distinct normal forms laid out as ``\\x02w1\\x03\\x02w2\\x03...`` with start offsets."""
    starts: list[int] = []
    offset = 0
    for norm in norms:
        starts.append(offset)
        offset += len(norm) + 2
    text = "".join(f"{WORD_START}{n}{WORD_END}" for n in norms)
    return text, tuple(starts)


def _meta(doc: Document, language: str | None) -> frozenset[tuple[str, str]]:
    """Metadata keys as query ``feed:``/``tag:``/``lang:`` atoms spell them."""
    keys = {("feed", f.strip().casefold()) for f in doc.feeds}
    keys |= {("tag", t.strip().casefold()) for t in doc.tags}
    if language:
        keys.add(("lang", language))
    return frozenset(keys)


def analyze(doc: Document) -> AnalyzedDoc:
    """Tokenise, normalise and stem every field once; detect the language if unknown."""
    language = language_code(doc.language) or detect_language(doc)
    tokens = _field_tokens(doc, language)
    by_norm = _positions([t.norm for t in tokens])
    wild_norms = list(by_norm)
    wild_text, wild_starts = _wild_layout(wild_norms)
    return AnalyzedDoc(
        document=doc,
        language=language,
        tokens=tuple(tokens),
        by_norm=by_norm,
        by_stem=_positions([t.stem for t in tokens]) if has_stemmer(language) else {},
        wild_text=wild_text,
        wild_starts=wild_starts,
        wild_norms=tuple(wild_norms),
        meta=_meta(doc, language),
    )
