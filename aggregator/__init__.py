"""aggregator: a newsroom feed aggregator with multilingual topics and change monitoring.

The library is the product; the CLI and the daemon are thin layers over it::

    from aggregator import make_aggregator
    with make_aggregator("feeds.yaml") as agg:
        for result in agg.poll():
            print(result.feed, result.new, result.error)

Names are imported lazily so that ``import aggregator.parse.feeds`` (or a worker
process of the extraction pool) does not load the whole stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers; at run time __getattr__ loads them
    from aggregator.config.models import Config, load_config, parse_config
    from aggregator.core import Aggregator, make_aggregator
    from aggregator.exceptions import (
        AggregatorError,
        ConfigError,
        DeliveryError,
        ExtractError,
        FetchError,
        NotFoundError,
        ParseError,
        QuerySyntaxError,
        StorageError,
        UsageError,
    )
    from aggregator.types import Alert, Article, Change, Feed, Match, Snippet, UpdateResult, Version

__version__ = "0.1.0"

_EXPORTS = {
    "Aggregator": "core",
    "make_aggregator": "core",
    "Config": "config",
    "load_config": "config",
    "parse_config": "config",
    "AggregatorError": "exceptions",
    "ConfigError": "exceptions",
    "DeliveryError": "exceptions",
    "ExtractError": "exceptions",
    "FetchError": "exceptions",
    "NotFoundError": "exceptions",
    "ParseError": "exceptions",
    "QuerySyntaxError": "exceptions",
    "StorageError": "exceptions",
    "UsageError": "exceptions",
    "Alert": "types",
    "Article": "types",
    "Change": "types",
    "Feed": "types",
    "Match": "types",
    "Snippet": "types",
    "UpdateResult": "types",
    "Version": "types",
}

__all__ = [  # sorted(_EXPORTS), spelled out for static analysis
    "Aggregator",
    "AggregatorError",
    "Alert",
    "Article",
    "Change",
    "Config",
    "ConfigError",
    "DeliveryError",
    "ExtractError",
    "Feed",
    "FetchError",
    "Match",
    "NotFoundError",
    "ParseError",
    "QuerySyntaxError",
    "Snippet",
    "StorageError",
    "UpdateResult",
    "UsageError",
    "Version",
    "load_config",
    "make_aggregator",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aggregator' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
