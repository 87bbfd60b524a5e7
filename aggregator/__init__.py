"""aggregator: a newsroom feed aggregator with multilingual topics and change monitoring.

The library is the product; the CLI and the daemon are thin layers over it::

    from aggregator import make_aggregator
    with make_aggregator("feeds.yaml") as agg:
        for result in agg.poll():
            print(result.feed, result.new, result.error)
"""

from .config import Config, load_config, parse_config
from .core import Aggregator, make_aggregator
from .exceptions import (AggregatorError, ConfigError, DeliveryError, ExtractError, FetchError,
                         NotFoundError, ParseError, QuerySyntaxError, StorageError, UsageError)
from .types import Alert, Article, Change, Feed, Match, Snippet, UpdateResult, Version

__version__ = "0.1.0"

__all__ = [
    "Aggregator", "AggregatorError", "Alert", "Article", "Change", "Config", "ConfigError",
    "DeliveryError", "ExtractError", "Feed", "FetchError", "Match", "NotFoundError",
    "ParseError", "QuerySyntaxError", "Snippet", "StorageError", "UpdateResult", "UsageError",
    "Version", "load_config", "make_aggregator", "parse_config",
]
