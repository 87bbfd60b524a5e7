"""Email alerts through a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import random
import re
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from aggregator.alerts.dispatch import deliver_due
from aggregator.alerts.email import EmailChannel, build_message
from aggregator.alerts.registry import build_channel
from aggregator.alerts.render import Templates
from aggregator.alerts.types import AlertEvent, Passage
from aggregator.config.alerts import EmailChannelConfig, parse_channel
from aggregator.exceptions import ConfigError, DeliveryError
from aggregator.types import Snippet
from tests.support.outbox import (
    T0,
    MemoryOutbox,
    article,
    change_event,
    match_event,
    source_event,
)
from tests.support.smtp import Received, SmtpServer, free_port, make_certificate

HOSTILE_TITLES = [
    "Chips\r\nBcc: spy@evil.example",
    "=?UTF-8?Q?=0ABcc:?= spy@evil.example",
    "=?utf-8?b?CkJjYzogc3B5QGV2aWwuZXhhbXBsZQ==?=",
    "Line\u2028Bcc: spy@evil.example\u2029end",
    "NUL\x00byte\x7f and \x1b[31mANSI",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def email_config(server_port: int, **smtp: Any) -> EmailChannelConfig:
    config = parse_channel(
        {
            "name": "desk",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "aggregator@example.org",
            "smtp": {
                "host": "127.0.0.1",
                "port": server_port,
                "security": "none",
                "timeout": "5s",
                **smtp,
            },
        }
    )
    assert isinstance(config, EmailChannelConfig)
    return config


def channel(server: SmtpServer, **kw: Any) -> EmailChannel:
    return EmailChannel(email_config(server.port), clock=lambda: T0, **kw)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


async def test_match_alert_is_multipart_with_one_subject(smtp: SmtpServer) -> None:
    delivery = await channel(smtp).send([match_event("match-42")])
    assert delivery.detail.startswith("250")
    [received] = smtp.messages
    message = received.message()
    assert message.get_all("Subject") == ["[export-controls] EU tightens export controls on chips"]
    assert message["Message-ID"] == "<match-42@aggregator>"
    assert message.get_content_type() == "multipart/alternative"
    assert received.rcpt_tos == ("desk@example.org",)
    assert received.mail_from == "aggregator@example.org"
    text, html = parts(message)
    assert "new *export controls* on advanced chips" in text
    assert "new <mark>export controls</mark> on advanced chips" in html
    assert '<a href="https://news.example.org/reuters/1">' in html
    for shown in ("reuters", "Language: en", "2025-03-04T08:30+00:00"):
        assert shown in text


@pytest.mark.parametrize("title", HOSTILE_TITLES)
async def test_hostile_title_yields_one_safe_email(smtp: SmtpServer, title: str) -> None:
    event = match_event(art=article(title=title))
    await channel(smtp).send([event])
    [received] = smtp.messages
    message = received.message()
    assert received.rcpt_tos == ("desk@example.org",)
    assert "Bcc" not in message
    assert not re.search(rb"^bcc:", received.data, re.IGNORECASE | re.MULTILINE)
    [subject] = message.get_all("Subject") or []
    assert subject.startswith("[export-controls] ")
    assert not any(c in subject for c in "\r\n\x00\x7f\x1b\u2028\u2029")
    if title.startswith("=?"):
        assert subject == f"[export-controls] {title}"  # literal, not decoded
    _, html = parts(message)
    assert "<script>" not in html and "<img" not in html
    assert not message.defects


async def test_edit_alert_replies_to_the_first_alert(smtp: SmtpServer) -> None:
    await channel(smtp).send([change_event("change-7", thread_id="match-1")])
    message = smtp.messages[0].message()
    assert message["Subject"] == "[export-controls] Edited: EU delays export controls on chips"
    assert message["In-Reply-To"] == "<match-1@aggregator>"
    assert message["References"] == "<match-1@aggregator>"
    text, html = parts(message)
    assert "Headline: “EU tightens export controls on chips” → “EU delays" in text
    assert "Correction: An earlier version misstated the date." in text
    assert "- The rules take effect in May.\n+ The rules take effect in July." in text
    assert "version 1 → 2" in html
    assert "take effect in <del" in html and ">May" in html and ">July" in html
    assert "Why: headline changed, 59 words changed" in text
    assert "Published: 2025-03-04T08:30+00:00" in text


def _edit(**change: Any) -> Any:
    event = change_event("change-8")
    assert event.change is not None
    return replace(event, change=replace(event.change, **change))


def test_edit_alert_caps_passages_and_links_the_desk() -> None:
    passages = tuple(Passage((f"Old sentence {i}.",), (f"New sentence {i}.",)) for i in range(5))
    event = _edit(passages=passages, more_changes=3)
    assert event.article is not None
    event = replace(
        event, article=replace(event.article, desk_url="https://desk.example.org/items/1")
    )
    text, html = parts(build_message(email_config(25), [event], Templates(), now=T0))
    assert "- Old sentence 4.\n+ New sentence 4.\n… and 3 more changes" in text
    assert "See the whole change: https://desk.example.org/items/1" in text
    assert "… and 3 more changes" in html
    assert '<a href="https://desk.example.org/items/1">See the whole change</a>' in html


def test_correction_label_is_not_doubled() -> None:
    event = _edit(correction="Correction: An earlier version misstated the date.")
    text, html = parts(build_message(email_config(25), [event], Templates(), now=T0))
    assert "Correction: An earlier version misstated the date." in text
    assert "Correction: Correction:" not in text and "Correction: Correction:" not in html


def test_snippet_ellipses_are_not_doubled() -> None:
    snippet = Snippet("… said new export controls take effect …", ((11, 26),))
    event = match_event(art=replace(article(), snippets=(snippet,)))
    text, html = parts(build_message(email_config(25), [event], Templates(), now=T0))
    assert "… …" not in text and "… …" not in html
    assert "… said new *export controls* take effect …" in text


def test_digest_groups_by_topic() -> None:
    events = [
        match_event("m1", topic="sanctions", art=article(1, title="Sanctions one")),
        match_event("m2", topic="export-controls", art=article(2, title="Export one")),
        match_event("m3", topic="sanctions", art=article(3, title="Sanctions two")),
    ]
    message = build_message(email_config(25), events, Templates(), now=T0)
    assert message["Subject"] == "[export-controls, sanctions] 3 new articles"
    assert message["Message-ID"].startswith("<digest-")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("== export-controls (1) ==") < text.index("Export one")
    assert (
        text.index("== sanctions (2) ==")
        < text.index("Sanctions one")
        < text.index("Sanctions two")
    )
    assert text.index("Export one") < text.index("== sanctions")


def test_digest_of_one_topic_names_it() -> None:
    events = [match_event("m1"), match_event("m2", art=article(2))]
    message = build_message(email_config(25), events, Templates(), now=T0)
    assert message["Subject"] == "[export-controls] 2 new articles"


def test_source_and_test_events_render() -> None:
    config = email_config(25)
    source = build_message(config, [source_event()], Templates(), now=T0)
    assert source["Subject"] == "[source] Source problem: reuters: failing"
    assert "HTTP 503 for 6 hours" in source.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    test = AlertEvent("test-1", "test", "desk", None, T0)
    assert build_message(config, [test], Templates(), now=T0)["Subject"] == (
        "[test] Test alert from aggregator"
    )


def test_message_id_is_stable_across_builds() -> None:
    config, event = email_config(25), match_event("match-9")
    first = build_message(config, [event], Templates(), now=T0)
    again = build_message(config, [event], Templates(), now=T0 + timedelta(hours=3))
    assert first["Message-ID"] == again["Message-ID"] == "<match-9@aggregator>"


def test_javascript_link_is_not_clickable() -> None:
    event = match_event(art=article(url="javascript:alert(1)"))
    html = (
        build_message(email_config(25), [event], Templates(), now=T0)
        .get_body(("html",))
        .get_content()
    )  # type: ignore[union-attr]
    assert 'href="javascript' not in html


def test_user_templates_override_packaged_ones(tmp_path: Path) -> None:
    (tmp_path / "email.txt").write_text("CUSTOM $intro\n$body\n$unknown_placeholder\n")
    message = build_message(email_config(25), [match_event()], Templates(tmp_path), now=T0)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("CUSTOM New article matching topic")
    assert "$unknown_placeholder" in text
    assert "<mark>" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_missing_template_directory_fails_only_its_channel(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    with pytest.raises(ConfigError):
        Templates(tmp_path / "nope")
    config = email_config(smtp.port).model_copy(update={"templates": tmp_path / "nope"})
    channel = build_channel(config)  # building does not raise: other channels still work
    with pytest.raises(DeliveryError, match="templates directory") as info:
        await channel.send([match_event()])
    assert not info.value.permanent and smtp.messages == []


async def test_451_then_250_is_delivered_on_the_retry(smtp: SmtpServer) -> None:
    smtp.script("451 4.3.0 Mailbox busy, try later")
    config = email_config(smtp.port)
    outbox, rng = MemoryOutbox(), random.Random(1)
    row = outbox.add(match_event("match-5", channel="desk"))
    channels = {"desk": build_channel(config, clock=lambda: T0)}
    first = await deliver_due(outbox, channels, {"desk": config}, now=T0, worker="w", rng=rng)
    assert (first.sent, first.retried) == (0, 1) and "451" in first.errors[0]
    retry_at = outbox.rows[row].item.not_before
    assert retry_at > T0
    second = await deliver_due(
        outbox, channels, {"desk": config}, now=retry_at, worker="w", rng=rng
    )
    assert second.sent == 1 and outbox.status(row) == "sent"
    assert smtp.attempts == 2 and len(smtp.messages) == 1
    assert smtp.messages[0].message()["Message-ID"] == "<match-5@aggregator>"


async def test_550_is_dead_lettered_immediately(smtp: SmtpServer) -> None:
    smtp.script("550 5.7.1 Message rejected as spam")
    config = email_config(smtp.port)
    outbox = MemoryOutbox()
    row = outbox.add(match_event(channel="desk"))
    report = await deliver_due(
        outbox,
        {"desk": build_channel(config)},
        {"desk": config},
        now=T0,
        worker="w",
        rng=random.Random(1),
    )
    assert report.dead == 1 and outbox.status(row) == "dead"
    assert "550" in (outbox.rows[row].last_error or "")


async def test_partly_refused_recipients_are_reported_but_delivered(smtp: SmtpServer) -> None:
    smtp.refuse("gone@example.org")
    config = email_config(smtp.port).model_copy(
        update={"to": ["desk@example.org", "gone@example.org"]}
    )
    delivery = await EmailChannel(config).send([match_event()])
    assert "refused: gone@example.org (550" in delivery.detail
    assert smtp.messages[0].rcpt_tos == ("desk@example.org",)


@pytest.mark.parametrize(
    "reply,permanent", [("550 5.1.1 no such user", True), ("450 4.2.1 mailbox busy", False)]
)
async def test_every_recipient_refused(smtp: SmtpServer, reply: str, permanent: bool) -> None:
    smtp.refuse("desk@example.org", reply)
    with pytest.raises(DeliveryError) as info:
        await channel(smtp).send([match_event()])
    assert info.value.permanent is permanent and reply[:3] in str(info.value)


async def test_server_down_is_transient() -> None:
    config = email_config(free_port())
    with pytest.raises(DeliveryError) as info:
        await EmailChannel(config).send([match_event()])
    assert not info.value.permanent


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    files = make_certificate(tmp_path_factory.mktemp("tls"))
    if files is None:
        pytest.skip("openssl not installed")
    return files


async def test_starttls_and_login(tls_files: Any) -> None:
    with SmtpServer(starttls=tls_files.server_context(), users={"desk": "pw"}) as server:
        config = email_config(server.port, security="starttls", username="desk", password="pw")
        await EmailChannel(config, ssl_context=tls_files.client_context()).send([match_event()])
        assert server.logins == ["desk"] and len(server.messages) == 1


async def test_wrong_password_is_permanent(tls_files: Any) -> None:
    with SmtpServer(starttls=tls_files.server_context(), users={"desk": "pw"}) as server:
        config = email_config(server.port, security="starttls", username="desk", password="no")
        with pytest.raises(DeliveryError) as info:
            await EmailChannel(config, ssl_context=tls_files.client_context()).send([match_event()])
        assert info.value.permanent and "535" in str(info.value)
        assert server.messages == []


async def test_untrusted_certificate_fails(tls_files: Any) -> None:
    with SmtpServer(starttls=tls_files.server_context()) as server:
        config = email_config(server.port, security="starttls")
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            await EmailChannel(config).send([match_event()])
        assert server.messages == []


async def test_implicit_tls(tls_files: Any) -> None:
    with SmtpServer(implicit_tls=tls_files.server_context()) as server:
        config = email_config(server.port, security="tls")
        context: ssl.SSLContext = tls_files.client_context()
        delivery = await EmailChannel(config, ssl_context=context).send([match_event()])
        assert delivery.detail.startswith("250")
        assert isinstance(server.messages[0], Received)
