"""Atom 1.0 feeds of the desk: a topic's stories, the alert outbox, the changes.

Any feed reader (or a Slack RSS app) can follow the desk. Readers cannot log
in, so each feed URL carries its own secret token (shown on the page it belongs
to). Entry ids are ``urn:uuid:`` names derived from the database's secret and the
story, so they survive restarts and differ between databases. A feed's ETag is a
hash of its body and its Last-Modified the newest entry's time; a reader that
sends either back gets 304 when nothing changed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aggregator.types import StreamFilter
from aggregator.web.context import WebContext
from aggregator.web.render import safe_href, summary_line

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
ENTRIES = 50


@dataclass(frozen=True)
class Entry:
    key: str  # what the stable id is derived from
    title: str
    link: str
    updated: datetime
    summary: str
    original: str | None = None
    categories: tuple[str, ...] = ()
    author: str | None = None


class Feeds:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def _allowed(self, request: Request) -> bool:
        return self.ctx.auth.check_feed_token(
            request.url.path.removeprefix(request.scope.get("root_path", "")),
            request.query_params.get("token"),
        )

    def _refused(self) -> Response:
        return PlainTextResponse(
            "unknown feed, or wrong token: copy the feed's link from the desk page it belongs to\n",
            status_code=404,
        )

    def topic(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not self._allowed(request):
            return self._refused()
        agg = self.ctx.agg
        if name not in {t.name for t in agg.config.topics}:
            return PlainTextResponse(f"no topic named {name!r}\n", status_code=404)
        page = agg.stream(StreamFilter(topic=name, limit=ENTRIES))
        entries = []
        for item in page.items:
            a = item.article
            snippet = item.match.snippets[0].text if item.match and item.match.snippets else ""
            sources = ", ".join(item.sources)
            terms = ", ".join(item.match.terms) if item.match else ""
            summary = f"{snippet}\n\nSources: {sources}" + (f"\nMatched: {terms}" if terms else "")
            entries.append(
                Entry(
                    f"article/{a.id}",
                    a.title or "(untitled)",
                    self.ctx.story_url(request, a.id),
                    item.match.created_at if item.match else a.first_seen_at,
                    summary,
                    safe_href(a.url),
                    (name, *(a.language or "",)),
                    a.author,
                )
            )
        return self._respond(request, f"topic/{name}", f"Topic: {name}", entries, f"/topics/{name}")

    def alerts(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._refused()
        entries = []
        for al in self.ctx.agg.alerts(None, ENTRIES):
            link = (
                self.ctx.story_url(request, al.article_id)
                if al.article_id is not None
                else self.ctx.absolute(request, "/alerts")
            )
            what = al.title or al.event
            summary = (
                f"{al.event} on {al.channel}"
                + (f" for topic {al.topic}" if al.topic else "")
                + f": {al.status} after {al.attempts} attempt(s)"
                + (f"; last error: {al.last_error}" if al.last_error else "")
            )
            updated = al.sent_at or al.created_at
            entries.append(
                Entry(
                    f"alert/{al.alert_id}/{al.status}",
                    f"[{al.status}] {what}",
                    link,
                    updated,
                    summary,
                    categories=(al.status, al.channel),
                )
            )
        return self._respond(request, "alerts", "Alerts", entries, "/alerts")

    def changes(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._refused()
        entries = []
        for c in self.ctx.agg.changes(limit=ENTRIES):
            link = self.ctx.absolute(
                request, f"/items/{c.article_id}?a={c.from_version}&b={c.to_version}"
            )
            line = summary_line(c.summary, c.kind)
            entries.append(
                Entry(
                    f"change/{c.article_id}/{c.from_version}/{c.to_version}",
                    f"[{c.kind}] {c.title or '(untitled)'}",
                    link,
                    c.created_at,
                    f"Version {c.from_version} \u2192 {c.to_version}: {line}",
                    safe_href(c.url),
                    (c.kind, *c.topics),
                )
            )
        return self._respond(request, "changes", "Changes", entries, "/changes")

    # ------------------------------------------------------------ the document

    def _respond(
        self, request: Request, key: str, title: str, entries: Sequence[Entry], page: str
    ) -> Response:
        updated = max((e.updated for e in entries), default=datetime(2000, 1, 1, tzinfo=UTC))
        body = self._document(request, key, title, entries, page, updated)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        modified = format_datetime(updated.astimezone(UTC).replace(microsecond=0), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "private, max-age=60"}
        if _not_modified(request, etag, updated):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=CONTENT_TYPE, headers=headers)

    def _document(
        self,
        request: Request,
        key: str,
        title: str,
        entries: Sequence[Entry],
        page: str,
        updated: datetime,
    ) -> bytes:
        ET.register_namespace("", ATOM)
        feed = ET.Element(f"{{{ATOM}}}feed")
        _text(feed, "id", self._urn(f"feed/{key}"))
        _text(feed, "title", f"{title} \u2014 aggregator desk")
        _text(feed, "updated", _iso(updated))
        _text(feed, "generator", "aggregator")
        author = ET.SubElement(feed, f"{{{ATOM}}}author")
        _text(author, "name", "aggregator desk")
        _link(feed, self.ctx.absolute(request, page), "alternate", "text/html")
        self_path = request.url.path
        _link(
            feed,
            f"{self.ctx.base_url(request)}{self_path.removeprefix(request.scope.get('root_path', ''))}"
            f"?token={request.query_params.get('token', '')}",
            "self",
            "application/atom+xml",
        )
        for e in entries:
            entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
            _text(entry, "id", self._urn(e.key))
            _text(entry, "title", e.title)
            _text(entry, "updated", _iso(e.updated))
            _link(entry, e.link, "alternate", "text/html")
            if e.original:
                _link(entry, e.original, "related", "text/html")
            if e.author:
                who = ET.SubElement(entry, f"{{{ATOM}}}author")
                _text(who, "name", e.author)
            for c in e.categories:
                if c:
                    ET.SubElement(entry, f"{{{ATOM}}}category", {"term": c})
            summary = ET.SubElement(entry, f"{{{ATOM}}}summary", {"type": "text"})
            summary.text = _clean(e.summary)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(
            ET.tostring(feed, encoding="utf-8")
        )

    def _urn(self, key: str) -> str:
        namespace = uuid.UUID(
            hex=hashlib.sha256(self.ctx.auth.derive("atom-ns").encode()).hexdigest()[:32]
        )
        return uuid.uuid5(namespace, key).urn


def _not_modified(request: Request, etag: str, updated: datetime) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return updated.replace(microsecond=0) <= since
    return False


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = _clean(value)


def _link(parent: ET.Element, href: str, rel: str, kind: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}link", {"href": href, "rel": rel, "type": kind})


def _iso(v: datetime) -> str:
    return v.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, whatever the escaping."""
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)
