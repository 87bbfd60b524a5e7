"""Term expansion: a query's words turned into their equivalents in each language.

For each word of a query (a term, a wildcard, each word of a phrase) the
encoder embeds the word as written -- for a trailing wildcard, the most
frequent source-language words it covers -- and looks for the nearest words in
each language's candidate vocabulary (:mod:`.vocab`).  Words near enough become
literal patterns on normalised text:

- languages with a Snowball stemmer: the stem as a prefix (``contrôl*``), so
  every inflection matches; German and Dutch: inside words too
  (``*kontroll*``), for compounds such as ``Exportkontrollen``;
- Chinese, Japanese, Thai, Korean and Arabic: inside words, because their
  words are not separated by spaces (CJK, Thai) or carry attached particles
  and articles (Korean, Arabic ``ال``).

The result is literal, inspectable and explainable: ``topics expand`` prints it
and ``--write`` can put it into feeds.yaml.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from aggregator.query.normalize import has_stemmer, normalize, stem
from aggregator.query.syntax import (
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Scope,
    Term,
    Wildcard,
)
from aggregator.topics.crosslingual.encoder import ENCODER_LANGUAGES, Encoder
from aggregator.topics.crosslingual.vocab import UNSPACED, Vocabulary

#: A candidate word must be at least this near the query word (cosine)...
MIN_SCORE = 0.60
#: ...and within this much of the best candidate of its language.
MARGIN = 0.25
#: At most this many words per query word and language.
TOP_K = 12
#: Outside the encoder's languages nothing checks an expansion afterwards: stricter.
UNCOVERED_MIN_SCORE = 0.85
UNCOVERED_TOP_K = 4
#: Shortest stem used as a prefix; shorter ones match whole words only.
MIN_PREFIX = 4
#: Shortest stem matched inside compounds (German, Dutch).
MIN_INFIX = 5
#: Thai loses its vowel signs to normalisation: shorter patterns match everywhere.
MIN_THAI = 3
#: Languages matched inside words whatever their script.
INFIX_LANGUAGES = UNSPACED | {"ko", "ar"}
COMPOUNDING = frozenset({"de", "nl"})


@dataclass(frozen=True)
class Pattern:
    """A literal test on a normalised word: ``exact``, ``prefix`` or ``infix``."""

    text: str
    mode: str

    def key(self) -> str:
        """Aho-Corasick key over ``\\x02word\\x03`` runs (see analyze.WORD_START)."""
        start = "" if self.mode == "infix" else "\x02"
        end = "\x03" if self.mode == "exact" else ""
        return f"{start}{self.text}{end}"

    def query_text(self) -> str:
        """The pattern in query syntax (for ``topics expand --write``)."""
        if self.mode == "exact":
            return self.text
        if self.mode == "prefix":
            return f"{self.text}*"
        return f"*{self.text}*"


@dataclass(frozen=True)
class Expansion:
    """One word of another language, how near it is, and the pattern it becomes."""

    language: str
    word: str
    score: float
    pattern: Pattern


@dataclass(frozen=True)
class Slot:
    """One word of the query, as written, with its own pattern and expansions."""

    source: str
    own: Pattern
    expansions: tuple[Expansion, ...]


# ----------------------------------------------------------------- expanded trees


@dataclass(frozen=True)
class XSlot:
    index: int


@dataclass(frozen=True)
class XAll:
    children: tuple[XNode, ...]


@dataclass(frozen=True)
class XAny:
    children: tuple[XNode, ...]


@dataclass(frozen=True)
class XNot:
    child: XNode


@dataclass(frozen=True)
class XMeta:
    kind: str
    value: str


XNode = XSlot | XAll | XAny | XNot | XMeta


def own_pattern(part: Term | Wildcard) -> Pattern:
    if isinstance(part, Term):
        return Pattern(part.norm, "exact")
    if part.leading:
        return Pattern(part.norm, "infix")
    return Pattern(part.norm, "prefix" if part.trailing else "exact")


def source_text(part: Term | Wildcard) -> str:
    if isinstance(part, Term):
        return part.norm
    return f"{'*' if part.leading else ''}{part.norm}{'*' if part.trailing else ''}"


def leaves(node: Node) -> Iterator[Term | Wildcard]:
    """Every word of a query in reading order (phrases word by word)."""
    match node:
        case Term() | Wildcard():
            yield node
        case Phrase():
            yield from node.parts
        case And() | Or():
            for child in node.children:
                yield from leaves(child)
        case Not() | Scope():
            yield from leaves(node.child)
        case Near():
            yield from leaves(node.left)
            yield from leaves(node.right)
        case Meta():
            return


def shape(node: Node, slots: dict[tuple[str, str], int]) -> XNode:
    """The query as a tree over slots: phrases and NEAR become "all in one passage".

    Word order and distance do not carry across languages ("export controls",
    "contrôles à l'exportation", "Exportkontrollen"), so they are dropped; the
    passage (a sentence and its neighbour) keeps the words together instead.
    """
    match node:
        case Term() | Wildcard():
            p = own_pattern(node)
            return XSlot(slots.setdefault((p.text, p.mode), len(slots)))
        case Phrase():
            return XAll(tuple(shape(p, slots) for p in node.parts))
        case And():
            return XAll(tuple(shape(c, slots) for c in node.children))
        case Or():
            return XAny(tuple(shape(c, slots) for c in node.children))
        case Not():
            return XNot(shape(node.child, slots))
        case Near():
            return XAll((shape(node.left, slots), shape(node.right, slots)))
        case Scope():
            return shape(node.child, slots)
        case Meta():
            return XMeta(node.kind, node.value)
    raise TypeError(node)  # pragma: no cover


def positive_slots(node: XNode) -> set[int]:
    """Slots whose presence can make the tree true (not under NOT)."""
    match node:
        case XSlot():
            return {node.index}
        case XAll() | XAny():
            return set().union(*(positive_slots(c) for c in node.children))
        case XNot() | XMeta():
            return set()
    raise TypeError(node)  # pragma: no cover


# ------------------------------------------------------------------ the expander


def target_pattern(word: str, language: str) -> Pattern | None:
    """The literal pattern that a near word of ``language`` becomes."""
    norm = normalize(word)
    if not norm:
        return None
    if language in INFIX_LANGUAGES:
        base = norm
        if language == "ar" and has_stemmer("ar"):
            stemmed = normalize(stem(word.casefold(), "ar"))
            base = stemmed if len(stemmed) >= 3 else norm
        shortest = MIN_THAI if language == "th" else 2
        return Pattern(base, "infix") if len(base) >= shortest else None
    code = "nl" if language == "nl" else language
    stemmed = normalize(stem(word.casefold(), code)) if has_stemmer(code) else norm
    if language in COMPOUNDING and len(stemmed) >= MIN_INFIX:
        return Pattern(stemmed, "infix")
    if len(stemmed) >= MIN_PREFIX:
        return Pattern(stemmed, "prefix")
    return Pattern(norm, "exact")


def _subsumed(p: Pattern, others: Sequence[Pattern]) -> bool:
    """True when another pattern already matches every word ``p`` matches."""
    for o in others:
        if o == p:
            continue
        if o.mode == "infix" and o.text in p.text:
            return True
        if o.mode == "prefix" and p.mode in ("prefix", "exact") and p.text.startswith(o.text):
            return True
    return False


@lru_cache(maxsize=8)
def _source_words(language: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The source language's words by frequency, and the same sorted (for prefix search)."""
    from aggregator.topics.crosslingual.vocab import candidate_words

    words, _ = candidate_words(language, 100_000)
    by_rank = tuple(dict.fromkeys(normalize(w) for w in words))
    return by_rank, tuple(sorted(by_rank))


