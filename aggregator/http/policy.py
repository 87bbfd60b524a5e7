"""The fetch policy a config asks for: one place maps ``network:`` onto the fetcher."""

from __future__ import annotations

from aggregator.config.models import Config
from aggregator.http.fetcher import FetchPolicy


def fetch_policy(config: Config) -> FetchPolicy:
    n = config.network
    return FetchPolicy(
        allow_private=tuple(n.allow_private),
        user_agent=n.user_agent,
        total_timeout=n.timeout.total_seconds(),
        max_bytes=n.max_bytes,
        max_connections=n.max_connections,
        max_per_host=n.max_per_host,
        min_host_interval=n.min_host_interval.total_seconds(),
    )
