"""The topic query language's lexer: query text to tokens, each with its 1-based column.

Split from :mod:`aggregator.query.syntax` (the parser), which re-exports its names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from aggregator.exceptions import QuerySyntaxError
from aggregator.query.normalize import tokenize

TEXT_FIELDS = ("title", "summary", "body")
META_FIELDS = ("feed", "tag", "lang")
OPEN_QUOTES = '"\u201c\u201e\u00ab'
CLOSE_QUOTES = '"\u201d\u201c\u00bb'
MAX_NEAR = 100
MAX_VARIANTS = 16
MAX_DEPTH = 32  # groups, NOTs and field scopes inside each other; real queries use < 5
MIN_PREFIX = 2  # "ai*" is fine, "a*" would match half the dictionary
MIN_INFIX = 3  # "*kontroll*", not "*ko*"
AMBIGUOUS = {"and": "AND", "or": "OR", "not": "NOT"}

# -------------------------------------------------------------------------- lexer


@dataclass(frozen=True)
class Tok:
    """A lexical token; ``col`` is 1-based; ``number`` holds NEAR/n or ~n."""

    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT NEAR FIELD
    text: str
    col: int
    number: int | None = None


def _error(message: str, query: str, col: int, hint: str | None = None) -> QuerySyntaxError:
    return QuerySyntaxError(message, query=query, column=col, hint=hint)


def _word_end(query: str, i: int) -> int:
    """Index just past the bare word starting at ``i``."""
    stop = set("()") | set(OPEN_QUOTES) | set(CLOSE_QUOTES)
    j = i
    while j < len(query) and not query[j].isspace() and query[j] not in stop:
        j += 1
    return j


def _lex_phrase(query: str, i: int) -> tuple[Tok, int]:
    """A quoted phrase starting at ``i``, with an optional ``~n`` right after it."""
    j = i + 1
    while j < len(query) and query[j] not in CLOSE_QUOTES:
        j += 1
    if j >= len(query):
        raise _error("unterminated quote", query, i + 1, hint='close the phrase with "')
    end = j + 1
    slop: int | None = None
    if end < len(query) and query[end] == "~":
        m = re.match(r"~(\d+)", query[end:])
        if not m:
            raise _error("'~' must be followed by a number", query, end + 1, hint='e.g. "a b"~3')
        slop = int(m.group(1))
        if slop > MAX_NEAR:
            raise _error(f"~{slop} is too far (at most {MAX_NEAR})", query, end + 1)
        end += m.end()
    return Tok("PHRASE", query[i + 1 : j], i + 2, slop), end


def _lex_near(word: str, query: str, col: int) -> Tok:
    """``NEAR/n``: n words at most between the two sides."""
    m = re.fullmatch(r"NEAR/(\d+)", word)
    if not m:
        raise _error(
            f"bad proximity operator {word!r}", query, col, hint="write NEAR/n, e.g. NEAR/3"
        )
    distance = int(m.group(1))
    if distance > MAX_NEAR:
        raise _error(f"NEAR/{distance} is too far (at most {MAX_NEAR})", query, col)
    return Tok("NEAR", word, col, distance)


def _has_content(word: str) -> bool:
    """Whether a bare word yields anything: letters/digits or a wildcard star."""
    return "*" in word or bool(tokenize(word))


def _lex_word(word: str, query: str, col: int) -> list[Tok]:
    """Classify a bare word: operator, field prefix, or plain word (maybe nothing)."""
    if word in ("AND", "OR", "NOT"):
        return [Tok(word, word, col)]
    if word == "NEAR" or word.startswith("NEAR/"):
        return [_lex_near(word, query, col)]
    if word.lower() in AMBIGUOUS:
        op = AMBIGUOUS[word.lower()]
        hint = f'write {op} for the operator, or "{word}" in quotes to search for the word'
        raise _error(f"ambiguous {word!r}: operators are upper-case", query, col, hint=hint)
    if word.startswith("~"):
        raise _error("'~n' must follow a closing quote directly", query, col, hint='e.g. "a b"~3')
    m = re.match(r"([A-Za-z]+):", word)
    if m:
        return _lex_field(m.group(1), word[m.end() :], query, col)
    return [Tok("WORD", word, col)] if _has_content(word) else []


def _lex_field(name: str, rest: str, query: str, col: int) -> list[Tok]:
    """``title:`` and friends; the rest of the word (if any) is its operand."""
    if name.lower() not in TEXT_FIELDS + META_FIELDS:
        known = ", ".join(f"{f}:" for f in TEXT_FIELDS + META_FIELDS)
        hint = f'known fields: {known}; put the word in quotes to search for "{name}:"'
        raise _error(f"unknown field {name!r}", query, col, hint=hint)
    toks = [Tok("FIELD", name.lower(), col)]
    if rest:
        toks += _lex_word(rest, query, col + len(name) + 1)
    return toks


def lex(query: str) -> list[Tok]:
    """Split a query into tokens; punctuation-only words are dropped."""
    return list(_lex(query))


def _lex(query: str) -> Iterator[Tok]:
    i = 0
    while i < len(query):
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            yield Tok("LPAREN" if c == "(" else "RPAREN", c, i + 1)
            i += 1
        elif c in OPEN_QUOTES:
            tok, i = _lex_phrase(query, i)
            yield tok
        elif c in CLOSE_QUOTES:
            raise _error("closing quote without an opening one", query, i + 1)
        elif c == "-" and i + 1 < len(query) and _starts_operand(query[i + 1]):
            yield Tok("NOT", "-", i + 1)
            i += 1
        else:
            j = _word_end(query, i)
            yield from _lex_word(query[i:j], query, i + 1)
            i = j


def _starts_operand(c: str) -> bool:
    """After a leading '-', does this character start something to negate?"""
    return not c.isspace() and c not in ")-"
