"""Source-health alerts: one outbox draft per problem, channel and UTC day.

The detection (which feeds need a human) is the daemon's (``daemon.health``);
turning a problem into events for the channels subscribed to ``source`` is alert
planning, so it lives here, beside the other planners, and the facade queues them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator.alerts.plan import encode, hold_until, stable_alert_id, subscribed
from aggregator.alerts.types import AlertEvent, SourceHealth
from aggregator.config.models import Config
from aggregator.storage.records import AlertDraft


def source_alert_id(
    channel: str, problem: SourceHealth, now: datetime, *, installation: str
) -> str:
    """Stable per (channel, feed, problem, UTC day): one alert a day, however often checked."""
    return stable_alert_id(
        "source", channel, problem.feed, problem.problem, now.date(), installation=installation
    )


def source_alerts(
    config: Config, problems: Sequence[SourceHealth], now: datetime, *, installation: str
) -> list[AlertDraft]:
    """One outbox draft per problem per channel subscribed to `source` events."""
    out = []
    for ch in config.alerts:
        if not subscribed(ch, "source", None):
            continue
        for p in problems:
            event = AlertEvent(
                alert_id=source_alert_id(ch.name, p, now, installation=installation),
                event="source",
                channel=ch.name,
                topic=None,
                created_at=now,
                source=p,
            )
            out.append(
                AlertDraft(
                    event.alert_id, ch.name, "source", None, encode(event), hold_until(ch, now)
                )
            )
    return out
