"""Compiled queries: shared atoms, evaluation trees and required-term clauses.

A query tree is compiled against an :class:`AtomTable` shared by all topics of
an index, so that a word used by 300 topics is looked up once per article.
Leaves become *atoms* (a term with its stems, a wildcard pattern, a metadata
test); the tree keeps only atom ids.

:func:`required_clauses` derives, from a compiled tree, clauses (sets of
atoms) such that every matching document contains at least one atom of EVERY
clause.  The index evaluates a topic only when all its clauses are hit, which
is what keeps matching cost flat as topics are added; :func:`prefilter_terms`
turns the best clause into prefixes for a database full-text prefilter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aggregator.query.normalize import has_stemmer, language_code, stem
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
    parse_query,
)
from aggregator.topics.analyze import FIELDS

#: Languages a query word is stemmed in when the topic names none.
DEFAULT_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl")

#: At most this many required clauses per topic: more only cost lookups.
MAX_CLAUSES = 12


# -------------------------------------------------------------------------- atoms


@dataclass(frozen=True)
class TermAtom:
    """A word: equal normal form, or equal stem in the article's language.

    ``scoped`` atoms belong to topics with explicit languages and are stemmed in
    the union of those languages: such a topic only sees articles in one of its
    own languages, so sharing the atom never lends it a foreign stem.  Unscoped
    atoms are stemmed in DEFAULT_LANGUAGES.  At most two atoms per word, however
    many language sets the topics use.
    """

    norm: str
    folded: str
    scoped: bool


@dataclass(frozen=True)
class WildAtom:
    """A pattern on normal forms: prefix (trailing *), suffix (leading *), infix (both)."""

    norm: str
    leading: bool
    trailing: bool

    def pattern(self) -> str:
        """The Aho-Corasick key: anchored at the word start/end unless starred there."""
        start = "" if self.leading else "\x02"
        end = "" if self.trailing else "\x03"
        return f"{start}{self.norm}{end}"


@dataclass(frozen=True)
class MetaAtom:
    """A metadata test: ("feed", name), ("tag", tag) or ("lang", code)."""

    kind: str
    value: str


Atom: TypeAlias = TermAtom | WildAtom | MetaAtom


class AtomTable:
    """Interns atoms so equal atoms of different topics share one id."""

    def __init__(self) -> None:
        self.atoms: list[Atom] = []
        self._ids: dict[Atom, int] = {}
        self._languages: dict[int, set[str]] = {}

    def add(self, atom: Atom) -> int:
        if atom not in self._ids:
            self._ids[atom] = len(self.atoms)
            self.atoms.append(atom)
        return self._ids[atom]

    def term(self, part: Term, languages: Sequence[str], scoped: bool) -> int:
        """A word atom, remembering which languages it must be stemmed in."""
        atom_id = self.add(TermAtom(part.norm, part.folded, scoped))
        self._languages.setdefault(atom_id, set()).update(x for x in languages if has_stemmer(x))
        return atom_id

    def cost(self, atom_id: int) -> float:
        """See :func:`atom_cost`."""
        return atom_cost(self.atoms[atom_id])

    def stems(self, atom_id: int) -> tuple[tuple[str, str], ...]:
        """(language, stem) pairs of a word atom, once every topic is compiled."""
        atom = self.atoms[atom_id]
        if not isinstance(atom, TermAtom):
            return ()
        languages = sorted(self._languages.get(atom_id, ()))
        return tuple((x, stem(atom.folded, x)) for x in languages)


# ------------------------------------------------------------------ compiled tree


@dataclass(frozen=True, slots=True)
class CLeaf:
    atom: int


@dataclass(frozen=True, slots=True)
class CPhrase:
    atoms: tuple[int, ...]
    slop: int | None


@dataclass(frozen=True, slots=True)
class CAnd:
    children: tuple[CNode, ...]


@dataclass(frozen=True, slots=True)
class COr:
    children: tuple[CNode, ...]


@dataclass(frozen=True, slots=True)
class CNot:
    child: CNode


@dataclass(frozen=True, slots=True)
class CNear:
    left: CNode
    right: CNode
    distance: int


@dataclass(frozen=True, slots=True)
class CScope:
    """Evaluate ``child`` on one text field; ``mask`` has that field's bit set."""

    mask: int
    child: CNode


@dataclass(frozen=True, slots=True)
class CMeta:
    atom: int


CNode: TypeAlias = CLeaf | CPhrase | CAnd | COr | CNot | CNear | CScope | CMeta


def field_mask(fields: Sequence[str]) -> int:
    """Bit mask of text fields (bit i = FIELDS[i])."""
    return sum(1 << FIELDS.index(f) for f in set(fields))


def stemming_languages(languages: Sequence[str]) -> tuple[str, ...]:
    """The languages query words are stemmed in: the topic's, else the default set."""
    codes = [c for c in (language_code(x) for x in languages) if c]
    return tuple(dict.fromkeys(codes or DEFAULT_LANGUAGES))


def _part_atom(part: Term | Wildcard, table: AtomTable, languages: Sequence[str]) -> int:
    if isinstance(part, Wildcard):
        return table.add(WildAtom(part.norm, part.leading, part.trailing))
    scoped = tuple(languages) != DEFAULT_LANGUAGES
    return table.term(part, languages, scoped)


