"""`topics test`: try a topic (or a draft query) on a URL, a file, a text or stored
articles, and show hit or miss, the terms and highlighted snippets, so an
editor can tune a topic before saving it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

from aggregator.config.models import Config
from aggregator.exceptions import UsageError
from aggregator.extract.article import Extracted, extract_article
from aggregator.extract.language import detect_language
from aggregator.topics import (
    Document,
    HighlightStyle,
    Snippet,
    TopicIndex,
    TopicMatch,
    TopicSpec,
    highlight,
)
from aggregator.topics.crosslingual.match import CrossMatch
from aggregator.topics.crosslingual.service import (
    CrossLingualMatcher,
    DocIn,
    cross_specs,
    explanation,
)
from aggregator.types import PageText


@dataclass
class Sample:
    label: str
    doc: Document
    match: TopicMatch | None = None
    cross: CrossMatch | None = None  # a cross-lingual match (when the literal query missed)

    @property
    def hit(self) -> bool:
        return self.match is not None or self.cross is not None


@dataclass
class TopicTestReport:
    topic: str
    query: str
    samples: list[Sample] = field(default_factory=list)
    style: HighlightStyle = "brackets"

    @property
    def any_hit(self) -> bool:
        return any(s.hit for s in self.samples)

    def lines(self) -> list[str]:
        out = [f"topic {self.topic}: {' '.join(self.query.split())}"]
        for s in self.samples:
            out.extend(self._sample_lines(s))
        hits = sum(1 for s in self.samples if s.hit)
        out.append(f"{hits} hit(s) in {len(self.samples)} document(s)")
        return out

    def _sample_lines(self, s: Sample) -> list[str]:
        lang = s.doc.language or "?"
        if s.cross is not None:
            return self._cross_lines(s, lang)
        if s.match is None:
            return [f"MISS  {s.label} [{lang}]"]
        lines = [
            f"HIT   {s.label} [{lang}]  method: literal",
            f"      terms: {', '.join(s.match.terms)}",
        ]
        lines += [f"      {highlight(sn, self.style)}" for sn in s.match.snippets]
        return lines

    def _cross_lines(self, s: Sample, lang: str) -> list[str]:
        m = s.cross
        assert m is not None
        lines = [
            f"HIT   {s.label} [{lang}]  method: {m.method}, score {m.score:.3f} "
            f"(threshold {m.threshold:.3f})",
            f"      terms: {', '.join(m.terms) or '-'}",
            f"      expanded terms that hit: {', '.join(m.expanded) or '-'}",
        ]
        for e in m.sentences:
            spans = tuple((a - e.start, b - e.start) for a, b in e.spans)
            text = highlight(Snippet(e.text, spans), self.style)
            lines.append(f"      sentence ({e.field}, score {e.score:.3f}): {text}")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "query": self.query,
            "hits": sum(s.hit for s in self.samples),
            "documents": [
                {
                    "label": s.label,
                    "language": s.doc.language,
                    "hit": s.hit,
                    "method": "literal" if s.match else (s.cross.method if s.cross else None),
                    "terms": list(s.match.terms)
                    if s.match
                    else (list(s.cross.terms) if s.cross else []),
                    "snippets": [sn.text for sn in s.match.snippets]
                    if s.match
                    else ([s.cross.sentences[0].text] if s.cross else []),
                    "explanation": explanation(s.cross) if s.cross else None,
                }
                for s in self.samples
            ],
        }


def topic_spec(cfg: Config, name: str | None, query: str | None) -> TopicSpec:
    """The named topic, optionally with its query replaced by a draft `query`."""
    if name is None and query is None:
        raise UsageError("name a topic or pass --query", hint="aggregator topics list")
    base = next((t for t in cfg.topics if t.name == name), None)
    if name is not None and base is None:
        raise UsageError(f"no topic named {name!r}", hint="aggregator topics list")
    if base is None:
        return TopicSpec(name="draft", query=query or "")
    return TopicSpec(
        name=base.name,
        query=query or base.query,
        description=base.description_text(),
        fields=tuple(base.fields),
        languages=tuple(base.languages),
        feeds=tuple(base.feeds),
        tags=tuple(base.tags),
        cross_lingual=base.cross_lingual,
        descriptions=base.descriptions(),
        threshold=None if base.threshold == "auto" else float(base.threshold),
    )


def run_topic_test(
    cfg: Config, args: argparse.Namespace, *, style: HighlightStyle
) -> TopicTestReport:
    spec = topic_spec(cfg, args.name, args.query)
    spec_for_docs = replace(spec, feeds=(), tags=())  # scopes by feed/tag don't apply here
    index = TopicIndex([spec_for_docs])
    report = TopicTestReport(spec.name, spec.query, style=style)
    documents = _documents(cfg, args)
    for label, doc in documents:
        hits = index.match(doc)
        report.samples.append(Sample(label, doc, hits[0] if hits else None))
    misses = [s for s in report.samples if s.match is None]
    if spec.cross_lingual and not getattr(args, "no_cross_lingual", False) and misses:
        background = [" ".join(filter(None, (d.title, d.summary))) for _, d in documents]
        matcher = CrossLingualMatcher(cross_specs([spec_for_docs]), lambda: background)
        docs = [DocIn(s.doc.title, s.doc.summary, s.doc.body, s.doc.language) for s in misses]
        for sample, found in zip(misses, matcher.match_here(docs), strict=True):
            sample.cross = found[0] if found else None
    return report


def _documents(cfg: Config, args: argparse.Namespace) -> list[tuple[str, Document]]:
    if args.text is not None:
        return [("--text", _doc_from_text(args.text, args.language))]
    if args.file is not None:
        return [(str(args.file), _doc_from_file(args.file.read_bytes(), args.language))]
    if args.url is not None:
        page = _fetch_page(cfg, args.url, force=getattr(args, "force", False))
        return [(args.url, _doc_from_page(page))]
    return _stored(cfg, args)


def _doc_from_text(text: str, language: str | None) -> Document:
    return Document(body=text, language=language or detect_language(text))


def _doc_from_file(data: bytes, language: str | None) -> Document:
    from aggregator.parse.discover import looks_like_html

    if looks_like_html(data):
        return _doc_from_page(extract_article(data, "file:///local"))
    return _doc_from_text(data.decode("utf-8", errors="replace"), language)


def _doc_from_page(page: Extracted | PageText) -> Document:
    return Document(title=page.title or "", body=page.text, language=page.language)


def _fetch_page(cfg: Config, url: str, *, force: bool = False) -> PageText:
    """The page through the facade (its fetcher: SSRF guard, limits, politeness, and
    a host's standing Retry-After unless `force`)."""
    from aggregator.core import make_aggregator

    with make_aggregator(cfg, extract_workers=0) as agg:
        return agg.fetch_page(url, force=force)


def _stored(cfg: Config, args: argparse.Namespace) -> list[tuple[str, Document]]:
    from aggregator.cli.common import parse_since
    from aggregator.core import make_aggregator

    with make_aggregator(cfg, extract_workers=0) as agg:
        items = agg.articles(since=parse_since(args.since), limit=10_000)
        return [(f"#{a.id} {a.title}", _document(agg.article(a.id))) for a in items]


def _document(a: Any) -> Document:
    return Document(
        title=a.title or "",
        summary=a.summary or "",
        body=a.text or "",
        language=a.language,
        feeds=a.feeds,
    )
