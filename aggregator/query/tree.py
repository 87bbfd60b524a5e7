"""The topic query language's syntax tree: frozen dataclasses whose words are already
normalised (``aggregator.query.normalize``), and their canonical s-expression. The
parser (``aggregator.query.syntax``) builds them; the topic engine walks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True)
class Term:
    """One word, matched by normal form or by stem."""

    folded: str
    norm: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Wildcard:
    """A word pattern on the normal (unstemmed) form: prefix, suffix or infix."""

    norm: str
    leading: bool
    trailing: bool
    col: int = field(default=0, compare=False)


Part: TypeAlias = Term | Wildcard


@dataclass(frozen=True)
class Phrase:
    """Consecutive words; with ``slop`` the words in any order, at most slop extra words."""

    parts: tuple[Part, ...]
    slop: int | None = None
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    """Both sides within ``distance`` words of each other (words in between), either order."""

    left: Node
    right: Node
    distance: int
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Scope:
    """Restrict a sub-query to one text field (title, summary, body)."""

    name: str
    child: Node
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Meta:
    """A test on the article's metadata: feed name, feed tag or language."""

    kind: str
    value: str
    col: int = field(default=0, compare=False)


Node: TypeAlias = Term | Wildcard | Phrase | And | Or | Not | Near | Scope | Meta


@dataclass(frozen=True)
class Query:
    """A parsed query: the source text and its tree."""

    source: str
    root: Node

    def __str__(self) -> str:
        return describe(self.root)


def describe(node: Node) -> str:
    """Canonical s-expression of a tree, for tests, logs and `topics check` output."""
    match node:
        case Term():
            return node.norm
        case Wildcard():
            return f"{'*' if node.leading else ''}{node.norm}{'*' if node.trailing else ''}"
        case Phrase():
            words = " ".join(describe(p) for p in node.parts)
            return f'"{words}"' + (f"~{node.slop}" if node.slop is not None else "")
        case And() | Or():
            name = "AND" if isinstance(node, And) else "OR"
            return f"({name} {' '.join(describe(c) for c in node.children)})"
        case Not():
            return f"(NOT {describe(node.child)})"
        case Near():
            return f"(NEAR/{node.distance} {describe(node.left)} {describe(node.right)})"
        case Scope():
            return f"{node.name}:{describe(node.child)}"
        case Meta():
            return f"{node.kind}:{node.value}"
