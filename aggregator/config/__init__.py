"""Configuration: the typed models of feeds.yaml, loading, in-place editing, durations.

``aggregator.config`` re-exports the names most callers need; the models live in
``config.models`` (the ``alerts:`` channel models in ``config.alerts``), the in-place
editor in ``config.edit``.
"""

from aggregator.config.models import Config, FeedConfig, load_config, parse_config

__all__ = ["Config", "FeedConfig", "load_config", "parse_config"]
