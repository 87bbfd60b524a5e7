"""Email alerts: multipart text + HTML, sent with smtplib in a worker thread.

The Subject is the one header built from feed text, so it gets special care:
Python's header parser decodes ``=?charset?q?...?=`` sequences found in a
plain string, and a title such as ``=?UTF-8?Q?=0ABcc:?=`` would come out as a
real line break followed by ``Bcc:``. We therefore never hand the title to the
header parser: the subject is cleaned of every control and line-separator
character, then always RFC 2047-encoded by us, so a reader decodes it back to
exactly the literal text. Recipients come from the config only (``sendmail``
gets an explicit list), never from headers.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from html import escape
from typing import Self

from aggregator.alerts.render import (
    Markup,
    Templates,
    by_topic,
    clean_block,
    clean_line,
    correction_line,
    headline,
    html_snippet,
    is_web_url,
    passages_html,
    passages_text,
    reason_text,
    subject,
    text_snippet,
    when,
)
from aggregator.alerts.types import (
    AlertArticle,
    AlertChange,
    AlertEvent,
    Delivery,
    SourceHealth,
    batch_id,
    message_id,
)
from aggregator.config.alerts import EmailChannelConfig
from aggregator.exceptions import ConfigError, DeliveryError

_BLANK_RUNS = re.compile(r"\n{3,}")


class EncodedHeader(str):
    """A header value whose wire form we encode ourselves (see the module docstring).

    ``email.policy.EmailPolicy`` stores objects with a ``name`` attribute as-is
    and folds them by calling their ``fold`` method, which is the documented
    hook for pre-built headers.
    """

    name: str

    def __new__(cls, name: str, value: str) -> Self:
        obj = super().__new__(cls, value)
        obj.name = name
        return obj

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 78
        wire = Header(str(self), "utf-8", header_name=self.name).encode(
            linesep=policy.linesep, maxlinelen=limit
        )
        return f"{self.name}: {wire}{policy.linesep}"


class EmailChannel:
    """Sends one message per call: a single alert, or a digest of several.

    A missing templates directory is kept as ``problem`` rather than raised, so
    one bad channel cannot stop the others from being built; its alerts fail
    transiently (and survive the retry window) until the config is fixed.
    """

    def __init__(
        self,
        config: EmailChannelConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.problem: ConfigError | None = None
        try:
            self.templates = templates or Templates(config.templates)
        except ConfigError as e:
            self.templates, self.problem = Templates(), e
        self._ssl_context = ssl_context
        self._clock = clock or (lambda: datetime.now(UTC))

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        if self.problem is not None:
            raise DeliveryError(self.problem.message, hint=self.problem.hint)
        message = build_message(self.config, events, self.templates, now=self._clock())
        return await asyncio.to_thread(self._transmit, message)

    def _transmit(self, message: EmailMessage) -> Delivery:
        """Blocking SMTP conversation; every smtplib/socket error becomes a DeliveryError."""
        try:
            with self._open() as client:
                refused = client.sendmail(self.config.from_, self.config.to, message.as_bytes())
                return Delivery(_accepted(client.last_reply, refused))
        except smtplib.SMTPRecipientsRefused as e:
            raise _all_refused(e.recipients) from e
        except smtplib.SMTPResponseException as e:
            raise _reply_error(e.smtp_code, e.smtp_error, "SMTP server refused") from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(
                f"SMTP server: {e}", permanent=True, hint="check smtp.security and login settings"
            ) from e
        except OSError as e:  # sockets, TLS, timeouts, SMTPServerDisconnected ...
            raise DeliveryError(f"SMTP {self.config.smtp.host}: {e or type(e).__name__}") from e

    def _open(self) -> _Client:
        """Connect with the configured security and log in."""
        smtp = self.config.smtp
        timeout = smtp.timeout.total_seconds()
        if smtp.security == "tls":
            client: _Client = _TlsClient(smtp.host, smtp.port, timeout=timeout, context=self._tls())
        else:
            client = _Client(smtp.host, smtp.port, timeout=timeout)
        try:
            self._secure_and_login(client)
        except BaseException:
            client.close()
            raise
        return client

    def _secure_and_login(self, client: _Client) -> None:
        smtp = self.config.smtp
        if smtp.security == "starttls":
            client.starttls(context=self._tls())
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password.get_secret_value())

    def _tls(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()


class _Client(smtplib.SMTP):
    """smtplib.SMTP that remembers the server's answer to DATA, for the outbox log."""

    last_reply: tuple[int, bytes] = (250, b"")

    def data(self, msg: bytes | str) -> tuple[int, bytes]:  # type: ignore[override]
        self.last_reply = super().data(msg)
        return self.last_reply


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """Implicit TLS (port 465) with the same DATA bookkeeping."""


