"""One way for tests to build an Aggregator: `make_agg(config)`, closed at teardown."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from aggregator.config.models import Config
from aggregator.core import Aggregator, make_aggregator

#: make_agg(config, *, clock=None, extract_workers=0) -> Aggregator
AggFactory = Callable[..., Aggregator]


def aggregators() -> Iterator[AggFactory]:
    """A factory of Aggregators over a Config or a feeds.yaml path; no worker processes
    unless `extract_workers` says so; every one is closed when the test ends."""
    made: list[Aggregator] = []

    def make(
        config: Config | str | os.PathLike[str], *, extract_workers: int = 0, **kw: Any
    ) -> Aggregator:
        agg = make_aggregator(config, extract_workers=extract_workers, **kw)
        made.append(agg)
        return agg

    try:
        yield make
    finally:
        for agg in made:
            agg.close()
