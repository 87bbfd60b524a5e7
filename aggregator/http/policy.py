"""The limits a fetcher works under, and the one place that maps ``network:`` onto them."""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.config.models import Config
from aggregator.exceptions import ConfigError
from aggregator.http.guard import allow_list

__all__ = ["FetchPolicy", "fetch_policy"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one :class:`Fetcher`; built from feeds.yaml's ``network`` section."""

    allow_private: tuple[str, ...] = ()
    user_agent: str = "aggregator/0.1 (+https://github.com/aggregator)"
    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * MiB
    max_redirects: int = 5
    max_connections: int = 10
    max_per_host: int = 2
    min_host_interval: float = 0.0

    def __post_init__(self) -> None:
        """Reject nonsense early: a zero cap or a bad CIDR would fail every fetch later."""
        for name in (
            "total_timeout",
            "connect_timeout",
            "max_bytes",
            "max_connections",
            "max_per_host",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"network.{name} must be positive", key=f"network.{name}")
        if self.max_redirects < 0 or self.min_host_interval < 0:
            raise ConfigError(
                "network.max_redirects and network.min_host_interval cannot be negative"
            )
        if not self.user_agent.isascii() or not self.user_agent.isprintable():
            raise ConfigError(
                "network.user_agent must be printable ASCII (it is sent as an HTTP header)",
                key="network.user_agent",
            )
        allow_list(tuple(self.allow_private))


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
