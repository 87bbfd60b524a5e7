"""Matching articles against many topics at once.

:class:`TopicIndex` compiles every topic into one shared index:

- exact words and stems -> atom ids (dict lookups, one per distinct word of
  the article, whatever the number of topics);
- wildcard patterns -> atom ids in one Aho-Corasick automaton run over the
  article's distinct words (prefix, suffix and infix alike);
- atom -> (topic, required clause) postings.  A topic is evaluated only when
  every one of its required clauses (see :mod:`aggregator.topics.plan`) has an
  atom in the article; topics that cannot be narrowed (pure NOT) always are.

Only those candidate topics run their query tree, on positions computed once
per article, so the cost of matching grows with the number of topics an
article is *about*, not with the number configured.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

from aggregator.exceptions import ConfigError, QuerySyntaxError
from aggregator.query.normalize import language_code
from aggregator.query.syntax import parse_query
from aggregator.topics.analyze import FIELDS, AnalyzedDoc, Document, analyze
from aggregator.topics.plan import (
    AtomTable,
    CAnd,
    CLeaf,
    CMeta,
    CNear,
    CNode,
    CNot,
    COr,
    CPhrase,
    CScope,
    MetaAtom,
    TermAtom,
    WildAtom,
    cheapest_clauses,
    compile_node,
    field_mask,
    stemming_languages,
)
from aggregator.topics.snippets import Hit, Snippet, collapse_space, make_snippets

#: Field mask with every text field: no filtering needed.
ALL_FIELDS = (1 << len(FIELDS)) - 1

#: First and last token index of a hit, inclusive.
Span = tuple[int, int]


@dataclass(frozen=True)
class TopicSpec:
    """A configured topic (built by the config loader from feeds.yaml)."""

    name: str
    query: str
    description: str = ""
    fields: tuple[str, ...] = ("title", "summary", "body")
    languages: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cross_lingual: bool = False  # matched in other languages too (topics.crosslingual)
    descriptions: tuple[str, ...] = ()
    threshold: float | None = None  # None: calibrated


@dataclass(frozen=True)
class TopicMatch:
    """A topic an article matched: the words that matched it and where."""

    topic: str
    terms: tuple[str, ...]
    snippets: tuple[Snippet, ...]


@dataclass(frozen=True)
class _Topic:
    """A compiled topic: its tree, default fields and scope filters."""

    spec: TopicSpec
    root: CNode
    mask: int
    languages: frozenset[str]
    feeds: frozenset[str]
    tags: frozenset[str]

    def in_scope(self, doc: AnalyzedDoc) -> bool:
        """Language, feed and tag filters of the topic spec."""
        if self.languages and doc.language not in self.languages:
            return False
        if self.feeds and not self.feeds & _folded(doc.document.feeds):
            return False
        return not self.tags or bool(self.tags & _folded(doc.document.tags))


def _folded(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip().casefold() for n in names)


def _check_fields(spec: TopicSpec) -> None:
    bad = [f for f in spec.fields if f not in FIELDS]
    if bad or not spec.fields:
        raise ConfigError(
            f"topic {spec.name!r}: fields must be among {', '.join(FIELDS)} (got {bad or 'none'})",
            key="fields",
            hint="fields: [title, summary, body]",
        )


def _compile(spec: TopicSpec, table: AtomTable) -> _Topic:
    """Parse and compile one topic; syntax errors name the topic."""
    _check_fields(spec)
    try:
        query = parse_query(spec.query)
    except QuerySyntaxError as e:
        raise QuerySyntaxError(
            f"topic {spec.name!r}: {e.message}", query=e.query, column=e.column, hint=e.hint
        ) from e
    root = compile_node(query.root, table, stemming_languages(spec.languages))
    languages = frozenset(c for c in (language_code(x) for x in spec.languages) if c)
    return _Topic(
        spec, root, field_mask(spec.fields), languages, _folded(spec.feeds), _folded(spec.tags)
    )


class TopicIndex:
    """All topics compiled into one index; ``match`` returns the topics an article matches."""

    def __init__(self, topics: Sequence[TopicSpec]) -> None:
        self._table = AtomTable()
        self._topics = [_compile(spec, self._table) for spec in topics]
        self._norm_atoms: dict[str, list[int]] = {}
        self._stem_atoms: dict[str, dict[str, list[int]]] = {}
        self._meta_atoms: dict[tuple[str, str], int] = {}
        self._automaton = self._index_atoms()
        self._postings: dict[int, list[tuple[int, int]]] = {}
        self._full: list[int] = []
        self._always: list[int] = []
        self._index_clauses()

    @property
    def topics(self) -> tuple[TopicSpec, ...]:
        return tuple(t.spec for t in self._topics)

    def __len__(self) -> int:
        return len(self._topics)

    # ------------------------------------------------------------ building

    def _index_atoms(self) -> ahocorasick.Automaton | None:
        """Word, stem and metadata lookup tables; one automaton for all wildcards."""
        automaton = ahocorasick.Automaton()
        for atom_id, atom in enumerate(self._table.atoms):
            match atom:
                case TermAtom():
                    self._norm_atoms.setdefault(atom.norm, []).append(atom_id)
                    for lang, stem in self._table.stems(atom_id):
                        self._stem_atoms.setdefault(lang, {}).setdefault(stem, []).append(atom_id)
                case WildAtom():
                    automaton.add_word(atom.pattern(), atom_id)
                case MetaAtom():
                    self._meta_atoms[(atom.kind, atom.value)] = atom_id
        if len(automaton) == 0:
            return None
        automaton.make_automaton()
        return automaton

    def _index_clauses(self) -> None:
        """Postings atom -> (topic, clause bit); a topic's full mask has every clause bit."""
        for topic_id, topic in enumerate(self._topics):
            clauses = cheapest_clauses(topic.root, self._table.cost)
            self._full.append((1 << len(clauses)) - 1)
            if not clauses:
                self._always.append(topic_id)
            for bit_index, clause in enumerate(clauses):
                for atom in clause:
                    self._postings.setdefault(atom, []).append((topic_id, 1 << bit_index))

    # ------------------------------------------------------------ matching

    def analyze(self, doc: Document) -> AnalyzedDoc:
        """Analyse once, match many: the result can be passed to ``match`` of any index."""
        return analyze(doc)

    def match(self, doc: Document | AnalyzedDoc) -> list[TopicMatch]:
        """Topics ``doc`` matches, in configuration order."""
        if not self._topics:  # nothing to match: skip the analysis entirely
            return []
        analyzed = doc if isinstance(doc, AnalyzedDoc) else analyze(doc)
        hits = self._atom_hits(analyzed)
        meta = {self._meta_atoms[k] for k in analyzed.meta if k in self._meta_atoms}
        run = _Run(analyzed, hits, meta)
        out: list[TopicMatch] = []
        for topic_id in self._candidates(hits.keys() | meta):
            topic = self._topics[topic_id]
            if topic.in_scope(analyzed):
                spans = run.eval(topic.root, topic.mask)
                if spans is not None:
                    out.append(_topic_match(topic.spec.name, analyzed, spans))
        return out

    def candidates(self, doc: Document | AnalyzedDoc) -> list[str]:
        """Names of the topics ``match`` would evaluate (for tests and tuning)."""
        analyzed = doc if isinstance(doc, AnalyzedDoc) else analyze(doc)
        hits = self._atom_hits(analyzed)
        meta = {self._meta_atoms[k] for k in analyzed.meta if k in self._meta_atoms}
        return [self._topics[t].spec.name for t in self._candidates(hits.keys() | meta)]

    def _atom_hits(self, doc: AnalyzedDoc) -> dict[int, list[tuple[int, ...]]]:
        """Position groups of every atom present in the document.

        Groups are the document's own per-word tuples, referenced not copied:
        most atoms found here belong to topics that will not be evaluated, so
        flattening is left to ``_Run.positions``.
        """
        hits: dict[int, list[tuple[int, ...]]] = {}
        for norm in doc.by_norm.keys() & self._norm_atoms.keys():
            for atom in self._norm_atoms[norm]:
                hits.setdefault(atom, []).append(doc.by_norm[norm])
        stems = self._stem_atoms.get(doc.language or "")
        if stems:
            for stem in doc.by_stem.keys() & stems.keys():
                for atom in stems[stem]:
                    hits.setdefault(atom, []).append(doc.by_stem[stem])
        if self._automaton is not None and doc.wild_text:
            for end, atom in self._automaton.iter(doc.wild_text):
                norm = doc.wild_norms[bisect_right(doc.wild_starts, end) - 1]
                hits.setdefault(atom, []).append(doc.by_norm[norm])
        return hits

    def _candidates(self, present: Iterable[int]) -> list[int]:
        """Topics whose every required clause has an atom present, in topic order."""
        masks: dict[int, int] = {}
        for atom in present:
            for topic_id, bit in self._postings.get(atom, ()):
                masks[topic_id] = masks.get(topic_id, 0) | bit
        full = self._full
        ready = [t for t, m in masks.items() if m == full[t]]
        return sorted(ready + self._always)


