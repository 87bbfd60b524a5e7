"""The topic query language: lexer, syntax tree and recursive-descent parser.

See QUERY_LANGUAGE.md next to this file for the user-facing description.  The
parser turns a query string into a tree of frozen dataclasses whose words are
already normalised with :mod:`aggregator.query.normalize`, so that matching
never has to look at the query text again.  Every error is a
:class:`QuerySyntaxError` with the 1-based column of the offending character.

Precedence, tightest first: field scope ``title:`` / ``-`` / ``NOT`` / ``NEAR/n``
/ ``AND`` (explicit or implied by juxtaposition) / ``OR``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aggregator.exceptions import QuerySyntaxError
from aggregator.query.lex import (
    CLOSE_QUOTES,
    MAX_DEPTH,
    MAX_VARIANTS,
    META_FIELDS,
    MIN_INFIX,
    MIN_PREFIX,
    OPEN_QUOTES,
    TEXT_FIELDS,
    Tok,
    _error,
    lex,
)
from aggregator.query.normalize import HYPHENS, RawToken, language_code, tokenize
from aggregator.query.tree import (
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Part,
    Phrase,
    Query,
    Scope,
    Term,
    Wildcard,
    describe,
)

# ------------------------------------------------------------------- word -> node

#: The quote characters are the lexer's, re-exported for callers of the parser.
__all__ = [
    "CLOSE_QUOTES",
    "OPEN_QUOTES",
    "Query",
    "describe",
    "lex",
    "parse_query",
    "validate_query",
]


def _units(tokens: list[RawToken], text: str) -> list[list[RawToken]]:
    """Group tokens that are joined by hyphens only ("semi-conducteurs")."""
    units: list[list[RawToken]] = []
    for tok in tokens:
        gap = text[units[-1][-1].end : tok.start] if units else ""
        if units and gap and all(c in HYPHENS for c in gap):
            units[-1].append(tok)
        else:
            units.append([tok])
    return units


def _unit_variants(unit: list[RawToken]) -> list[list[tuple[str, str]]]:
    """A hyphenated unit matches split ("semi conducteurs") or joined ("semiconducteurs")."""
    split = [(t.folded, t.norm) for t in unit]
    if len(unit) == 1:
        return [split]
    joined = ("".join(t.folded for t in unit), "".join(t.norm for t in unit))
    return [split, [joined]]


def _make_part(folded: str, norm: str, leading: bool, trailing: bool, query: str, col: int) -> Part:
    """A Term, or a Wildcard checked for a useful minimum length."""
    if not (leading or trailing):
        return Term(folded, norm, col)
    minimum = MIN_INFIX if leading else MIN_PREFIX
    if len(norm) < minimum:
        raise _error(
            f"wildcard {'*' if leading else ''}{norm}{'*' if trailing else ''} is too short",
            query,
            col,
            hint=f"give at least {minimum} letters next to '*'",
        )
    return Wildcard(norm, leading, trailing, col)


@dataclass(frozen=True)
class _Chunk:
    """One whitespace-free piece of a word or phrase with its wildcard flags."""

    core: str
    col: int
    leading: bool
    trailing: bool


def _chunk(text: str, col: int, query: str) -> _Chunk:
    """Strip and record the wildcard stars at both ends of a chunk."""
    core = text.lstrip("*")
    leading = len(core) < len(text)
    stripped = core.rstrip("*")
    trailing = len(stripped) < len(core)
    if "*" in stripped:
        raise _error(
            "'*' is only allowed at the start or end of a word",
            query,
            col + (len(text) - len(core)) + stripped.index("*"),
            hint="split the word, or use *part* to match inside words",
        )
    if (leading or trailing) and not tokenize(stripped):
        raise _error("a wildcard needs letters next to '*'", query, col)
    return _Chunk(stripped, col + len(text) - len(core), leading, trailing)


def _chunk_variants(chunk: _Chunk, query: str) -> list[list[Part]]:
    """Every token-sequence this chunk can match, stars applied to its ends."""
    units = _units(tokenize(chunk.core), chunk.core)
    cols = [chunk.col + u[0].start for u in units]
    combos = itertools.product(*(_unit_variants(u) for u in units))
    return [_apply_stars(chunk, combo, cols, query) for combo in combos]


def _apply_stars(
    chunk: _Chunk, combo: tuple[list[tuple[str, str]], ...], cols: list[int], query: str
) -> list[Part]:
    """Parts of one spelling; the leading star goes to the first, the trailing to the last."""
    flat = [(f, n, c) for words, c in zip(combo, cols) for f, n in words]
    last = len(flat) - 1
    return [
        _make_part(f, n, chunk.leading and i == 0, chunk.trailing and i == last, query, c)
        for i, (f, n, c) in enumerate(flat)
    ]


def _sequence_node(chunks: list[_Chunk], slop: int | None, query: str, col: int) -> Node:
    """Node for a run of chunks: a Term/Wildcard, a Phrase, or an OR of spellings."""
    per_chunk = [_chunk_variants(c, query) for c in chunks]
    variants = [[p for seq in combo for p in seq] for combo in itertools.product(*per_chunk)]
    if len(variants) > MAX_VARIANTS:  # too many hyphens: keep the split spelling only
        variants = variants[:1]
    nodes = [_seq_to_node(v, slop, col) for v in variants if v]
    if not nodes:
        raise _error("empty phrase", query, col, hint="put at least one word between the quotes")
    unique = list(dict.fromkeys(nodes))
    return unique[0] if len(unique) == 1 else Or(tuple(unique), col)


def _seq_to_node(parts: list[Part], slop: int | None, col: int) -> Node:
    """One word is a leaf; several form a phrase."""
    if len(parts) == 1:
        return parts[0]
    return Phrase(tuple(parts), slop, col)


def word_node(text: str, col: int, query: str) -> Node:
    """Node for a bare query word (may contain hyphens, apostrophes, stars)."""
    return _sequence_node([_chunk(text, col, query)], None, query, col)


def phrase_node(text: str, col: int, slop: int | None, query: str) -> Node:
    """Node for the inside of a quoted phrase (``col`` is that of its first character)."""
    chunks = [_chunk(m.group(), col + m.start(), query) for m in re.finditer(r"\S+", text)]
    chunks = [c for c in chunks if c.leading or c.trailing or tokenize(c.core)]
    return _sequence_node(chunks, slop, query, col - 1)


# ------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; one method per precedence level.

    ``meta`` is set while parsing the operand of ``feed:``/``tag:``/``lang:``:
    words there are metadata values, not text terms.
    """

    def __init__(self, query: str, toks: list[Tok]) -> None:
        self.query = query
        self.toks = toks
        self.i = 0
        self.meta: str | None = None
        self.meta_col = 0
        self.depth = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def peek_kind(self) -> str | None:
        tok = self.peek()
        return tok.kind if tok is not None else None

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, col: int, hint: str | None = None) -> QuerySyntaxError:
        return _error(message, self.query, col, hint)

    def starts_operand(self) -> bool:
        return self.peek_kind() in ("WORD", "PHRASE", "LPAREN", "NOT", "FIELD")

    def need_operand(self, op: Tok) -> None:
        """Raise for an operator with nothing usable on its right."""
        if not self.starts_operand():
            name = f"{op.text}:" if op.kind == "FIELD" else op.text
            raise self.error(
                f"{name!r} has nothing on its right", op.col, hint="add a term or remove it"
            )

    @contextmanager
    def nested(self, tok: Tok) -> Iterator[None]:
        """One level deeper (a group, NOT or field scope opened by `tok`).

        The parser and every walker of the tree recurse once per level, so an
        unbounded depth (``((((…``) would end in a RecursionError instead of
        an error the user can act on.
        """
        if self.depth >= MAX_DEPTH:
            raise self.error(
                f"query nested too deeply (more than {MAX_DEPTH} levels of "
                "parentheses, NOT or field scopes)",
                tok.col,
                hint="flatten the query: a OR b OR c needs no parentheses around each part",
            )
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def parse(self) -> Node:
        if not self.toks:
            raise self.error("empty query", 1, hint="write at least one word")
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:  # only a stray ')' can stop parse_or early
            raise self.error("unbalanced ')'", tok.col, hint="remove it or add a matching '('")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek_kind() == "OR":
            self.need_operand(self.take())
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(_flat(children, Or), children[0].col)

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self.peek_kind() == "AND" or self.starts_operand():
            if self.peek_kind() == "AND":
                self.need_operand(self.take())
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(_flat(children, And), children[0].col)

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while self.peek_kind() == "NEAR":
            op = self.take()
            self.need_operand(op)
            right = self.parse_unary()
            self.check_positional(left)
            self.check_positional(right)
            left = Near(left, right, op.number or 0, left.col)
        return left

    def check_positional(self, node: Node) -> None:
        """NEAR needs word positions: words, phrases, OR-groups, text-field scopes."""
        bad = _non_positional(node)
        if bad is not None:
            raise self.error(
                "NEAR works on words, phrases and OR-groups only",
                bad.col,
                hint='quote a phrase ("export controls" NEAR/3 chips) or move AND/NOT outside',
            )

    def parse_unary(self) -> Node:
        if self.peek_kind() == "NOT":
            op = self.take()
            self.need_operand(op)
            with self.nested(op):
                return Not(self.parse_unary(), op.col)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok is None:  # unreachable behind need_operand; kept as a guard
            raise self.error("query ends where a term was expected", len(self.query) + 1)
        if tok.kind in ("AND", "OR", "NEAR"):
            raise self.error(f"{tok.text!r} needs a term on its left", tok.col)
        if tok.kind == "RPAREN":
            raise self.error("unbalanced ')'", tok.col, hint="remove it or add a matching '('")
        self.take()
        if tok.kind in ("WORD", "PHRASE"):
            return self.leaf(tok)
        with self.nested(tok):
            if tok.kind == "NOT":
                self.need_operand(tok)
                return Not(self.parse_primary(), tok.col)
            if tok.kind == "LPAREN":
                return self.parse_group(tok)
            return self.parse_field(tok)

    def leaf(self, tok: Tok) -> Node:
        if self.meta is not None:
            return _meta_node(self.meta, tok, self.query, self.meta_col)
        if tok.kind == "PHRASE":
            return phrase_node(tok.text, tok.col, tok.number, self.query)
        return word_node(tok.text, tok.col, self.query)

    def parse_group(self, lparen: Tok) -> Node:
        if self.peek_kind() == "RPAREN":
            raise self.error("empty parentheses", lparen.col)
        node = self.parse_or()
        if self.peek_kind() != "RPAREN":
            raise self.error("unbalanced '('", lparen.col, hint="add the missing ')'")
        self.take()
        return node

    def parse_field(self, tok: Tok) -> Node:
        if self.meta is not None:
            raise self.error(f"field {tok.text}: inside {self.meta}:", tok.col)
        self.need_operand(tok)
        if tok.text not in META_FIELDS:
            return Scope(tok.text, self.parse_primary(), tok.col)
        self.meta, self.meta_col = tok.text, tok.col
        try:
            return self.parse_primary()
        finally:
            self.meta = None


