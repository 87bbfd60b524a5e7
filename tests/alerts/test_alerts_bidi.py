"""Bidi overrides and other invisible format characters never reach a subject, title or page.

U+202E turns "Invoice \u202egpj.exe" into what reads as "Invoice exe.jpg"; a feed title
is a stranger's text, so every format character (Unicode category Cf) that can reorder or
hide text is dropped before it reaches an email header, the email's HTML and text, a
webhook payload or an Apprise title. ZWJ and ZWNJ stay: scripts such as Persian and emoji
sequences need them and they cannot reorder anything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Iterator

import pytest

from aggregator.alerts.apprise_channel import markdown
from aggregator.alerts.email import EmailChannel
from aggregator.alerts.render import clean_block, clean_line, subject
from aggregator.alerts.types import AlertArticle, Snippet
from aggregator.alerts.webhook import WebhookChannel
from aggregator.config.alerts import EmailChannelConfig, WebhookChannelConfig, parse_channel
from aggregator.http.fetcher import Fetcher, FetchPolicy
from tests.support.httpserver import LoopbackServer
from tests.support.outbox import T0, article, match_event
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

#: every bidi control and the other invisible format characters a hostile title may carry
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\ufeff\u2060\u00ad\u200b\u180e\U000e0041"
HOSTILE = f"Invoice \u202egpj.exe{BIDI} and{INVISIBLE} more"


def has_format_chars(text: str) -> bool:
    return any(unicodedata.category(c) == "Cf" for c in text if c not in "\u200c\u200d")


def hostile_article() -> AlertArticle:
    base = article(title=HOSTILE)
    text = f"Brussels \u202esaid{BIDI} new export controls on chips."
    start = text.index("export controls")
    snippet = Snippet(text, ((start, start + len("export controls")),))
    return AlertArticle(**{**base.__dict__, "snippets": (snippet,), "feeds": ("feed\u202e",)})


def test_clean_line_and_block_drop_format_characters_but_keep_joiners() -> None:
    assert clean_line(HOSTILE) == "Invoice gpj.exe and more"
    assert clean_block(f"a\u202eb\nc{BIDI}d") == "ab\ncd"
    persian = "می\u200cخواهم 👩\u200d💻"
    assert clean_line(persian) == persian
    assert not has_format_chars(subject([match_event(art=hostile_article())]))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


async def test_email_subject_text_and_html_carry_no_format_character(smtp: SmtpServer) -> None:
    config = parse_channel(
        {
            "name": "desk",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "aggregator@example.org",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "timeout": "5s"},
        }
    )
    assert isinstance(config, EmailChannelConfig)
    await EmailChannel(config, clock=lambda: T0).send([match_event(art=hostile_article())])
    [received] = smtp.messages
    message = received.message()
    assert message["Subject"] == "[export-controls] Invoice gpj.exe and more"
    for part in ("plain", "html"):
        body = message.get_body((part,))
        assert body is not None
        content = body.get_content()
        assert "Invoice gpj.exe and more" in content
        assert not has_format_chars(content), part
    assert not has_format_chars(received.data.decode("utf-8", "replace"))


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(FetchPolicy(allow_private=("127.0.0.1/32",), total_timeout=5)) as f:
        yield f


async def test_webhook_titles_and_snippets_carry_no_format_character(
    http_server: LoopbackServer, fetcher: Fetcher
) -> None:
    receiver = WebhookReceiver(http_server)
    config = parse_channel({"name": "desk", "kind": "webhook", "url": receiver.url})
    assert isinstance(config, WebhookChannelConfig)
    await WebhookChannel(config, fetcher).send([match_event(art=hostile_article())])
    [payload] = receiver.payloads()
    sent = payload["data"]["article"]
    assert sent["title"] == "Invoice gpj.exe and more"
    assert not has_format_chars(receiver.received[0].body.decode("utf-8"))


def test_apprise_title_and_body_carry_no_format_character() -> None:
    events = [match_event(art=hostile_article())]
    assert not has_format_chars(subject(events))
    assert not has_format_chars(markdown(events))