# ---------------------------------------------------------------- evaluation


class _Run:
    """Evaluates compiled trees on one analysed document.

    ``eval`` returns the hit spans of a node, ``[]`` for "true without
    positions" (NOT, metadata) and None for "false".  Leaf positions are
    computed once per (atom, field mask) and shared by all topics.
    """

    def __init__(
        self, doc: AnalyzedDoc, hits: dict[int, list[tuple[int, ...]]], meta: set[int]
    ) -> None:
        self.doc = doc
        self.tokens = doc.tokens
        self.hits = hits
        self.meta = meta
        self._leaf: dict[tuple[int, int], list[int]] = {}

    def positions(self, atom: int, mask: int) -> list[int]:
        """Sorted token positions of an atom within the fields of ``mask``."""
        key = (atom, mask)
        if key not in self._leaf:
            tokens = self.tokens
            groups = self.hits.get(atom, ())
            found = groups[0] if len(groups) == 1 else sorted({i for g in groups for i in g})
            if mask == ALL_FIELDS:
                self._leaf[key] = list(found)
            else:
                self._leaf[key] = [i for i in found if mask >> tokens[i].field & 1]
        return self._leaf[key]

    def eval(self, node: CNode, mask: int) -> list[Span] | None:
        match node:
            case CLeaf():
                return [(i, i) for i in self.positions(node.atom, mask)] or None
            case CPhrase():
                return self.phrase(node, mask)
            case CAnd():
                return self.all_of(node.children, mask)
            case COr():
                return self.any_of(node.children, mask)
            case CNot():
                return [] if self.eval(node.child, mask) is None else None
            case CNear():
                return self.near(node, mask)
            case CScope():
                return self.eval(node.child, node.mask)
            case CMeta():
                return [] if node.atom in self.meta else None

    def all_of(self, children: Sequence[CNode], mask: int) -> list[Span] | None:
        spans: list[Span] = []
        for child in children:
            found = self.eval(child, mask)
            if found is None:
                return None
            spans += found
        return spans

    def any_of(self, children: Sequence[CNode], mask: int) -> list[Span] | None:
        """Every true branch contributes its spans (all of them are highlighted)."""
        spans: list[Span] = []
        true = False
        for child in children:
            found = self.eval(child, mask)
            if found is not None:
                true = True
                spans += found
        return spans if true else None

    def same_field(self, i: int, j: int) -> bool:
        return self.tokens[i].field == self.tokens[j].field

    def phrase(self, node: CPhrase, mask: int) -> list[Span] | None:
        if node.slop is not None:
            return self.sloppy(node, mask)
        first = self.positions(node.atoms[0], mask)
        rest = [set(self.positions(a, mask)) for a in node.atoms[1:]]
        last = len(node.atoms) - 1
        spans = [
            (i, i + last)
            for i in first
            if all(i + k + 1 in s for k, s in enumerate(rest)) and self.same_field(i, i + last)
        ]
        return spans or None

    def sloppy(self, node: CPhrase, mask: int) -> list[Span] | None:
        """All words in any order, distinct tokens, at most ``slop`` other words among them."""
        per_part = [self.positions(a, mask) for a in node.atoms]
        if not all(per_part):
            return None
        reach = len(node.atoms) + (node.slop or 0) - 1
        starts = sorted({i for ps in per_part for i in ps})
        spans = [s for i in starts if (s := self._window(per_part, i, reach)) is not None]
        return spans or None

    def _window(self, per_part: list[list[int]], first: int, reach: int) -> Span | None:
        """A span starting at ``first`` holding one distinct token per part, or None."""
        options = [
            [p for p in ps[bisect_left(ps, first) : bisect_right(ps, first + reach)]
             if self.same_field(first, p)]
            for ps in per_part
        ]  # fmt: skip
        for k, opts in enumerate(options):
            if first in opts:
                chosen = _assign(options[:k] + options[k + 1 :], {first})
                if chosen is not None:
                    return (first, max(chosen))
        return None

    def near(self, node: CNear, mask: int) -> list[Span] | None:
        """Covering spans of left/right pairs with at most ``distance`` words between."""
        left = self.eval(node.left, mask)
        right = self.eval(node.right, mask) if left else None
        if not left or not right:
            return None
        n = node.distance
        by_start = sorted(right)
        starts = [s for s, _ in by_start]
        by_end = sorted(right, key=lambda sp: sp[1])
        ends = [e for _, e in by_end]
        out: set[Span] = set()
        for ls, le in left:
            for rs, re_ in by_start[bisect_left(starts, le + 1) : bisect_right(starts, le + 1 + n)]:
                if self.same_field(ls, rs):
                    out.add((ls, re_))
            for rs, _re in by_end[bisect_left(ends, ls - 1 - n) : bisect_right(ends, ls - 1)]:
                if self.same_field(ls, rs):
                    out.add((rs, le))
        return sorted(out) or None


