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

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
from aggregator.topics.crosslingual.vocab import UNSPACED, Vocabulary, cache_dir, save_cache

#: A candidate word must be at least this near the query word (cosine)...
MIN_SCORE = 0.60
#: ...and within this much of the best candidate of its language.
MARGIN = 0.25
#: At most this many words per query word and language.
TOP_K = 12
#: A candidate is kept only if, seen from its side, the query word is among its
#: nearest source-language words: at most this many source words may be nearer
#: to it than the query word is (mutual nearest neighbours; rejects the words
#: that are near everything, such as French "frites" for "chips", and the
#: random neighbours of a name the encoder does not know).
BACK_RANK = 10
#: Nearest source words kept per candidate word for that check (cached on disk),
#: among the commonest BACK_SOURCE words of the source language (a rarer word is
#: seldom nearer to a translation than its source; 10,000 keeps the one-off
#: matrix product per language at a few seconds).
BACK_TOP = 16
BACK_SOURCE = 10_000
#: A phrase's own expansions must be this much nearer to the whole than to its words.
PHRASE_MARGIN = 0.02
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


def phrase_part(node: Phrase) -> Wildcard | None:
    """A phrase as one probe ("north korea*"): many languages write it as one word
    (``Nordkorea``, ``北朝鮮``), which no word of the phrase is near on its own.
    Its own pattern holds a space, so it never hits a word: only its expansions do."""
    if len(node.parts) < 2 or any(isinstance(p, Wildcard) and p.leading for p in node.parts):
        return None
    last = node.parts[-1]
    trailing = isinstance(last, Wildcard) and last.trailing
    return Wildcard(" ".join(p.norm for p in node.parts), False, trailing)


def all_parts(node: Node) -> Iterator[Term | Wildcard]:
    """The words of a query (as :func:`leaves`) and each phrase as a whole."""
    yield from leaves(node)
    yield from _wholes(node)


def _wholes(node: Node) -> Iterator[Wildcard]:
    match node:
        case Phrase():
            whole = phrase_part(node)
            if whole is not None:
                yield whole
        case And() | Or():
            for child in node.children:
                yield from _wholes(child)
        case Not() | Scope():
            yield from _wholes(node.child)
        case Near():
            yield from _wholes(node.left)
            yield from _wholes(node.right)


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
            words = XAll(tuple(shape(p, slots) for p in node.parts))
            whole = phrase_part(node)
            if whole is None:
                return words
            p = own_pattern(whole)
            return XAny((words, XSlot(slots.setdefault((p.text, p.mode), len(slots)))))
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
        head, _, last = part.norm.rpartition(" ")
        if head:  # a phrase: its last word completed
            return [f"{head} {w}" for w in _completions(last, language)] or [part.norm]
        return list(_completions(part.norm, language)) or [part.norm]
    return [part.norm]


