"""Show a change to a human (terminal, e-mail/web page) or to a program (JSON).

Renderers show the real text with only whitespace cleaned: the desk wants to
see what readers see, stamps included, even though stamps never *trigger* a
change.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from difflib import SequenceMatcher

from aggregator.changes.diff import DiffOp, token_diff, tokenize, word_diff
from aggregator.changes.normalize import clean_line, paragraphs
from aggregator.changes.summary import ChangeSummary

_ANSI = {"delete": ("\x1b[31m", "\x1b[0m"), "insert": ("\x1b[32m", "\x1b[0m")}
_PLAIN = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}
_EDGES = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)


def render_text(ops: Sequence[DiffOp], *, color: bool) -> str:
    """A diff as one text: ANSI red/green for a terminal, wdiff-style ``[-x-]{+y+}`` otherwise.

    Markers wrap each line separately and leave surrounding whitespace outside,
    so pagers and line-based tools keep working.
    """
    marks = _ANSI if color else _PLAIN
    return "".join(op.text if op.op == "equal" else _mark(op, marks[op.op]) for op in ops)


def _mark(op: DiffOp, marks: tuple[str, str]) -> str:
    """Wrap every non-blank line of a changed run in the given open/close markers."""
    if not op.text.strip():
        return op.text if op.op == "insert" else ""
    return "\n".join(_wrap_line(line, marks) for line in op.text.split("\n"))


def _wrap_line(line: str, marks: tuple[str, str]) -> str:
    match = _EDGES.match(line)
    assert match is not None  # the pattern matches any string
    lead, core, trail = match.groups()
    return f"{lead}{marks[0]}{core}{marks[1]}{trail}" if core else line


_TABLE_STYLE = "border-collapse:collapse;width:100%;font-family:sans-serif;font-size:14px"
_CELL_STYLE = "vertical-align:top;width:50%;padding:4px 8px;border:1px solid #ddd"
_DEL_STYLE = "background:#fdd;color:#900;text-decoration:line-through"
_INS_STYLE = "background:#dfd;color:#060;text-decoration:none"


def render_html(old_title: str, old_text: str, new_title: str, new_text: str) -> str:
    """A self-contained side-by-side ``<table>`` (inline styles only, fits in an e-mail).

    One row per aligned paragraph, the headline first; removed words are
    ``<del>`` on the left, added ones ``<ins>`` on the right.  All text is
    HTML-escaped.
    """
    rows = [_row(*_pair_cells(clean_line(old_title), clean_line(new_title)), tag="th")]
    rows += [_row(left, right) for left, right in _paragraph_rows(old_text, new_text)]
    head = _row("Before", "After", tag="th")
    return (
        f'<table class="aggregator-diff" style="{_TABLE_STYLE}">\n{head}\n'
        + "\n".join(rows)
        + "\n</table>"
    )


def _paragraph_rows(old_text: str, new_text: str) -> Iterator[tuple[str, str]]:
    """Cells for each aligned pair of paragraphs; unmatched ones face an empty cell."""
    old, new = paragraphs(old_text), paragraphs(new_text)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            left = old[i1 + k] if i1 + k < i2 else None
            right = new[j1 + k] if j1 + k < j2 else None
            yield _pair_cells(left, right) if tag != "equal" else (_esc(left), _esc(right))


def _pair_cells(old: str | None, new: str | None) -> tuple[str, str]:
    """Left and right cell HTML for one paragraph pair, word-diffed when both exist."""
    if old is None or new is None:
        return _wrap("del", old or ""), _wrap("ins", new or "")
    ops = list(token_diff(tokenize(old), tokenize(new)))
    left = "".join(_html_op(op) for op in ops if op.op != "insert")
    right = "".join(_html_op(op) for op in ops if op.op != "delete")
    return left, right


def _html_op(op: DiffOp) -> str:
    return (
        _esc(op.text) if op.op == "equal" else _wrap("del" if op.op == "delete" else "ins", op.text)
    )


def _wrap(tag: str, text: str) -> str:
    if not text:
        return ""
    style = _DEL_STYLE if tag == "del" else _INS_STYLE
    return f'<{tag} style="{style}">{_esc(text)}</{tag}>'


def _esc(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def _row(left: str, right: str, *, tag: str = "td") -> str:
    cell = f'<{tag} style="{_CELL_STYLE}">'
    return f"<tr>{cell}{left}</{tag}>{cell}{right}</{tag}></tr>"


def render_json(ops: Sequence[DiffOp], summary: ChangeSummary) -> dict[str, object]:
    """A JSON-ready dict: the change kind, the summary's fields and the diff runs."""
    return {
        "kind": summary.kind(),
        "summary": {**asdict(summary), "words_changed": summary.words_changed},
        "ops": [{"op": op.op, "text": op.text} for op in ops],
    }


def text_diff(old_text: str, new_text: str) -> list[DiffOp]:
    """Word diff of two texts as renderers show them: paragraphs cleaned, one per line."""
    return word_diff("\n".join(paragraphs(old_text)), "\n".join(paragraphs(new_text)))
