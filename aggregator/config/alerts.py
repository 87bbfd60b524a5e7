"""The ``alerts:`` section of feeds.yaml: one typed model per channel kind.

A channel entry is parsed once, when the config is loaded, into the model its ``kind``
names (a discriminated union, :data:`AlertChannel`) and kept on ``Config.alerts``; the
alert stages read these models and ``alerts.registry`` builds channels from them.
Validating feeds.yaml therefore never imports a channel module (nor Apprise).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from aggregator.config.durations import config_duration

__all__ = [
    "CHANNEL_MODELS",
    "AlertChannel",
    "AppriseChannelConfig",
    "ChangeFacts",
    "ChangeThreshold",
    "ChannelConfig",
    "EmailChannelConfig",
    "EventKind",
    "SmtpConfig",
    "WebhookChannelConfig",
    "parse_channel",
    "secret_key",
    "unknown_kind_message",
]

EventKind = Literal["match", "change", "source", "test"]
"""What an alert is about; ``test`` is the CLI's ``alerts test`` message."""


class ChangeFacts(Protocol):
    """What a change threshold reads of an edit (``alerts.types.AlertChange`` fits)."""

    @property
    def headline_changed(self) -> bool: ...
    @property
    def topic_change(self) -> str | None: ...
    @property
    def correction(self) -> object | None: ...
    @property
    def words_added(self) -> int: ...
    @property
    def words_removed(self) -> int: ...


NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_RESERVED_HEADERS = {
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
}


def _duration(value: Any) -> timedelta:
    """Pydantic pre-validator: '15m', 900 or a timedelta."""
    return config_duration(value)


def _address(value: str) -> str:
    """A bare addr-spec (desk@example.org); anything a header could be split on is refused."""
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError) as e:
        raise ValueError(f"{value!r} is not an email address (write e.g. desk@example.org)") from e
    if not parsed.username or "." not in parsed.domain and parsed.domain != "localhost":
        raise ValueError(f"{value!r} is not an email address (write e.g. desk@example.org)")
    return parsed.addr_spec


def _optional_duration(value: Any) -> timedelta | None:
    return None if value is None else _duration(value)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChangeThreshold(_Model):
    """Which edits deserve a change alert; any enabled criterion is enough."""

    headline: bool = True
    min_words: int = Field(default=50, ge=0)
    topic_change: bool = True
    correction: bool = True

    def passes(self, change: ChangeFacts) -> bool:
        """True if this edit is worth telling the channel about."""
        return any(
            (
                self.headline and change.headline_changed,
                self.topic_change and change.topic_change in ("introduced", "removed"),
                self.correction and change.correction is not None,
                change.words_added + change.words_removed >= max(self.min_words, 1),
            )
        )


class ChannelConfig(_Model):
    """Keys every alert channel has, whatever its kind."""

    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    kind: str
    topics: list[str] = []
    events: list[Literal["match", "change", "source"]] = ["match"]
    digest: timedelta | None = None
    #: Copies of one wire story (near-duplicate text, one topic) raised within this long of
    #: the first go out as one alert; 0s turns grouping off.
    group_window: timedelta = timedelta(minutes=2)
    #: How they do: ``fold`` (default) sends the first copy at once and folds the copies
    #: that follow within ``group_window`` into it (recorded, never sent again); ``hold``
    #: keeps every first alert back for ``group_window`` so that its copies' sources are
    #: listed in the one alert, at the cost of that much latency.
    group_mode: Literal["fold", "hold"] = "fold"
    retry_window: timedelta = timedelta(hours=24)
    change_threshold: ChangeThreshold | None = None

    _durations = field_validator("digest", "group_window", "retry_window", mode="before")(
        _optional_duration
    )

    def wants(self, event: EventKind, topic: str | None) -> bool:
        """Whether an event of this kind about `topic` goes to this channel (tests always do)."""
        if event == "test":
            return True
        if event not in self.events:
            return False
        return not self.topics or topic is None or topic in self.topics

    def hold(self) -> timedelta:
        """How long the outbox keeps a new item back: the digest window, else the group
        window in ``hold`` mode; nothing in ``fold`` mode (copies are folded at dispatch)."""
        if self.digest is not None:
            return self.digest
        return self.group_window if self.group_mode == "hold" else timedelta(0)