def _unit_rows(vocab: Vocabulary, rows: np.ndarray) -> np.ndarray:
    """Rows of a vocabulary as float32 unit vectors (int8 tables carry a scale)."""
    block = np.asarray(vocab.vectors[rows], dtype=np.float32)
    if vocab.scale is not None:
        block = block * vocab.scale[rows][:, None]
    return block


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
        back_rank: int | None = -1,
        cache_directory: Path | None = None,
    ) -> None:
        self.encoder = encoder
        self._load = vocabulary
        self._vocabularies: dict[str, Vocabulary] = {}
        self.min_score = MIN_SCORE if min_score is None else min_score
        self.margin = MARGIN if margin is None else margin
        self.top_k = TOP_K if top_k is None else top_k
        #: None turns the mutual-neighbour check off
        self.back_rank = BACK_RANK if back_rank == -1 else back_rank
        self._probes: dict[tuple[str, ...], np.ndarray] = {}
        self._memo: dict[tuple[tuple[str, ...], str], tuple[Expansion, ...]] = {}
        self._floors: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, Vocabulary] | None] = {}
        self._cache_dir = cache_directory

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
            self._memo[key] = tuple(self._nearest(language, self._probe(tuple(probes)), probes))
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
                    self._select(
                        vocab,
                        language,
                        np.ascontiguousarray(scores[:, j]),
                        source_language,
                        set(probes),
                    )
                )

    def _nearest(
        self, language: str, probe: np.ndarray, probes: Sequence[str] = ()
    ) -> list[Expansion]:
        vocab = self.vocabulary(language)
        if not vocab.words:
            return []
        return self._select(vocab, language, vocab.scores(probe), "en", set(probes))

    def _back_floors(
        self, vocab: Vocabulary, source: str
    ) -> tuple[np.ndarray, np.ndarray, Vocabulary] | None:
        """Per word of ``vocab``: its BACK_TOP nearest source-language words (their
        rows and cosines, nearest first).  One matrix product per language, done
        once and cached on disk beside the vocabulary vectors: checking a candidate
        is then a lookup, whatever the number of topics."""
        key = (vocab.language, source)
        if key in self._floors:
            return self._floors[key]
        src = self.vocabulary(source)
        if not src.words or not vocab.words or vocab.vectors.shape[0] != len(vocab.words):
            self._floors[key] = None
            return None
        common = src.words[:BACK_SOURCE]
        text = "\n".join([*vocab.words, "\x00", *common])
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        folder = self._cache_dir or cache_dir()
        path = folder / f"back-{vocab.language}-{source}-{BACK_TOP}-{digest}.npz"
        width = min(BACK_TOP, len(common))
        shape = (len(vocab.words), width)
        try:
            with np.load(path) as z:
                sims, rows = z["sims"], z["rows"]
        except (OSError, ValueError, KeyError):
            sims = rows = np.zeros((0, 0))
        if sims.shape != shape or rows.shape != shape:
            sims = np.empty(shape, dtype=np.float16)
            rows = np.empty(shape, dtype=np.int32)
            source_rows = _unit_rows(src, np.arange(len(common))).T  # once: 20 MB
            for start in range(0, len(vocab.words), 512):
                block = np.arange(start, min(start + 512, len(vocab.words)))
                full = _unit_rows(vocab, block) @ source_rows  # (block, source words)
                top = np.argpartition(-full, width - 1, axis=1)[:, :width]
                order = np.argsort(-np.take_along_axis(full, top, axis=1), axis=1)
                top = np.take_along_axis(top, order, axis=1)
                rows[block] = top
                sims[block] = np.take_along_axis(full, top, axis=1)
            del source_rows
            save_cache(path, sims=sims, rows=rows)
        self._floors[key] = (sims, rows, src)
        return self._floors[key]

    def _back_ok(
        self, vocab: Vocabulary, rows: np.ndarray, scores: np.ndarray, source: str, own: set[str]
    ) -> np.ndarray:
        """Which candidate rows have the probe among their nearest source words: at
        most ``back_rank`` source words (not the probe's own) nearer to them."""
        ok = np.ones(len(rows), dtype=bool)
        rank = self.back_rank
        found = None if rank is None else self._back_floors(vocab, source)
        if rank is None or found is None or source == vocab.language:
            return ok
        sims, near, src = found
        if rank >= sims.shape[1]:
            return ok
        for j, r in enumerate(rows):
            others = [
                float(v)
                for v, w in zip(sims[r], near[r], strict=True)
                if normalize(src.words[w]) not in own
            ]
            if len(others) > rank:
                ok[j] = float(scores[r]) >= others[rank] - 1e-3
        return ok

    def _whole_phrase(
        self, vocab: Vocabulary, rows: np.ndarray, scores: np.ndarray, own: set[str]
    ) -> np.ndarray:
        """For a phrase's probe, the candidates nearer to the whole phrase than to any
        of its words (``Nordkorea`` for "north korea"; not ``exportations``, which
        is the word "export" alone, for "export restrictions")."""
        words = sorted({w for p in own if " " in p for w in p.split()})
        if not words or not len(rows):
            return np.ones(len(rows), dtype=bool)
        self.prepare([Term(w, w) for w in words])
        single = _unit_rows(vocab, rows) @ np.stack([self._probes[(w,)] for w in words]).T
        return np.asarray(scores[rows] > single.max(axis=1) + PHRASE_MARGIN)

    def _select(
        self,
        vocab: Vocabulary,
        language: str,
        scores: np.ndarray,
        source: str = "en",
        own: set[str] | None = None,
    ) -> list[Expansion]:
        k = min(self.top_k * 3, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        top = top[scores[top] >= self.min_score]
        if not len(top):
            return []
        top = top[self._back_ok(vocab, top, scores, source, own or set())]
        top = top[self._whole_phrase(vocab, top, scores, own or set())]
        if not len(top):
            return []
        # the query's own word, copied into the other language's list (English
        # "refugees" in German text), does not set the bar for the real translations
        native = [i for i in top if normalize(vocab.words[i]) not in (own or set())]
        best = float(scores[native[0] if native else top[0]])
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