def _assign(options: list[list[int]], taken: set[int]) -> set[int] | None:
    """One distinct position per part (bipartite matching by augmenting paths).

    Polynomial even for "a a a a a a"~0 against five a's, where naive
    backtracking would try every permutation before giving up.
    """
    owner: dict[int, int] = {}  # position -> part

    def augment(part: int, seen: set[int]) -> bool:
        for p in options[part]:
            if p in taken or p in seen:
                continue
            seen.add(p)
            if p not in owner or augment(owner[p], seen):
                owner[p] = part
                return True
        return False

    for part in range(len(options)):
        if not augment(part, set()):
            return None
    return set(owner) | taken


# ---------------------------------------------------------------- results


def _hits(doc: AnalyzedDoc, spans: Sequence[Span]) -> list[Hit]:
    """Character ranges (field, start, end) of token spans, in reading order."""
    tokens = doc.tokens
    return sorted({(tokens[s].field, tokens[s].start, tokens[e].end) for s, e in spans})


def _topic_match(name: str, doc: AnalyzedDoc, spans: Sequence[Span]) -> TopicMatch:
    """Surface forms as written in the article, and snippets around them."""
    hits = _hits(doc, spans)
    texts = [doc.text(f) for f in range(len(FIELDS))]
    surfaces = (collapse_space(texts[f][s:e]) for f, s, e in hits)
    terms = tuple(dict.fromkeys(s for s in surfaces if s))
    return TopicMatch(name, terms, make_snippets(texts, hits))