def compile_node(node: Node, table: AtomTable, languages: Sequence[str]) -> CNode:
    """Replace the leaves of a query tree with atom ids from ``table``.

    ``languages`` are the stemming languages (see :func:`stemming_languages`).
    """

    def rec(child: Node) -> CNode:
        return compile_node(child, table, languages)

    match node:
        case Term() | Wildcard():
            return CLeaf(_part_atom(node, table, languages))
        case Phrase():
            atoms = tuple(_part_atom(p, table, languages) for p in node.parts)
            return CPhrase(atoms, node.slop)
        case And():
            return CAnd(tuple(rec(c) for c in node.children))
        case Or():
            return COr(tuple(rec(c) for c in node.children))
        case Not():
            return CNot(rec(node.child))
        case Near():
            return CNear(rec(node.left), rec(node.right), node.distance)
        case Scope():
            return CScope(field_mask([node.name]), rec(node.child))
        case Meta():
            return CMeta(table.add(MetaAtom(node.kind, node.value)))


# ---------------------------------------------------------------- required terms

Clause: TypeAlias = frozenset[int]


def atom_cost(atom: Atom) -> float:
    """Guess how common an atom is (higher = more articles contain it).

    Short words and wildcards are common; metadata (a language, a feed) holds
    for a whole stream of articles, so it is the worst trigger.
    """
    match atom:
        case TermAtom():
            return 1 + 4 / max(1, len(atom.norm))
        case WildAtom():
            return 1.5 + (1 if atom.leading else 0) + 6 / max(1, len(atom.norm))
        case MetaAtom():
            return 20.0


def required_clauses(node: CNode, cost: Callable[[int], float]) -> list[Clause]:
    """Clauses that every matching document satisfies (one atom of each occurs).

    An empty list means "cannot be narrowed" (NOT-only queries, OR with a NOT
    branch): such topics are evaluated on every article.
    """
    match node:
        case CLeaf() | CMeta():
            return [frozenset({node.atom})]
        case CPhrase():
            return [frozenset({a}) for a in node.atoms]
        case CAnd():
            return _dedupe([c for child in node.children for c in required_clauses(child, cost)])
        case CNear():
            return _dedupe(required_clauses(node.left, cost) + required_clauses(node.right, cost))
        case CScope():
            return required_clauses(node.child, cost)
        case CNot():
            return []
        case COr():
            return _or_clause(node, cost)


def _or_clause(node: COr, cost: Callable[[int], float]) -> list[Clause]:
    """One clause for an OR: the union of each branch's cheapest clause."""
    union: set[int] = set()
    for child in node.children:
        clauses = required_clauses(child, cost)
        if not clauses:
            return []
        union.update(cheapest(clauses, cost))
    return [frozenset(union)]


def cheapest(clauses: list[Clause], cost: Callable[[int], float]) -> Clause:
    """The clause least likely to be hit by an unrelated article."""
    return min(clauses, key=lambda c: clause_cost(c, cost))


def clause_cost(clause: Clause, cost: Callable[[int], float]) -> float:
    """Expected frequency of a clause being hit: the sum of its atoms' costs."""
    return sum(cost(a) for a in clause)


def _dedupe(clauses: list[Clause]) -> list[Clause]:
    return list(dict.fromkeys(clauses))


def cheapest_clauses(node: CNode, cost: Callable[[int], float]) -> list[Clause]:
    """The most selective required clauses, at most MAX_CLAUSES of them."""
    clauses = required_clauses(node, cost)
    return sorted(clauses, key=lambda c: clause_cost(c, cost))[:MAX_CLAUSES]


# ---------------------------------------------------------------- FTS prefilter


def _common_prefix(words: Sequence[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def atom_prefix(atom: Atom, stems: Sequence[tuple[str, str]]) -> str | None:
    """A prefix every matching word starts with, or None (infix, metadata).

    A term matches by stem too, and Snowball may rewrite the last letter of a
    stem (fly/flies -> fli), so the prefix is the common prefix of the word and
    its stems, one letter shorter (kept at two letters at least).
    """
    match atom:
        case TermAtom():
            if not stems:
                return atom.norm
            common = _common_prefix([atom.norm, *(s for _, s in stems)])
            return common[: max(len(common) - 1, 2)] or atom.norm[:2]
        case WildAtom():
            return None if atom.leading else atom.norm
        case MetaAtom():
            return None


def _minimal(prefixes: set[str]) -> list[str]:
    """Drop prefixes made redundant by a shorter one ("control" covers "controle")."""
    ordered = sorted(prefixes, key=len)
    kept: list[str] = []
    for p in ordered:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return sorted(kept)


def _clause_prefixes(clause: Clause, table: AtomTable) -> list[str] | None:
    prefixes = [atom_prefix(table.atoms[a], table.stems(a)) for a in clause]
    if any(p is None for p in prefixes):
        return None
    return _minimal({p for p in prefixes if p is not None})


def prefilter_terms(query: str, languages: Sequence[str] = ()) -> list[str] | None:
    """Normalised word prefixes at least one of which occurs in every matching document.

    Meant for a full-text prefilter (SQLite FTS5 ``"p1"* OR "p2"*`` with
    ``unicode61 remove_diacritics 2``).  None when the query cannot be narrowed
    (pure NOT, only infix wildcards or metadata in every required clause).
    ``languages`` are the topic's languages (stems depend on them).
    """
    table = AtomTable()
    root = compile_node(parse_query(query).root, table, stemming_languages(languages))
    options = [
        p
        for c in required_clauses(root, table.cost)
        if (p := _clause_prefixes(c, table)) is not None
    ]
    if not options:
        return None
    return min(options, key=lambda ps: (len(ps), -min(len(p) for p in ps)))
