"""Alert channel configuration: the issue's examples parse, mistakes get clear messages."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from aggregator.alerts.registry import CHANNEL_KINDS
from aggregator.alerts.types import AlertChange, AlertEvent
from aggregator.config.alerts import (
    AppriseChannelConfig,
    ChangeThreshold,
    EmailChannelConfig,
    WebhookChannelConfig,
    parse_channel,
)
from tests.support.outbox import T0

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()

EMAIL: dict[str, Any] = {
    "name": "desk-email",
    "kind": "email",
    "to": ["desk@example.org"],
    "from": "aggregator@example.org",
    "smtp": {
        "host": "smtp.example.org",
        "port": 587,
        "security": "starttls",
        "username": "desk",
        "password": "s3cret",
    },
    "topics": ["export-controls"],
    "events": ["match", "change"],
    "digest": "1h",
}
WEBHOOK: dict[str, Any] = {
    "name": "newsroom-hook",
    "kind": "webhook",
    "url": "https://hooks.example.org/aggregator",
    "secret": SECRET,
    "topics": ["export-controls"],
}
APPRISE: dict[str, Any] = {"name": "chat", "kind": "apprise", "urls": ["ntfy://ntfy.sh/desk"]}


def errors(mapping: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        parse_channel(mapping)
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


def test_issue_examples_parse_into_their_kinds() -> None:
    email = parse_channel(EMAIL)
    assert isinstance(email, EmailChannelConfig)
    assert email.from_ == "aggregator@example.org"
    assert email.digest == timedelta(hours=1)
    assert email.smtp.password is not None and email.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(email)
    hook = parse_channel(WEBHOOK)
    assert isinstance(hook, WebhookChannelConfig) and hook.headers == {}
    chat = parse_channel(APPRISE)
    assert isinstance(chat, AppriseChannelConfig)


def test_defaults() -> None:
    chat = parse_channel(APPRISE)
    assert chat.topics == [] and chat.events == ["match"] and chat.digest is None
    assert chat.group_window == timedelta(minutes=2)
    assert chat.retry_window == timedelta(hours=24)
    assert chat.change_threshold is None
    email = parse_channel({**EMAIL, "smtp": {"host": "mx"}})
    assert isinstance(email, EmailChannelConfig)
    assert (email.smtp.port, email.smtp.security, email.smtp.timeout) == (
        587,
        "starttls",
        timedelta(seconds=30),
    )


def test_registry_is_a_plain_dict_keyed_by_kind() -> None:
    assert list(CHANNEL_KINDS) == ["email", "webhook", "apprise"]
    assert CHANNEL_KINDS["webhook"][0] is WebhookChannelConfig


@pytest.mark.parametrize("kind", ["sms", None, 3])
def test_unknown_or_missing_kind_names_the_choices(kind: object) -> None:
    with pytest.raises(ValueError, match="expected one of email, webhook, apprise") as info:
        parse_channel({"name": "x", "kind": kind})
    assert not isinstance(info.value, ValidationError)


def test_unknown_key_is_forbidden_and_located() -> None:
    assert errors({**APPRISE, "url": "x"})[0][0] == ("url",)


@pytest.mark.parametrize(
    "field,value",
    [
        ("to", ["not-an-address"]),
        ("to", ["desk@example.org\r\nBcc: spy@evil.example"]),
        ("to", []),
        ("from", "Desk <desk@example.org>"),
        ("name", "Desk Email"),
    ],
)
def test_bad_email_fields(field: str, value: object) -> None:
    assert errors({**EMAIL, field: value})[0][0][0] == field


def test_implicit_tls_defaults_to_port_465() -> None:
    config = parse_channel({**EMAIL, "smtp": {"host": "mx", "security": "tls"}})
    assert isinstance(config, EmailChannelConfig) and config.smtp.port == 465


def test_password_over_cleartext_is_refused() -> None:
    bad = {**EMAIL, "smtp": {"host": "mx", "security": "none", "username": "u", "password": "p"}}
    assert "unencrypted" in errors(bad)[0][1]


@pytest.mark.parametrize(
    "secret,needle",
    [
        ("topsecret", "whsec_"),
        ("whsec_***not base64***", "base64"),
        ("whsec_c2hvcnQ=", "16 bytes"),
    ],
)
def test_webhook_secret_must_be_standard_webhooks_shaped(secret: str, needle: str) -> None:
    loc, msg = errors({**WEBHOOK, "secret": secret})[0]
    assert loc == ("secret",) and needle in msg


def test_unpadded_secret_is_accepted_like_the_reference_library() -> None:
    parse_channel({**WEBHOOK, "secret": SECRET.rstrip("=")})


@pytest.mark.parametrize("url", ["ftp://hooks.example.org/x", "hooks.example.org/x", "http://"])
def test_webhook_url_must_be_http(url: str) -> None:
    assert errors({**WEBHOOK, "url": url})[0][0] == ("url",)


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": "v1,forged"},
        {"Content-Type": "text/plain"},
        {"X-Token": "a\r\nX-Evil: 1"},
        {"Bad Name": "x"},
    ],
)
def test_webhook_headers_cannot_override_or_inject(headers: dict[str, str]) -> None:
    assert errors({**WEBHOOK, "headers": headers})[0][0] == ("headers",)


def test_empty_apprise_url_list_or_url() -> None:
    assert errors({**APPRISE, "urls": []})[0][0] == ("urls",)
    assert "environment variable" in errors({**APPRISE, "urls": [" "]})[0][1]


def test_durations_accept_people_syntax_and_reject_garbage() -> None:
    config = parse_channel({**APPRISE, "group_window": "90s", "retry_window": "2d"})
    assert config.group_window == timedelta(seconds=90)
    assert config.retry_window == timedelta(days=2)
    assert errors({**APPRISE, "digest": "soon"})[0][0] == ("digest",)


def test_wants_filters_by_event_and_topic() -> None:
    config = parse_channel(
        {**APPRISE, "topics": ["export-controls"], "events": ["match", "source"]}
    )
    assert config.wants("match", "export-controls")
    assert not config.wants("match", "elections")
    assert not config.wants("change", "export-controls")
    assert config.wants("source", None)
    assert config.wants("test", None)


def test_hold_is_the_digest_window_else_the_group_window_in_hold_mode() -> None:
    assert parse_channel(APPRISE).group_mode == "fold"
    assert parse_channel(APPRISE).hold() == timedelta(0)  # the first copy goes at once
    assert parse_channel({**APPRISE, "group_mode": "hold"}).hold() == timedelta(minutes=2)
    assert parse_channel({**APPRISE, "digest": "1h"}).hold() == timedelta(hours=1)


def _change(**kw: Any) -> AlertChange:
    base: dict[str, Any] = {
        "version": 2,
        "previous_version": 1,
        "headline_changed": False,
        "old_title": None,
        "new_title": None,
        "words_added": 3,
        "words_removed": 2,
        "reasons": (),
        "correction": None,
        "topic_change": None,
        "diff_summary": "",
    }
    return AlertChange(**{**base, **kw})


def test_change_threshold() -> None:
    threshold = ChangeThreshold.model_validate({"min_words": 10, "headline": True})
    assert not threshold.passes(_change())
    assert threshold.passes(_change(headline_changed=True))
    assert threshold.passes(_change(words_added=8, words_removed=2))
    assert threshold.passes(_change(topic_change="introduced"))
    assert not threshold.passes(_change(topic_change="context"))
    assert not ChangeThreshold(headline=False, min_words=100).passes(_change(headline_changed=True))
    with pytest.raises(ValidationError):
        ChangeThreshold.model_validate({"min_words": 5, "colour": "red"})


def test_alert_id_must_be_header_safe() -> None:
    with pytest.raises(ValueError, match="alert_id"):
        AlertEvent("match 1\r\nX: y", "match", "desk", "t", T0)
    with pytest.raises(ValueError, match="thread_id"):
        AlertEvent("match-1", "change", "desk", "t", T0, thread_id="<a b@c>")


FEEDS_AND_TOPIC = (
    "feeds:\n  - name: a\n    url: https://example.org/feed\n"
    "topics:\n  - name: export-controls\n    query: chips\n"
)


def _yaml_entry(*entries: dict[str, Any]) -> str:
    """An `alerts:` section as YAML (flow style is enough: YAML is a superset of JSON)."""
    import json

    return "alerts:\n" + "".join(f"  - {json.dumps(e)}\n" for e in entries)


def test_config_keeps_each_channel_as_its_kinds_model() -> None:
    from aggregator.config.models import parse_config

    cfg = parse_config(FEEDS_AND_TOPIC + _yaml_entry(EMAIL, WEBHOOK))
    email, hook = cfg.alerts
    assert isinstance(email, EmailChannelConfig) and isinstance(hook, WebhookChannelConfig)
    assert email.smtp.host == "smtp.example.org" and email.digest == timedelta(hours=1)
    assert email == parse_channel(EMAIL)
    # parsed once: the same objects every time the stages read them
    assert cfg.alerts[0] is email


@pytest.mark.parametrize(
    "entry,key,hint",
    [
        (
            {**EMAIL, "smtp": {"host": "mx", "prot": 25}},
            "alerts[0].smtp.prot",
            "did you mean 'port'?",
        ),
        (
            {**APPRISE, "colour": "red"},
            "alerts[0].colour",
            "see the alert channel keys in README.md",
        ),
        (
            {**WEBHOOK, "change_threshold": {"min_word": 3}},
            "alerts[0].change_threshold.min_word",
            "did you mean 'min_words'?",
        ),
    ],
)
def test_config_unknown_channel_key_names_line_key_and_a_fix(
    entry: dict[str, Any], key: str, hint: str
) -> None:
    from aggregator.config.models import parse_config
    from aggregator.exceptions import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config(FEEDS_AND_TOPIC + _yaml_entry(entry))
    assert info.value.key == key and info.value.hint == hint
    assert info.value.line == 8 and str(info.value).startswith(f"<config>:8: {key}: unknown key")


@pytest.mark.parametrize(
    "entry,message",
    [
        (
            {"name": "x", "kind": "pager"},
            "unknown alert kind 'pager'; expected one of email, webhook, apprise",
        ),
        ({"name": "x"}, "missing alert kind; expected one of email, webhook, apprise"),
    ],
)
def test_config_unknown_or_missing_kind_is_located_at_kind(
    entry: dict[str, Any], message: str
) -> None:
    from aggregator.config.models import parse_config
    from aggregator.exceptions import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config(FEEDS_AND_TOPIC + _yaml_entry(entry))
    assert info.value.key == "alerts[0].kind" and message in str(info.value)
