"""Text shared by every channel: cleaned titles, subjects, highlighted snippets, templates.

Titles and snippets come from feeds, i.e. from strangers. Everything here
assumes they are hostile: control characters and line separators are removed
before a title can reach a header, invisible format characters (bidi overrides
such as U+202E, which make "gpj.exe" read as "exe.jpg") are dropped, and HTML is
escaped before it reaches a template. Templates are ``string.Template`` files (no code, no loops) so a
user can override them without being able to run anything.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.alerts.types import AlertChange, AlertEvent, Passage, Snippet
from aggregator.changes.alerting import REASONS
from aggregator.changes.corrections import is_correction_notice
from aggregator.changes.diff import token_diff, tokenize
from aggregator.changes.passages import clip, passage_lines
from aggregator.exceptions import ConfigError

_BREAKING = {"Cc", "Zl", "Zp"}  # controls (NUL, CR, LF, DEL, C1), U+2028, U+2029
#: Zero-width (non-)joiners are format characters too, but Persian, Indic scripts and
#: emoji sequences need them, and they cannot reorder or hide text: they stay.
_JOINERS = frozenset("\u200c\u200d")
_SPACES = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~-])")
MAX_SUBJECT = 200


class Markup(str):
    """HTML that is already safe; the renderer inserts it without escaping."""


def _scrub_char(c: str) -> str:
    category = unicodedata.category(c)
    if category in _BREAKING:
        return " "
    if category == "Cf" and c not in _JOINERS:
        return ""  # bidi overrides/isolates/marks, BOM, soft hyphen, tags, zero-width space
    return c


def _scrub(text: str) -> str:
    """Breaking characters become spaces, invisible format characters disappear."""
    if text.isascii():
        return "".join(c if c.isprintable() else " " for c in text)
    return "".join(_scrub_char(c) for c in text)


def clean_line(text: str | None) -> str:
    """One line of display text: no control, line-separator or format character survives."""
    return _SPACES.sub(" ", _scrub(text or "")).strip()


def clean_block(text: str | None) -> str:
    """Multi-line display text: keeps newlines, drops every other control character."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(clean_line(line) for line in lines).strip()


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary so subjects and chat titles stay readable."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


def is_web_url(url: str | None) -> bool:
    """Only http(s) links become clickable; a feed could carry javascript: URLs."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def spans(snippet: Snippet) -> list[tuple[int, int]]:
    """Highlight ranges clamped to the text, sorted and merged (feeds do overlap)."""
    size = len(snippet.text)
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(size, e)) for s, e in snippet.highlights):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(snippet: Snippet, mark: Callable[[str], str], plain: Callable[[str], str]) -> str:
    """Render a snippet, passing matched ranges through `mark` and the rest through `plain`."""
    out, pos = [], 0
    text = snippet.text  # sliced before scrubbing: the highlight offsets are into this text
    for start, end in spans(snippet):
        out += [plain(_scrub(text[pos:start])), mark(_scrub(text[start:end]))]
        pos = end
    out.append(plain(_scrub(text[pos:])))
    return _SPACES.sub(" ", "".join(out)).strip()


def html_snippet(snippet: Snippet) -> Markup:
    return Markup(highlight(snippet, lambda s: f"<mark>{html.escape(s)}</mark>", html.escape))


def text_snippet(snippet: Snippet) -> str:
    return highlight(snippet, lambda s: f"*{s}*", str)


def md_escape(text: str) -> str:
    """Markdown-escape feed text so a title cannot inject links or formatting."""
    return _md(clean_line(text))


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_snippet(snippet: Snippet) -> str:
    return highlight(snippet, lambda s: f"**{_md(s)}**", _md)


def headline(event: AlertEvent) -> str:
    """The line that names one event: the article title, or the feed and its problem."""
    if event.article is not None:
        return clean_line(event.article.title) or clean_line(event.article.url) or "(untitled)"
    if event.source is not None:
        return clean_line(f"{event.source.feed}: {event.source.problem}")
    return "Test alert from aggregator"


def subject(events: Sequence[AlertEvent]) -> str:
    """`[topic] headline`, `[topic] Edited: headline` or `[topic] N new articles`."""
    first = events[0]
    if len(events) > 1:
        return shorten(clean_line(f"[{_digest_label(events)}] {_count(events)}"), MAX_SUBJECT)
    prefix = {"change": "Edited: ", "source": "Source problem: "}.get(first.event, "")
    label = first.topic or first.event
    return shorten(clean_line(f"[{label}] {prefix}{headline(first)}"), MAX_SUBJECT)


def _digest_label(events: Sequence[AlertEvent]) -> str:
    topics = sorted({e.topic or e.event for e in events})
    return topics[0] if len(topics) == 1 else ", ".join(topics)


def _count(events: Sequence[AlertEvent]) -> str:
    articles = sum(1 for e in events if e.event == "match")
    if articles == len(events):
        return f"{articles} new articles"
    return f"{len(events)} alerts"


def by_topic(events: Iterable[AlertEvent]) -> dict[str, list[AlertEvent]]:
    """Digest sections, in topic order; source events and tests get their own section."""
    groups: dict[str, list[AlertEvent]] = {}
    for event in sorted(events, key=lambda e: (e.topic or f"~{e.event}", e.created_at)):
        groups.setdefault(event.topic or event.event, []).append(event)
    return groups


def when(moment: datetime | None) -> str:
    """A timestamp readable in any time zone: ISO 8601, minutes, with the offset."""
    if moment is None:
        return "unknown"
    return moment.isoformat(timespec="minutes")


class Templates:
    """Template files from a user directory, falling back to the packaged ones."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None and not directory.is_dir():
            raise ConfigError(
                f"alert templates directory {str(directory)!r} does not exist",
                hint="point `templates:` at a folder holding your *.txt/*.html files",
            )
        self.directory = directory
        self._cache: dict[str, string.Template] = {}

    def render(self, name: str, values: Mapping[str, str]) -> str:
        """Fill `name`; in .html templates every value not marked Markup is escaped.

        ``safe_substitute`` keeps an unknown ``$placeholder`` in a user template
        visible instead of failing every alert.
        """
        escape = name.endswith(".html")
        filled = {
            k: v if not escape or isinstance(v, Markup) else html.escape(v)
            for k, v in values.items()
        }
        return self._template(name).safe_substitute(filled)

    def _template(self, name: str) -> string.Template:
        if name not in self._cache:
            self._cache[name] = string.Template(self._source(name))
        return self._cache[name]

    def _source(self, name: str) -> str:
        if self.directory is not None and (self.directory / name).is_file():
            return (self.directory / name).read_text(encoding="utf-8")
        return resources.files("aggregator.alerts").joinpath("templates", name).read_text("utf-8")