def _flat(children: list[Node], kind: type[And | Or]) -> tuple[Node, ...]:
    """Children with nested same-kind groups spliced in: (a OR (b OR c)) = (a OR b OR c)."""
    out: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            out.extend(child.children)
        else:
            out.append(child)
    return tuple(out)


def _meta_node(kind: str, tok: Tok, query: str, col: int) -> Node:
    """``feed:le-monde``, ``tag:"tech news"``, ``lang:fr``: compared case-insensitively."""
    value = tok.text.strip().casefold()
    if kind == "lang":
        value = language_code(value) or ""
    if not value:
        raise _error(f"{kind}: needs a value", query, tok.col)
    return Meta(kind, value, col)


def _non_positional(node: Node) -> Node | None:
    """The first sub-node that has no word positions (AND, NOT, metadata), if any."""
    match node:
        case Term() | Wildcard() | Phrase() | Near():
            return None
        case Or():
            for child in node.children:
                bad = _non_positional(child)
                if bad is not None:
                    return bad
            return None
        case Scope():
            return _non_positional(node.child)
        case _:
            return node


def parse_query(query: str) -> Query:
    """Parse a topic query; raises QuerySyntaxError with the offending column."""
    return Query(query, _Parser(query, lex(query)).parse())


def validate_query(query: str) -> None:
    """Raise QuerySyntaxError if ``query`` does not parse; for config validation."""
    parse_query(query)


# the tree's types are re-exported: callers import the language from one module
__all__ = [
    "CLOSE_QUOTES",
    "MAX_DEPTH",
    "META_FIELDS",
    "OPEN_QUOTES",
    "TEXT_FIELDS",
    "And",
    "Meta",
    "Near",
    "Node",
    "Not",
    "Or",
    "Part",
    "Phrase",
    "Query",
    "Scope",
    "Term",
    "Wildcard",
    "describe",
    "lex",
    "parse_query",
    "phrase_node",
    "validate_query",
    "word_node",
]