def _text(raw: bytes | str) -> str:
    return clean_line(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)


def _accepted(reply: tuple[int, bytes], refused: dict[str, tuple[int, bytes]]) -> str:
    """'250 2.0.0 OK queued' plus any recipients the server turned down."""
    detail = f"{reply[0]} {_text(reply[1])}".strip()
    if refused:
        listed = "; ".join(f"{addr} ({code} {_text(msg)})" for addr, (code, msg) in refused.items())
        detail += f"; refused: {listed}"
    return detail


def _reply_error(code: int, text: bytes | str, what: str) -> DeliveryError:
    """SMTP reply codes: 4xx try again later, 5xx do not."""
    return DeliveryError(f"{what}: {code} {_text(text)}", permanent=500 <= code < 600)


def _all_refused(recipients: dict[str, tuple[int, bytes]]) -> DeliveryError:
    permanent = all(500 <= code < 600 for code, _ in recipients.values())
    listed = "; ".join(f"{a} ({c} {_text(m)})" for a, (c, m) in recipients.items())
    return DeliveryError(f"SMTP server refused every recipient: {listed}", permanent=permanent)


# --- building the message (pure) ---------------------------------------------------------


def build_message(
    config: EmailChannelConfig, events: Sequence[AlertEvent], templates: Templates, *, now: datetime
) -> EmailMessage:
    """The complete message for one alert or a digest; no I/O besides reading templates."""
    if not events:
        raise ValueError("an email needs at least one event")
    title = subject(events)
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = EncodedHeader("Subject", title)
    message["From"] = config.from_
    message["To"] = ", ".join(config.to)
    message["Date"] = format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))
    message["Message-ID"] = message_id(batch_id(events))
    message["Auto-Submitted"] = "auto-generated"
    _thread(message, events)
    text, html = render_bodies(config.name, events, templates, title)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _thread(message: EmailMessage, events: Sequence[AlertEvent]) -> None:
    """An edit alert replies to the first alert about the article, so mail clients thread them."""
    if len(events) == 1 and events[0].thread_id:
        parent = message_id(events[0].thread_id)
        message["In-Reply-To"] = parent
        message["References"] = parent


def render_bodies(
    channel: str, events: Sequence[AlertEvent], templates: Templates, title: str
) -> tuple[str, str]:
    """(text, html) bodies from the templates."""
    bodies = []
    for ext in ("txt", "html"):
        values = {
            "intro": _intro(events),
            "body": _body(events, templates, ext),
            "footer": _footer(channel, events),
            "subject": title,
        }
        if ext == "html":
            values["body"] = Markup(values["body"])
        bodies.append(templates.render(f"email.{ext}", values))
    return _BLANK_RUNS.sub("\n\n", bodies[0]).strip() + "\n", bodies[1]


def _intro(events: Sequence[AlertEvent]) -> str:
    if len(events) > 1:
        return f"{len(events)} alerts, grouped by topic"
    event = events[0]
    topic = clean_line(event.topic)
    if event.event == "change" and event.watch is not None:
        return f"Watched page “{clean_line(event.watch.name)}” changed"
    if event.event == "change" and not topic:
        return "A watched article was edited"
    return {
        "match": f"New article matching topic “{topic}”",
        "change": f"An article matching “{topic}” was edited",
        "source": "A feed needs attention",
        "test": f"Test alert from channel “{event.channel}”: delivery works",
    }[event.event]


def _footer(channel: str, events: Sequence[AlertEvent]) -> str:
    return f"Sent by aggregator · channel {channel} · alert {batch_id(events)}"


def _body(events: Sequence[AlertEvent], templates: Templates, ext: str) -> str:
    if len(events) == 1:
        return _block(events[0], templates, ext)
    sections = []
    for topic, members in by_topic(events).items():
        items = "\n".join(_block(e, templates, ext) for e in members)
        values = {
            "topic": clean_line(topic),
            "count": str(len(members)),
            "items": Markup(items) if ext == "html" else items,
        }
        sections.append(templates.render(f"topic.{ext}", values))
    return "\n".join(sections)


def _block(event: AlertEvent, templates: Templates, ext: str) -> str:
    """One article or source block; a test event has none (the intro says it all)."""
    if event.watch is not None and event.article is not None:
        return templates.render(f"watch.{ext}", _watch_values(event, event.article, templates, ext))
    if event.article is not None:
        return templates.render(
            f"article.{ext}", _article_values(event, event.article, templates, ext)
        )
    if event.source is not None:
        return templates.render(f"source.{ext}", _source_values(event.source))
    return ""