# --- change passages --------------------------------------------------------------------

_DEL_STYLE = "background:#fdd;color:#900"
_INS_STYLE = "background:#dfd;color:#060"
_WORD_DEL = "background:#f99;text-decoration:line-through"
_WORD_INS = "background:#9e9;text-decoration:none"
PASSAGE_WIDTH = 300


def reason_text(change: AlertChange) -> str:
    """The reason codes in words ("headline changed, 31 words changed")."""
    words = {"min_words": f"{change.words_added + change.words_removed} words changed"}
    return ", ".join(
        words.get(code) or REASONS.get(code) or clean_line(code) for code in change.reasons
    )


def correction_line(correction: str) -> str:
    """ "Correction: ..." once: a notice that carries its own label is not labelled again."""
    text = clean_line(correction)
    return text if is_correction_notice(text) else f"Correction: {text}"


def more_line(change: AlertChange) -> str:
    more = change.more_changes
    return f"… and {more} more change{'s' if more != 1 else ''}" if more else ""


def passages_text(change: AlertChange) -> str:
    """``- removed`` / ``+ added`` lines and the "and N more changes" line.

    An alert queued before passages existed carries only ``diff_summary``: shown as is.
    """
    if not change.passages:
        return "" if change.detail else clean_block(change.diff_summary)
    return passage_lines(
        [
            Passage(tuple(map(clean_line, p.removed)), tuple(map(clean_line, p.added)))
            for p in change.passages
        ],
        change.more_changes,
        width=PASSAGE_WIDTH,
    )


def passages_html(change: AlertChange) -> Markup:
    """Removed sentences on red, added on green; in a one-for-one rewrite the words that
    differ are marked too, so "May" → "July" stands out inside the sentence."""
    if not change.passages:
        text = "" if change.detail else clean_block(change.diff_summary)
        return Markup(
            f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre>' if text else ""
        )
    rows = []
    for p in change.passages:
        removed = [clip(clean_line(s), PASSAGE_WIDTH) for s in p.removed]
        added = [clip(clean_line(s), PASSAGE_WIDTH) for s in p.added]
        if len(removed) == len(added) == 1:
            old, new = _word_marks(removed[0], added[0])
            rows += [_passage_row("−", old, _DEL_STYLE), _passage_row("+", new, _INS_STYLE)]
            continue
        rows += [_passage_row("−", html.escape(s), _DEL_STYLE) for s in removed]
        rows += [_passage_row("+", html.escape(s), _INS_STYLE) for s in added]
    if more := more_line(change):
        rows.append(f'<p style="margin: 0.3em 0; color: #555">{html.escape(more)}</p>')
    return Markup("".join(rows))


def _passage_row(sign: str, inner: str, style: str) -> str:
    return f'<p style="margin: 0.2em 0; padding: 0.1em 0.4em; {style}">{sign} {inner}</p>'


def _word_marks(old: str, new: str) -> tuple[str, str]:
    ops = list(token_diff(tokenize(old), tokenize(new)))

    def side(skip: str, tag: str, style: str) -> str:
        return "".join(
            html.escape(op.text)
            if op.op == "equal"
            else f'<{tag} style="{style}">{html.escape(op.text)}</{tag}>'
            for op in ops
            if op.op != skip
        )

    return side("insert", "del", _WORD_DEL), side("delete", "ins", _WORD_INS)


def passages_md(change: AlertChange) -> str:
    """Markdown: quoted ``−``/``+`` lines (feed text escaped), then the "more" line."""
    lines = []
    for p in change.passages:
        lines += [f"> − {md_escape(clip(s, PASSAGE_WIDTH))}" for s in p.removed]
        lines += [f"> \\+ {md_escape(clip(s, PASSAGE_WIDTH))}" for s in p.added]
    if more := more_line(change):
        lines.append(md_escape(more))
    return "\n".join(lines)
