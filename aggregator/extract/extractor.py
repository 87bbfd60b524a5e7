"""The worker pool set up for article extraction (and for the feed preparation that
shares its workers).

:class:`ExtractPool` runs :func:`~aggregator.extract.article.extract_article` (or
another job) in ``extract.pool``'s worker processes, each warmed with the language
model and, when pages will be extracted, trafilatura; :func:`article_pool` builds the
same for any job function, such as ``ingest.prepare.run_job``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, TypeVar

from aggregator.extract import article
from aggregator.extract.article import Extracted, extract_article, warm_extractor, warm_language
from aggregator.extract.pool import DEFAULT_MAX_BYTES, WorkerPool

__all__ = ["ExtractPool", "article_pool"]

R = TypeVar("R")

#: Imported once by the forkserver, not by every worker it starts: trafilatura and lxml.
_PRELOAD = (article.__name__,)


def article_pool(
    func: Callable[[bytes, str], R],
    *,
    workers: int = 2,
    timeout: float = 20.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    start_method: str = "forkserver",
    warm_extract: bool = True,
) -> WorkerPool[R]:
    """A pool running `func` whose workers load the language model at start, and with
    `warm_extract` trafilatura too (~1 s, ~80 MB: off for pools that only parse feeds)."""
    return WorkerPool(func, **_options(workers, timeout, max_bytes, start_method, warm_extract))


class _Options(TypedDict):
    workers: int
    timeout: float
    max_bytes: int
    start_method: str
    warm: Callable[[], None]
    preload: tuple[str, ...]


def _options(
    workers: int, timeout: float, max_bytes: int, start_method: str, warm_extract: bool
) -> _Options:
    """The pool's settings, with the warm-up that suits pages (or only feeds)."""
    return _Options(
        workers=workers,
        timeout=timeout,
        max_bytes=max_bytes,
        start_method=start_method,
        warm=warm_extractor if warm_extract else warm_language,
        preload=_PRELOAD,
    )


class ExtractPool(WorkerPool[Extracted]):
    """extract_article (or `func`) in worker processes, with a per-page time limit.

    workers=0 runs inline (tests, CLI one-offs); then there is no time limit.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 20.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        func: Callable[[bytes, str], Extracted] = extract_article,
        *,
        start_method: str = "forkserver",
        warm_extract: bool | None = None,
    ) -> None:
        # by default, a pool made for pages loads the extractor in every worker at start
        warm = func is extract_article if warm_extract is None else warm_extract
        super().__init__(func, **_options(workers, timeout, max_bytes, start_method, warm))

    async def extract(self, html: bytes, url: str) -> Extracted:
        """Extract one page; ExtractError on failure, timeout, oversize or closed pool."""
        return await self.run(html, url)
