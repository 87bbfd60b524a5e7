"""Jinja2 environment and the filters the desk's templates use.

Autoescaping is on for every template; the filters that return markup build it
from escaped pieces (``markupsafe.escape``), so stored text - titles, snippets,
diffs - can never become markup. Links to stored URLs pass :func:`safe_href`,
which drops anything but http(s) (a feed can carry ``javascript:`` links).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from aggregator.urls import redact_url


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("aggregator.web", "templates"),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        highlight=highlight,
        runs=runs,
        sparkline=sparkline,
        safe_href=safe_href,
        paragraphs=paragraphs,
        ago=ago,
        summary_line=summary_line,
        redact_url=redact_url,
    )
    env.globals.update(query=query)
    return env


def when(v: datetime | None) -> str:
    """A UTC time as the desk shows it: 2026-11-28 09:00 UTC."""
    if v is None:
        return "—"
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(v: datetime | None, now: datetime | None = None) -> str:
    """A short relative time: 5m ago, 3h ago, in 10m."""
    if v is None:
        return "—"
    delta = ((now or datetime.now(UTC)) - v).total_seconds()
    future, s = delta < 0, abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            text = f"{int(s // size)}{unit}"
            break
    else:
        text = f"{int(s)}s"
    return f"in {text}" if future else f"{text} ago"


def highlight(snippet: Any) -> Markup:
    """A snippet's text with its highlights in <mark>; everything escaped."""
    text: str = snippet.text
    out: list[str] = []
    pos = 0
    for start, end in sorted(tuple(h) for h in snippet.highlights):
        if start < pos or end > len(text) or start >= end:
            continue
        out += [
            escape(text[pos:start]),
            Markup("<mark>"),
            escape(text[start:end]),
            Markup("</mark>"),
        ]
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def runs(items: Iterable[Any]) -> Markup:
    """Diff runs as <del>/<ins> spans; equal text plain."""
    out: list[str] = []
    for r in items:
        if r.op == "equal":
            out.append(escape(r.text))
        else:
            tag = "ins" if r.op == "insert" else "del"
            out += [Markup(f"<{tag}>"), escape(r.text), Markup(f"</{tag}>")]
    return Markup("").join(out)


def sparkline(counts: Sequence[int], width: int = 120, height: int = 24) -> Markup:
    """Bars of stories per day as inline SVG (no inline style: CSP forbids it)."""
    if not counts:
        return Markup("")
    top = max(counts) or 1
    bar = width / len(counts)
    rects = []
    for i, n in enumerate(counts):
        h = 0 if n == 0 else max(1.0, height * n / top)
        rects.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}"><title>{n}</title></rect>'
        )
    rects.insert(
        0, f'<line class="base" x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}"></line>'
    )
    total = sum(counts)
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{total} stories in {len(counts)} days">{"".join(rects)}</svg>'
    )


def safe_href(url: str | None) -> str | None:
    """`url` if it is an http(s) link, else None (javascript:, data: ... are dropped)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def paragraphs(text: str | None) -> list[str]:
    """Extracted text is one paragraph per line."""
    return [p.strip() for p in (text or "").splitlines() if p.strip()]


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from the current filters with some changed (None drops a key)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", False)})


def summary_line(summary: dict[str, Any], kind: str | None = None) -> str:
    """A change in one line: "headline changed, +42 -3 words, 1 paragraph added"."""
    parts: list[str] = []
    if kind == "retraction" or summary.get("retracted"):
        parts.append("retracted")
    if kind == "revert" or summary.get("is_revert"):
        parts.append("reverted to an earlier version")
    if summary.get("headline_changed"):
        parts.append("headline changed")
    added, removed = int(summary.get("words_added") or 0), int(summary.get("words_removed") or 0)
    if added or removed:
        parts.append(f"+{added} \u2212{removed} words")
    for key, label in (
        ("paragraphs_added", "added"),
        ("paragraphs_removed", "removed"),
        ("paragraphs_changed", "edited"),
    ):
        n = int(summary.get(key) or 0)
        if n:
            parts.append(f"{n} paragraph{'s' if n > 1 else ''} {label}")
    if summary.get("correction"):
        parts.append(f"correction: {summary['correction']}")
    return ", ".join(parts) or "no visible change"
