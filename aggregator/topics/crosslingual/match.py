"""Cross-lingual matching: expanded terms find passages, the encoder checks them.

For each article, in one pass over all topics:

1. the article is cut into sentences; one Aho-Corasick automaton holding every
   topic's expanded patterns runs over each sentence's words, so the cost does
   not grow with the number of topics an article is not about;
2. a topic whose expanded query holds within one passage (a sentence, or two
   neighbouring ones: word order and distance do not carry across languages)
   has *expanded* candidates; a sentence that hits any of its words is a
   *semantic* candidate;
3. only candidate sentences are encoded (cache by sentence hash, shared by all
   topics) and scored against the topic's description: an expanded candidate
   must pass the topic's lower threshold, a semantic one the higher threshold.

Documents in the topic's own language are left to the literal query, whose
words the desk chose: the cross-lingual paths only add other languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick
import numpy as np

from aggregator.query.normalize import iter_words, language_code
from aggregator.query.syntax import Term, Wildcard, parse_query
from aggregator.topics.crosslingual.encoder import ENCODER_LANGUAGES, Encoder, Vectors
from aggregator.topics.crosslingual.expand import (
    Expander,
    Slot,
    XAll,
    XAny,
    XMeta,
    XNode,
    XNot,
    XSlot,
    all_parts,
    leaves,
    own_pattern,
    positive_slots,
    shape,
    source_text,
)
from aggregator.topics.crosslingual.vocab import traditional_to_simplified

#: At most this many sentences of an article are looked at (long bodies: the lead matters).
MAX_SENTENCES = 400
#: At most this many sentences of an article are encoded, most promising first.
MAX_ENCODED = 8
#: Sentences an explanation shows besides the deciding passage.
MAX_SUPPORT = 3
#: Headlines are scored even when no expanded word hits them (if one hits the article).
TITLE_SEMANTIC = True

_SENTENCE_END = re.compile(
    r"(?<=[.!?;\u3002\uff01\uff1f\u061f\u0964])\s+|(?<=[\u3002\uff01\uff1f])|\n+"
)

FIELD_NAMES = ("title", "summary", "body")


@dataclass(frozen=True)
class Sentence:
    field: str
    start: int
    end: int
    text: str


def sentences(title: str, summary: str, body: str, limit: int = MAX_SENTENCES) -> list[Sentence]:
    """Sentences of each field with their offsets into that field, each text once
    (a feed's summary is often the start of the body: no need to score it twice)."""
    out: list[Sentence] = []
    seen: set[str] = set()
    for name, text in zip(FIELD_NAMES, (title, summary, body), strict=True):
        pos = 0
        for m in [*_SENTENCE_END.finditer(text), None]:
            end = m.start() if m else len(text)
            piece = text[pos:end]
            stripped = piece.strip()
            if stripped and stripped not in seen:
                seen.add(stripped)
                a = pos + (len(piece) - len(piece.lstrip()))
                out.append(Sentence(name, a, a + len(stripped), stripped))
                if len(out) >= limit:
                    return out
            pos = m.end() if m else len(text)
    return out


@dataclass(frozen=True)
class XTopicSpec:
    """What cross-lingual matching needs of a configured topic."""

    name: str
    query: str
    description: tuple[str, ...] = ()
    threshold: float | None = None  # a number overrides calibration
    source_language: str = "en"
    languages: tuple[str, ...] = ()  # the topic's own scope: empty = every language
    feeds: tuple[str, ...] = ()  # the topic's feed and tag filters, as in TopicSpec
    tags: tuple[str, ...] = ()


@dataclass
class XTopic:
    """A compiled topic: its query as a slot tree, the words of each slot, its vectors."""

    spec: XTopicSpec
    tree: XNode
    parts: tuple[Term | Wildcard, ...]
    positive: frozenset[int]
    vectors: Vectors
    semantic_threshold: float = 0.55
    expanded_threshold: float = 0.25
    calibrated: bool = False
    scope: frozenset[str] = frozenset()

    def applies(self, language: str | None) -> bool:
        """Cross-lingual paths run for other languages than the query's, within the scope."""
        if language == self.spec.source_language:
            return False
        return not self.scope or language in self.scope


@dataclass(frozen=True)
class Evidence:
    """A sentence that carried a match, where it is, its score and the words that hit."""

    field: str
    start: int
    end: int
    text: str
    score: float
    terms: tuple[str, ...]
    spans: tuple[tuple[int, int], ...] = ()  # character ranges of ``terms`` in the field


@dataclass(frozen=True)
class CrossMatch:
    """A cross-lingual match and its explanation."""

    topic: str
    method: str  # "expanded" | "semantic"
    score: float
    threshold: float
    sentences: tuple[Evidence, ...]
    expanded: tuple[str, ...] = ()  # "lang:pattern (word score)" of the expansions that hit
    terms: tuple[str, ...] = field(default=())


def description_texts(spec: XTopicSpec) -> list[str]:
    """What the topic is scored against: its description, else its words."""
    if spec.description:
        return list(spec.description)
    words = [p.norm for p in leaves(parse_query(spec.query).root)]
    return [" ".join(words)]


def compile_topic(spec: XTopicSpec, encoder: Encoder) -> XTopic:
    root = parse_query(spec.query).root
    registry: dict[tuple[str, str], int] = {}
    tree = shape(root, registry)
    parts: dict[tuple[str, str], Term | Wildcard] = {}
    for part in all_parts(root):
        p = own_pattern(part)
        parts.setdefault((p.text, p.mode), part)
    ordered = tuple(parts[key] for key, _ in sorted(registry.items(), key=lambda kv: kv[1]))
    vectors = encoder.encode(description_texts(spec))
    scope = frozenset(c for c in (language_code(x) for x in spec.languages) if c)
    return XTopic(spec, tree, ordered, frozenset(positive_slots(tree)), vectors, scope=scope)


def _eval(node: XNode, hit: set[int], meta: frozenset[tuple[str, str]]) -> bool:
    match node:
        case XSlot():
            return node.index in hit
        case XAll():
            return all(_eval(c, hit, meta) for c in node.children)
        case XAny():
            return any(_eval(c, hit, meta) for c in node.children)
        case XNot():
            return not _eval(node.child, hit, meta)
        case XMeta():
            return (node.kind, node.value) in meta
    raise TypeError(node)  # pragma: no cover


@dataclass(frozen=True)
class _Key:
    topic: int
    slot: int
    label: str  # "lang:pattern" or "" for the topic's own word


class CrossIndex:
    """Every cross-lingual topic in one automaton per language; ``match`` explains its matches."""

    def __init__(self, topics: Sequence[XTopic], encoder: Encoder, expander: Expander) -> None:
        self.topics = list(topics)
        self.encoder = encoder
        self.expander = expander
        self._automata: dict[str | None, ahocorasick.Automaton | None] = {}

    def slots(self, t_id: int, language: str) -> tuple[Slot, ...]:
        topic = self.topics[t_id]
        return tuple(
            Slot(
                source_text(part),
                own_pattern(part),
                self.expander.expand_part(part, language, topic.spec.source_language),
            )
            for part in topic.parts
        )

    def automaton(self, language: str | None) -> ahocorasick.Automaton | None:
        """The patterns of every topic for articles in ``language``, built on first need."""
        if language in self._automata:
            return self._automata[language]
        table: dict[str, list[_Key]] = {}
        if language:
            for source in {t.spec.source_language for t in self.topics}:
                self.expander.prepare_language(
                    [
                        p
                        for t in self.topics
                        if t.applies(language) and t.spec.source_language == source
                        for p in t.parts
                    ],
                    language,
                    source,
                )
        for t_id, topic in enumerate(self.topics):
            if not topic.applies(language):
                continue
            slots = (
                self.slots(t_id, language)
                if language
                else tuple(Slot(source_text(p), own_pattern(p), ()) for p in topic.parts)
            )
            for s_id, slot in enumerate(slots):
                table.setdefault(slot.own.key(), []).append(_Key(t_id, s_id, ""))
                for e in slot.expansions:
                    label = f"{e.language}:{e.pattern.query_text()}"
                    table.setdefault(e.pattern.key(), []).append(_Key(t_id, s_id, label))
        automaton: ahocorasick.Automaton | None = None
        if table:
            automaton = ahocorasick.Automaton()
            for key, values in table.items():
                automaton.add_word(key, values)
            automaton.make_automaton()
        self._automata[language] = automaton
        if language:
            self.expander.release(language)
        return automaton

    @staticmethod
    def _sentence_hits(
        automaton: ahocorasick.Automaton, words: Sequence[tuple[int, int, str]]
    ) -> dict[int, dict[int, set[tuple[str, str]]]]:
        """topic -> slot -> {(normal form, expansion label)} for one sentence."""
        out: dict[int, dict[int, set[tuple[str, str]]]] = {}
        if not words:
            return out
        norms: dict[str, str] = {}
        for _, _, norm in words:
            norms.setdefault(norm, norm)
        text = "".join(f"\x02{n}\x03" for n in norms)
        starts: list[int] = []
        offset = 0
        order = list(norms)
        for n in order:
            starts.append(offset)
            offset += len(n) + 2
        from bisect import bisect_right

        for end, values in automaton.iter(text):
            word = order[bisect_right(starts, end) - 1]
            for key in values:
                out.setdefault(key.topic, {}).setdefault(key.slot, set()).add((word, key.label))
        return out

    def match(
        self,
        title: str,
        summary: str,
        body: str,
        language: str | None,
        meta: frozenset[tuple[str, str]] = frozenset(),
        *,
        only: Iterable[str] | None = None,
    ) -> list[CrossMatch]:
        lang = language_code(language) if language else None
        if lang == "zh":
            table = traditional_to_simplified()
            title, summary, body = (t.translate(table) for t in (title, summary, body))
        wanted_names = set(only) if only is not None else None
        active = [
            i
            for i, t in enumerate(self.topics)
            if (wanted_names is None or t.spec.name in wanted_names) and t.applies(lang)
        ]
        automaton = self.automaton(lang) if active else None
        if automaton is None:
            return []
        sents = sentences(title, summary, body)
        hits = [
            self._sentence_hits(automaton, [(a, b, n) for a, b, _, n in iter_words(s.text)])
            for s in sents
        ]
        wanted: dict[int, float] = {}  # sentence -> priority
        plans: dict[int, tuple[list[tuple[int, ...]], list[int]]] = {}
        for t_id in active:
            topic = self.topics[t_id]
            expanded: list[tuple[int, ...]] = []
            semantic: list[int] = []
            headlines: list[int] = []
            for i in range(len(sents)):
                here = hits[i].get(t_id, {})
                if not here:
                    if sents[i].field == "title" and TITLE_SEMANTIC:
                        headlines.append(i)
                    continue
                if any(s in topic.positive for s in here):
                    semantic.append(i)
                if _eval(topic.tree, set(here), meta):
                    expanded.append((i,))
                elif i + 1 < len(sents):
                    both = set(here) | set(hits[i + 1].get(t_id, {}))
                    if _eval(topic.tree, both, meta):
                        expanded.append((i, i + 1))
            if expanded or semantic:
                # the headline is scored too, even without a word hit of its own, in
                # articles where the topic's words hit somewhere (others cost nothing)
                semantic += headlines
                plans[t_id] = (expanded, semantic)
                for group in expanded:
                    for i in group:
                        wanted[i] = wanted.get(i, 0) + 2 + len(hits[i].get(t_id, {}))
                for i in semantic:
                    wanted[i] = wanted.get(i, 0) + len(hits[i].get(t_id, {}))
        if not plans:
            return []
        covered = lang is None or lang in ENCODER_LANGUAGES or lang == "zh-tw"
        if not covered:  # the encoder does not read this language: expansion alone decides
            plans = {t: (exp, []) for t, (exp, _) in plans.items() if exp}
            wanted = {i: 1.0 for exp, _ in plans.values() for g in exp for i in g}
        chosen = sorted(wanted, key=lambda i: (-wanted[i], i))[:MAX_ENCODED] if covered else []
        vecs = self.encoder.encode([sents[i].text for i in chosen])
        row = {i: r for r, i in enumerate(chosen)}
        out: list[CrossMatch] = []
        for t_id, (expanded, semantic) in plans.items():
            found = self._decide(t_id, sents, hits, expanded, semantic, vecs, row, covered)
            if found is not None:
                out.append(found)
        return out

    def _score(self, topic: XTopic, vecs: Vectors, row: dict[int, int], i: int) -> float:
        if i not in row:
            return -1.0
        return float(np.max(topic.vectors @ vecs[row[i]]))

    def _decide(
        self,
        t_id: int,
        sents: Sequence[Sentence],
        hits: Sequence[dict[int, dict[int, set[tuple[str, str]]]]],
        expanded: list[tuple[int, ...]],
        semantic: list[int],
        vecs: Vectors,
        row: dict[int, int],
        covered: bool = True,
    ) -> CrossMatch | None:
        topic = self.topics[t_id]
        if not covered:
            return self._explain(t_id, sents, hits, 0.0, expanded[0], vecs, row, "expanded", 0.0)
        best: tuple[float, tuple[int, ...]] | None = None
        for group in expanded:
            score = max(self._score(topic, vecs, row, i) for i in group)
            if best is None or score > best[0]:
                best = (score, group)
        method, threshold = "expanded", topic.expanded_threshold
        if best is None or best[0] < threshold:
            best = None
            for i in semantic:
                score = self._score(topic, vecs, row, i)
                if score >= topic.semantic_threshold and (best is None or score > best[0]):
                    best = (score, (i,))
            method, threshold = "semantic", topic.semantic_threshold
        if best is None:
            return None
        others = [i for g in expanded for i in g] + list(semantic)
        return self._explain(
            t_id, sents, hits, best[0], best[1], vecs, row, method, threshold, others
        )

    def _explain(
        self,
        t_id: int,
        sents: Sequence[Sentence],
        hits: Sequence[dict[int, dict[int, set[tuple[str, str]]]]],
        score: float,
        group: tuple[int, ...],
        vecs: Vectors,
        row: dict[int, int],
        method: str,
        threshold: float,
        others: Sequence[int] = (),
    ) -> CrossMatch:
        """The match with its sentences: the deciding passage first, then up to
        MAX_SUPPORT other sentences that hit the topic's words and pass its
        expanded threshold, most words then best score first."""
        topic = self.topics[t_id]

        def rank(i: int) -> tuple[int, float]:
            return (-len(hits[i].get(t_id, {})), -self._score(topic, vecs, row, i))

        support = [
            i
            for i in sorted(set(others) - set(group), key=rank)
            if hits[i].get(t_id) and self._score(topic, vecs, row, i) >= topic.expanded_threshold
        ][:MAX_SUPPORT]
        evidence = []
        labels: list[str] = []
        for i in [*sorted(group, key=rank), *support]:
            here = hits[i].get(t_id, {})
            norms = {w for pairs in here.values() for w, _ in pairs}
            labels += [lab for pairs in here.values() for _, lab in pairs if lab]
            s = sents[i]
            spans = tuple(
                (s.start + a, s.start + b) for a, b, _, n in iter_words(s.text) if n in norms
            )
            words = tuple(dict.fromkeys(s.text[a - s.start : b - s.start] for a, b in spans))
            sc = round(self._score(topic, vecs, row, i), 4) if row else 0.0
            evidence.append(Evidence(s.field, s.start, s.end, s.text, sc, words, spans))
        terms = tuple(dict.fromkeys(w for e in evidence for w in e.terms))
        return CrossMatch(
            topic.spec.name,
            method,
            round(score, 4),
            round(threshold, 4),
            tuple(evidence),
            tuple(sorted(set(labels))),
            terms,
        )
