"""Text shared by every channel: cleaned titles, subjects, highlighted snippets, templates.

Titles and snippets come from feeds, i.e. from strangers. Everything here
assumes they are hostile: control characters and line separators are removed
before a title can reach a header, and HTML is escaped before it reaches a
template. Templates are ``string.Template`` files (no code, no loops) so a
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

from aggregator.alerts.types import AlertEvent, Snippet
from aggregator.exceptions import ConfigError

_BREAKING = {"Cc", "Zl", "Zp"}  # controls (NUL, CR, LF, DEL, C1), U+2028, U+2029
_SPACES = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~-])")
MAX_SUBJECT = 200


class Markup(str):
    """HTML that is already safe; the renderer inserts it without escaping."""


def _blank_breaks(text: str) -> str:
    """Replace each breaking character by a space, one for one, so offsets still hold."""
    return "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)


def clean_line(text: str | None) -> str:
    """One line of display text: no control or line-separator character survives."""
    return _SPACES.sub(" ", _blank_breaks(text or "")).strip()


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
    text = _blank_breaks(snippet.text)
    for start, end in spans(snippet):
        out += [plain(text[pos:start]), mark(text[start:end])]
        pos = end
    out.append(plain(text[pos:]))
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