def _article_values(
    event: AlertEvent, article: AlertArticle, templates: Templates, ext: str
) -> dict[str, str]:
    html = ext == "html"
    return {
        "title": headline(event),
        "url": clean_line(article.url),
        "link": _link(article.url, headline(event)) if html else clean_line(article.url),
        "desk": _desk_line(article.desk_url, html),
        "topic": clean_line(event.topic) or "—",
        "feeds": ", ".join(clean_line(f) for f in article.feeds),
        "language": clean_line(article.language) or "unknown",
        "published": when(article.published),
        "terms": ", ".join(clean_line(t) for t in article.terms) or "—",
        "snippets": _snippets(article, html),
        "sources": _sources(article, html),
        "change": _change_block(event.change, article, templates, ext),
    }


def _desk_line(url: str | None, html: bool) -> str:
    """The story's page on the desk (web.base_url set): versions, diffs, every source."""
    if not url or not is_web_url(url):
        return ""
    if html:
        style = "margin: 0 0 0.4em 0; font-size: small"
        return Markup(f'<p style="{style}">{_link(url, "Open on the desk")}</p>')
    return f"\nOn the desk: {clean_line(url)}"


def _watch_values(
    event: AlertEvent, article: AlertArticle, templates: Templates, ext: str
) -> dict[str, str]:
    """A page watch: its name, the page, the part compared (the selector) and the change."""
    assert event.watch is not None
    html = ext == "html"
    url = clean_line(event.watch.url)
    return {
        "name": clean_line(event.watch.name),
        "url": url,
        "link": _link(url, url) if html else url,
        "selector": clean_line(event.watch.selector) or "the whole page",
        "title": headline(event),
        "change": _change_block(event.change, article, templates, ext),
    }


def _link(url: str, label: str) -> Markup:
    """A clickable title only for http(s) URLs; anything else is shown as text."""
    if not is_web_url(url):
        return Markup(escape(label))
    return Markup(f'<a href="{escape(clean_line(url), quote=True)}">{escape(label)}</a>')


def _snippets(article: AlertArticle, html: bool) -> str:
    if html:
        return Markup(
            "".join(
                f'<p style="margin: 0.3em 0">{_ellipsis(html_snippet(s))}</p>'
                for s in article.snippets
            )
        )
    return "\n".join(_ellipsis(text_snippet(s)) for s in article.snippets)


def _ellipsis(snippet: str) -> str:
    """ "… text …", without doubling the "…" a snippet already carries where it was cut."""
    text = snippet.strip()
    lead = "" if text.startswith(("…", "...")) else "… "
    trail = "" if text.endswith(("…", "...")) else " …"
    out = f"{lead}{text}{trail}"
    return Markup(out) if isinstance(snippet, Markup) else out


def _sources(article: AlertArticle, html: bool) -> str:
    refs = article.source_refs()
    if not html:
        return "\n".join(
            f"- {clean_line(r.feed)}: {clean_line(r.title)} <{clean_line(r.url)}>" for r in refs
        )
    items = "".join(
        f"<li>{escape(clean_line(r.feed))}: {_link(r.url, clean_line(r.title))}</li>" for r in refs
    )
    return Markup(f'<ul style="margin: 0.2em 0">{items}</ul>')


def _change_block(
    change: AlertChange | None, article: AlertArticle, templates: Templates, ext: str
) -> str:
    if change is None:
        return Markup("") if ext == "html" else ""
    lines = _change_lines(change)
    link = article.link
    values: dict[str, str]
    if ext == "html":
        values = {
            "lines": Markup("".join(f"<li>{escape(line)}</li>" for line in lines)),
            "diff": passages_html(change),
            "link": _link(link, "See the whole change") if is_web_url(link) else Markup(""),
        }
    else:
        values = {
            "lines": "\n".join(f"- {line}" for line in lines),
            "diff": passages_text(change),
            "link": f"See the whole change: {clean_line(link)}" if is_web_url(link) else "",
        }
    values |= {"version": str(change.version), "previous_version": str(change.previous_version)}
    rendered = templates.render(f"change.{ext}", values)
    return Markup(rendered) if ext == "html" else rendered


def _change_lines(change: AlertChange) -> list[str]:
    """The facts of an edit worth a line each, most newsworthy first."""
    lines = []
    if change.detail:
        lines.append(f"Story pulled: {clean_line(change.detail)}")
    if change.headline_changed:
        lines.append(
            f"Headline: “{clean_line(change.old_title)}” → “{clean_line(change.new_title)}”"
        )
    if change.correction:
        lines.append(correction_line(change.correction))
    if change.topic_change:
        lines.append(f"Topic terms: {change.topic_change}")
    lines.append(f"Words: +{change.words_added} / −{change.words_removed}")
    if change.reasons:
        lines.append("Why: " + reason_text(change))
    return lines


def _source_values(source: SourceHealth) -> dict[str, str]:
    return {
        "feed": clean_line(source.feed),
        "url": clean_line(source.url),
        "problem": clean_line(source.problem),
        "detail": clean_block(source.detail),
    }
