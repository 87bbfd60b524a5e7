"""Chat alerts (Slack, Teams, Telegram, Matrix, ntfy ...) through the Apprise library.

Apprise only answers "worked" or "did not", so every failure is treated as
transient and left to the outbox's retry window, except a target the SSRF guard
refused (permanent, as for webhooks). Apprise URLs carry tokens, so error
messages name a URL by its position, never by its text.

What Apprise sends over HTTP goes through the SSRF guard and ignores proxy
variables (``alerts.apprise_guard``); schemes that open their own sockets
(``mailto://``, ``mqtt://`` ...) are refused unless the channel lists them in
``unguarded_schemes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import apprise

from aggregator.alerts.apprise_guard import SendGuard, goes_through_requests, guarded
from aggregator.alerts.render import (
    by_topic,
    headline,
    is_web_url,
    md_escape,
    md_snippet,
    passages_md,
    reason_text,
    shorten,
    subject,
)
from aggregator.alerts.types import AlertEvent, Delivery
from aggregator.config.alerts import AppriseChannelConfig
from aggregator.exceptions import ConfigError, DeliveryError

MAX_TITLE = 250
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # what may stay literal inside <...>; <, > and spaces may not


class AppriseChannel:
    """One chat message per send: a single alert, or a digest grouped by topic.

    A URL Apprise does not understand is kept as ``problem`` rather than raised,
    so one bad channel cannot stop the others from being built; its alerts
    fail transiently (and survive the retry window) until the config is fixed.
    """

    def __init__(self, config: AppriseChannelConfig, allow_private: tuple[str, ...] = ()) -> None:
        self.name = config.name
        self.config = config
        self.allow_private = allow_private
        self._apprise, self.problem = _load(config)

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        if self.problem is not None:
            raise DeliveryError(self.problem.message, hint=self.problem.hint)
        title, body = shorten(subject(events), MAX_TITLE), markdown(events)
        try:
            with guarded(SendGuard(self.allow_private)) as guard:
                result = await self._apprise.async_notify(
                    body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN
                )
        except Exception as e:  # a plugin bug must not take the dispatcher down
            raise DeliveryError(f"apprise failed: {type(e).__name__}: {e}") from e
        if guard.refused:
            refused = guard.refused[0]
            raise DeliveryError(
                f"apprise not delivered: {refused.message}", permanent=True, hint=refused.hint
            )
        if not result:
            raise DeliveryError(
                f"apprise could not notify {len(self._apprise)} service(s)",
                hint="run with log level debug to see Apprise's reason",
            )
        return Delivery(f"apprise: {len(self._apprise)} service(s) notified")


def _load(config: AppriseChannelConfig) -> tuple[apprise.Apprise, ConfigError | None]:
    """Apprise object for the configured URLs, and the config error if one is unusable."""
    client = apprise.Apprise()
    for index, url in enumerate(config.urls):
        if not client.add(url):
            return client, ConfigError(
                f"alerts {config.name!r}: urls[{index}] is not a URL Apprise understands",
                hint="see https://github.com/caronc/apprise/wiki for URL formats",
            )
        scheme = url.split("://", 1)[0].strip().lower()
        if not goes_through_requests(client[len(client) - 1]) and (
            scheme not in config.unguarded_schemes
        ):
            return client, ConfigError(
                f"alerts {config.name!r}: urls[{index}] ({scheme}://) opens its own connections, "
                "which the SSRF guard cannot check",
                hint=f"use a web-hook style service, or accept the risk with "
                f"unguarded_schemes: [{scheme}] on this channel",
            )
    return client, None


def markdown(events: Sequence[AlertEvent]) -> str:
    """Markdown body; every piece of feed text is escaped so it cannot forge links."""
    if len(events) == 1:
        return _event_md(events[0])
    sections = []
    for topic, members in by_topic(events).items():
        lines = "\n".join(f"- {_title_md(e)}" for e in members)
        sections.append(f"**{md_escape(topic)}** ({len(members)})\n{lines}")
    return "\n\n".join(sections)


def _event_md(event: AlertEvent) -> str:
    parts = [_title_md(event)]
    article = event.article
    if article is not None:
        feeds = ", ".join(md_escape(s.feed) for s in article.source_refs())
        parts.append(f"Sources: {feeds} · Matched: {md_escape(', '.join(article.terms)) or '—'}")
        parts += [f"> {md_snippet(s)}" for s in article.snippets[:2]]
    if event.watch is not None:
        part = event.watch.selector or "the whole page"
        parts.append(f"Watch {md_escape(event.watch.name)} · part compared: {md_escape(part)}")
    if event.change is not None:
        parts.append(
            f"Edited: version {event.change.previous_version} → {event.change.version}"
            f" ({md_escape(reason_text(event.change)) or 'text changed'})"
        )
        if passages := passages_md(event.change):
            parts.append(passages)
        if article is not None and is_web_url(article.link):
            parts.append(f"[See the whole change](<{quote(article.link, safe=_URL_SAFE)}>)")
    if event.source is not None:
        parts.append(md_escape(event.source.detail))
    return "\n\n".join(parts)


def _title_md(event: AlertEvent) -> str:
    """The headline, linked when the article has an http(s) URL."""
    text = md_escape(headline(event))
    url = event.article.url if event.article else ""
    if is_web_url(url):
        return f"[{text}](<{quote(url, safe=_URL_SAFE)}>)"
    return text
