"""The registry that turns typed channel configs into channels.

``CHANNEL_KINDS`` is a plain dict keyed by ``kind``: adding a channel type means
adding its model to ``config.alerts`` and one entry here; nothing is discovered
implicitly. The configs were parsed once, with feeds.yaml (``config.alerts``); the
builders import their channel module lazily, so importing the facade does not pay for
importing Apprise and its hundred plugins.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

from aggregator.alerts.types import AlertEvent, Delivery
from aggregator.config.alerts import (
    AppriseChannelConfig,
    ChangeThreshold,
    ChannelConfig,
    EmailChannelConfig,
    WebhookChannelConfig,
    parse_channel,
)

if TYPE_CHECKING:
    from aggregator.alerts.webhook import Poster

__all__ = [
    "CHANNEL_KINDS",
    "AppriseChannelConfig",
    "BuildContext",
    "ChangeThreshold",
    "Channel",
    "ChannelConfig",
    "ChannelKind",
    "EmailChannelConfig",
    "WebhookChannelConfig",
    "build_channel",
    "parse_channel",
]
# The channel models and parse_channel live in config.alerts; they are re-exported here
# because tests and tools written before the move import them from the registry.

_C = TypeVar("_C", bound=ChannelConfig)


class Channel(Protocol):
    """Something that can deliver alerts; `send` gets one event, or several for a digest."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> ChannelConfig: ...

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        """Deliver or raise DeliveryError(permanent=..., retry_after=...)."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """What channels may need from the daemon: outbound HTTP, TLS trust, a clock."""

    fetcher_factory: Callable[[], Poster] | None = None
    ssl_context: ssl.SSLContext | None = None
    clock: Callable[[], datetime] | None = None
    allow_private: tuple[str, ...] = ()  # network.allow_private, for what the fetcher cannot send


class ChannelKind(NamedTuple):
    """One kind of channel: the model its config is parsed into, and how to build it."""

    config: type[ChannelConfig]
    build: Callable[[ChannelConfig, BuildContext], Channel]


def _email(config: ChannelConfig, ctx: BuildContext) -> Channel:
    from aggregator.alerts.email import EmailChannel

    return EmailChannel(
        _as(config, EmailChannelConfig), ssl_context=ctx.ssl_context, clock=ctx.clock
    )


def _webhook(config: ChannelConfig, ctx: BuildContext) -> Channel:
    from aggregator.alerts.webhook import WebhookChannel, default_fetcher

    fetcher = ctx.fetcher_factory() if ctx.fetcher_factory else default_fetcher()
    return WebhookChannel(_as(config, WebhookChannelConfig), fetcher)


def _apprise(config: ChannelConfig, ctx: BuildContext) -> Channel:
    from aggregator.alerts.apprise_channel import AppriseChannel

    return AppriseChannel(_as(config, AppriseChannelConfig), allow_private=ctx.allow_private)


def _as(config: ChannelConfig, model: type[_C]) -> _C:
    """The config as its kind's model; a mismatch is a programming error, not a user's."""
    if not isinstance(config, model):
        raise TypeError(f"a {config.kind} channel config is not a {model.__name__}")
    return config


CHANNEL_KINDS: dict[str, ChannelKind] = {
    "email": ChannelKind(EmailChannelConfig, _email),
    "webhook": ChannelKind(WebhookChannelConfig, _webhook),
    "apprise": ChannelKind(AppriseChannelConfig, _apprise),
}


def build_channel(
    config: ChannelConfig,
    *,
    fetcher_factory: Callable[[], Poster] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    clock: Callable[[], datetime] | None = None,
    allow_private: tuple[str, ...] = (),
) -> Channel:
    """The channel for a validated config.

    `fetcher_factory` should return the daemon's Fetcher (built with
    network.allow_private); `clock` dates emails (webhook signatures always use
    the wall clock, which is what receivers check them against); `allow_private`
    is network.allow_private for channels that do not send through the Fetcher
    (Apprise), so the same SSRF guard applies to them.
    """
    return CHANNEL_KINDS[config.kind].build(
        config, BuildContext(fetcher_factory, ssl_context, clock, allow_private)
    )