class SmtpConfig(_Model):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: timedelta = timedelta(seconds=30)

    _timeout = field_validator("timeout", mode="before")(_duration)

    @model_validator(mode="before")
    @classmethod
    def _implicit_tls_port(cls, data: Any) -> Any:
        """security: tls without a port means 465, the implicit-TLS submission port."""
        if isinstance(data, Mapping) and data.get("security") == "tls" and "port" not in data:
            return {**data, "port": 465}
        return data

    @model_validator(mode="after")
    def _no_cleartext_login(self) -> SmtpConfig:
        if self.security == "none" and (self.username or self.password):
            raise ValueError(
                "refusing to send a password over an unencrypted connection; "
                "use security: starttls or tls"
            )
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class EmailChannelConfig(ChannelConfig):
    kind: Literal["email"] = "email"
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smtp: SmtpConfig
    templates: Path | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _one_address(cls, v: Any) -> Any:
        """`to: desk@example.org` (one address, no list) is what people write first."""
        return [v] if isinstance(v, str) else v

    @field_validator("to")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        return [_address(a) for a in v]

    @field_validator("from_")
    @classmethod
    def _sender(cls, v: str) -> str:
        return _address(v)


class WebhookChannelConfig(ChannelConfig):
    kind: Literal["webhook"] = "webhook"
    url: str
    secret: SecretStr | None = None
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            secret_key(v.get_secret_value())
        return v

    @field_validator("headers")
    @classmethod
    def _safe_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} cannot be set here")
            if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
                raise ValueError(f"header {name!r} has a control character in its value")
        return v


class AppriseChannelConfig(ChannelConfig):
    kind: Literal["apprise"] = "apprise"
    urls: list[str] = Field(min_length=1)
    #: Apprise schemes that open their own sockets (mailto, mqtt, xmpp, irc, syslog ...),
    #: which the SSRF guard cannot vet: refused unless listed here.
    unguarded_schemes: list[str] = Field(default_factory=list)

    @field_validator("unguarded_schemes")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [s.strip().lower().removesuffix("://") for s in v]

    @field_validator("urls")
    @classmethod
    def _present(cls, v: list[str]) -> list[str]:
        if any(not u.strip() for u in v):
            raise ValueError("an Apprise URL is empty (is its environment variable set?)")
        return v


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after 'whsec_'."""
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret looks like whsec_<base64>")
    body = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the part after whsec_ is not base64") from e
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes (24 to 64 recommended)")
    return key


AlertChannel = Annotated[
    EmailChannelConfig | WebhookChannelConfig | AppriseChannelConfig,
    Field(discriminator="kind"),
]
"""One ``alerts:`` entry, as the model its ``kind`` names."""

CHANNEL_MODELS: dict[
    str, type[EmailChannelConfig] | type[WebhookChannelConfig] | type[AppriseChannelConfig]
] = {
    "email": EmailChannelConfig,
    "webhook": WebhookChannelConfig,
    "apprise": AppriseChannelConfig,
}
"""The channel kinds, in the order error messages list them."""


def unknown_kind_message(kind: object) -> str:
    """What to say about a ``kind:`` that names no channel type (None: the key is missing)."""
    shown = "missing alert kind" if kind is None else f"unknown alert kind {kind!r}"
    return f"{shown}; expected one of {', '.join(CHANNEL_MODELS)}"


def parse_channel(
    mapping: Mapping[str, Any],
) -> EmailChannelConfig | WebhookChannelConfig | AppriseChannelConfig:
    """Validate one entry on its own (tests, tools); raises ValidationError, or ValueError
    for an unknown or missing kind.  Loading feeds.yaml validates the whole list at once."""
    kind = mapping.get("kind")
    if not isinstance(kind, str) or kind not in CHANNEL_MODELS:
        raise ValueError(unknown_kind_message(kind))
    return CHANNEL_MODELS[kind].model_validate(dict(mapping))
