"""Alerts: channel configs, records, channels (email, webhook, Apprise) and the outbox dispatcher.

Importing this package stays cheap: channel modules (and Apprise) load when a
channel is built, not when feeds.yaml is validated.
"""

from __future__ import annotations

from aggregator.alerts.dispatch import DispatchReport, OutboxItem, OutboxStore, deliver_due
from aggregator.alerts.policy import is_dead, next_attempt
from aggregator.alerts.registry import CHANNEL_KINDS, Channel, build_channel
from aggregator.alerts.types import (
    AlertArticle,
    AlertChange,
    AlertEvent,
    Delivery,
    Snippet,
    SourceHealth,
    SourceRef,
    message_id,
)
from aggregator.config.alerts import (
    AppriseChannelConfig,
    ChannelConfig,
    EmailChannelConfig,
    WebhookChannelConfig,
    parse_channel,
)

__all__ = [
    "CHANNEL_KINDS",
    "AlertArticle",
    "AlertChange",
    "AlertEvent",
    "AppriseChannelConfig",
    "Channel",
    "ChannelConfig",
    "Delivery",
    "DispatchReport",
    "EmailChannelConfig",
    "OutboxItem",
    "OutboxStore",
    "Snippet",
    "SourceHealth",
    "SourceRef",
    "WebhookChannelConfig",
    "build_channel",
    "deliver_due",
    "is_dead",
    "message_id",
    "next_attempt",
    "parse_channel",
]