@lru_cache(maxsize=65_536)
def _completions(prefix: str, language: str) -> tuple[str, ...]:
    """The three most frequent words starting with ``prefix``."""
    by_rank, ordered = _source_words(language)
    lo = bisect_left(ordered, prefix)
    hi = bisect_left(ordered, prefix + "\U0010ffff")
    found = set(ordered[lo:hi])
    if not found:
        return ()
    rank = _ranks(language)
    return tuple(sorted(found, key=rank.__getitem__)[:3])


@lru_cache(maxsize=8)
def _ranks(language: str) -> dict[str, int]:
    return {w: i for i, w in enumerate(_source_words(language)[0])}


def probe_words(part: Term | Wildcard, language: str = "en") -> list[str]:
    """What the encoder embeds for a query word: the word, or the commonest completions."""
    if isinstance(part, Wildcard) and part.trailing and not part.leading:
        return list(_completions(part.norm, language)) or [part.norm]
    return [part.norm]


class Expander:
    """Finds, for query words, the near words of a language's vocabulary.

    Work is done per (word, language) on first need and memoised: a daemon
    whose feeds are French and German never loads the Thai vocabulary.
    """

    def __init__(
        self,
        encoder: Encoder,
        vocabulary: Callable[[str], Vocabulary],
        *,
        min_score: float | None = None,
        margin: float | None = None,
        top_k: int | None = None,
    ) -> None:
        self.encoder = encoder
        self._load = vocabulary
        self._vocabularies: dict[str, Vocabulary] = {}
        self.min_score = MIN_SCORE if min_score is None else min_score
        self.margin = MARGIN if margin is None else margin
        self.top_k = TOP_K if top_k is None else top_k
        self._probes: dict[tuple[str, ...], np.ndarray] = {}
        self._memo: dict[tuple[tuple[str, ...], str], tuple[Expansion, ...]] = {}

    def vocabulary(self, language: str) -> Vocabulary:
        """A language's vocabulary, loaded on first need (from the disk cache)."""
        if language not in self._vocabularies:
            self._vocabularies[language] = self._load(language)
        return self._vocabularies[language]

    def release(self, language: str) -> None:
        """Forget a language's vocabulary (15 MB) once its expansions are built: a
        reloaded feeds.yaml with new words reads it again from the disk cache."""
        self._vocabularies.pop(language, None)

    def _probe(self, probes: tuple[str, ...]) -> np.ndarray:
        if probes not in self._probes:
            vecs = self.encoder.encode(list(probes))
            probe = vecs.mean(axis=0)
            probe /= max(float(np.linalg.norm(probe)), 1e-6)
            self._probes[probes] = probe
        return self._probes[probes]

    def prepare(self, parts: Sequence[Term | Wildcard], source_language: str = "en") -> None:
        """Encode the probes of many query words in one batch (a thousand topics load fast)."""
        todo = list(
            dict.fromkeys(
                tuple(probe_words(p, source_language))
                for p in parts
                if tuple(probe_words(p, source_language)) not in self._probes
            )
        )
        if not todo:
            return
        flat = [w for probes in todo for w in probes]
        vecs = self.encoder.encode(flat)
        row = 0
        for probes in todo:
            probe = vecs[row : row + len(probes)].mean(axis=0)
            probe /= max(float(np.linalg.norm(probe)), 1e-6)
            self._probes[probes] = probe
            row += len(probes)

    def expand_words(self, probes: Sequence[str], language: str) -> tuple[Expansion, ...]:
        key = (tuple(probes), language)
        if key not in self._memo:
            self._memo[key] = tuple(self._nearest(language, self._probe(tuple(probes))))
        return self._memo[key]

    def prepare_language(
        self, parts: Sequence[Term | Wildcard], language: str, source_language: str = "en"
    ) -> None:
        """Expand many query words into one language with one matrix product."""
        self.prepare(parts, source_language)
        if language == source_language:
            return
        todo = list(
            dict.fromkeys(
                key
                for p in parts
                if ((key := tuple(probe_words(p, source_language))), language) not in self._memo
            )
        )
        if not todo:
            return
        vocab = self.vocabulary(language)
        if not vocab.words:
            for probes in todo:
                self._memo[(probes, language)] = ()
            return
        for start in range(0, len(todo), 256):
            chunk = todo[start : start + 256]
            scores = vocab.scores(np.stack([self._probes[k] for k in chunk]).T)
            for j, probes in enumerate(chunk):
                self._memo[(probes, language)] = tuple(
                    self._select(vocab, language, np.ascontiguousarray(scores[:, j]))
                )

    def _nearest(self, language: str, probe: np.ndarray) -> list[Expansion]:
        vocab = self.vocabulary(language)
        if not vocab.words:
            return []
        return self._select(vocab, language, vocab.scores(probe))

    def _select(self, vocab: Vocabulary, language: str, scores: np.ndarray) -> list[Expansion]:
        k = min(self.top_k * 3, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        best = float(scores[top[0]])
        floor, most = self.min_score, self.top_k
        if language not in ENCODER_LANGUAGES:  # no semantic check follows: only close words
            floor, most = max(floor, UNCOVERED_MIN_SCORE), min(most, UNCOVERED_TOP_K)
        chosen: list[Expansion] = []
        patterns: list[Pattern] = []
        for i in top:
            s = float(scores[i])
            if s < floor or s < best - self.margin or len(chosen) >= most:
                break
            pattern = target_pattern(vocab.words[i], language)
            if pattern is None or pattern in patterns:
                continue
            chosen.append(Expansion(language, vocab.words[i], round(s, 3), pattern))
            patterns.append(pattern)
        return [e for e in chosen if not _subsumed(e.pattern, patterns)]

    def expand_part(
        self, part: Term | Wildcard, language: str, source_language: str = "en"
    ) -> tuple[Expansion, ...]:
        """Expansions of one query word into one language (none into its own)."""
        if language == source_language:
            return ()
        return self.expand_words(probe_words(part, source_language), language)
