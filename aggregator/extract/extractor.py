"""Article extraction: the story's text and metadata out of a fetched HTML page.

:func:`extract_article` is pure (HTML in, :class:`Extracted` out) and wraps
trafilatura with the settings measured best on the Zyte article-extraction
benchmark (``python -m benchmarks.bench_extract``): comments excluded and
``favor_precision`` on, which raised shingle F1 from 0.953 (defaults) to 0.964.
A newsroom alert quoting a cookie banner or a reader comment is worse than one
missing a sentence.

:class:`ExtractPool` runs it in worker processes: extraction is CPU-bound
(~30 ms of CPU a page) and lxml can loop for minutes on pathological pages, so a page
gets a time limit and a stuck worker is killed without stalling the others.
trafilatura is always handed the HTML we fetched; it never downloads anything.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as _pkg_version
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import lxml.html

from aggregator.exceptions import AggregatorError, ExtractError
from aggregator.extract.language import detect_language
from aggregator.parse.discover import absolute_http_url, document_base

if TYPE_CHECKING:
    from trafilatura.settings import Document

    from aggregator.ingest.prepare import PreparedFeed

# trafilatura (and its dependencies) cost ~80 MB per process: imported on the first
# extraction only, so worker processes that only parse feeds stay small.
EXTRACTOR_VERSION = f"trafilatura-{_pkg_version('trafilatura')}"

#: Below this the page gave us less than a feed summary: fall back to the feed.
MIN_TEXT_CHARS = 150

#: Measured on the Zyte corpus (see module docstring and benchmarks/bench_extract.py).
TRAFILATURA_OPTIONS: dict[str, Any] = {"include_comments": False, "favor_precision": True}


DEFAULT_MAX_BYTES = 5 * 1024 * 1024
#: A fresh worker loads trafilatura's and the language model (~1 s); that is not
#: the page's fault, so startup has its own, longer limit.
STARTUP_TIMEOUT = 60.0
#: How long close() lets running pages finish before killing their workers.
CLOSE_GRACE = 2.0


@dataclass(frozen=True)
class Extracted:
    """What one page says: text (paragraphs separated by blank lines) and metadata."""

    text: str
    title: str | None
    author: str | None
    published: datetime | None  # UTC
    canonical_url: str | None
    description: str | None
    sitename: str | None
    language: str | None  # ISO 639-1, detected from the text
    extractor_version: str


# ---------------------------------------------------------------------------
# Language


# detect_language lives in aggregator.extract.language (re-exported here for callers).


# ---------------------------------------------------------------------------
# Extraction


def extract_article(html: bytes | str, url: str) -> Extracted:
    """Main text and metadata of the article page `html` fetched from `url`.

    Raises ExtractError when the page yields less than MIN_TEXT_CHARS of text:
    the caller then keeps the feed's own content and records why.
    """
    tree = _load(html, url)
    document = _run_trafilatura(tree, url)
    text = _paragraphs(document.text or "")
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractError(f"extraction found only {len(text)} characters of text in {url}")
    return Extracted(
        text=text,
        title=_clean(document.title),
        author=_clean(document.author),
        published=parse_date(document.date),
        canonical_url=canonical_url(tree, url),
        description=_clean(document.description),
        sitename=_clean(document.sitename),
        language=detect_language(text),
        extractor_version=EXTRACTOR_VERSION,
    )


def _load(html: bytes | str, url: str) -> lxml.html.HtmlElement:
    """Parse once with trafilatura's loader (charset detection included)."""
    from trafilatura.utils import load_html

    try:
        tree = load_html(html)
    except Exception as e:  # lxml/charset errors vary; all mean "not HTML"
        raise ExtractError(f"page at {url} is not parseable HTML: {e}") from e
    if tree is None:
        raise ExtractError(f"page at {url} is not HTML")
    return tree


def _run_trafilatura(tree: lxml.html.HtmlElement, url: str) -> Document:
    """trafilatura on our tree (it copies it), with dates kept to the minute."""
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            date_extraction_params=_date_params(),
            **TRAFILATURA_OPTIONS,
        )
    except Exception as e:  # third-party parser on hostile input
        raise ExtractError(f"extraction failed on {url}: {e!r}") from e
    if not isinstance(document, Document):
        raise ExtractError(f"extraction found no article text in {url}")
    return document


def _date_params() -> dict[str, Any]:
    """htmldate settings: the original publication date, with time and offset."""
    return {
        "original_date": True,
        "extensive_search": True,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
        "max_date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def parse_date(value: str | None) -> datetime | None:
    """An htmldate string as an aware UTC datetime; naive values are taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def canonical_url(tree: lxml.html.HtmlElement, page_url: str) -> str | None:
    """The page's own idea of its URL: <link rel=canonical>, else og:url; absolute http(s)."""
    base = document_base(tree, page_url)
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            return absolute_http_url(link.get("href"), base)
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "og:url":
            return absolute_http_url(meta.get("content"), base)
    return None


def _paragraphs(text: str) -> str:
    """trafilatura puts one block per line; we separate paragraphs by blank lines."""
    return "\n\n".join(line.strip() for line in text.splitlines() if line.strip())


def _clean(value: str | None) -> str | None:
    """Blank metadata is missing metadata."""
    stripped = value.strip() if value else ""
    return stripped or None


# ---------------------------------------------------------------------------
# Process pool

#: A job for the pool: page extraction, or (prepare.run_job) feed preparation too.
ExtractFunc = Callable[[bytes, str], "Extracted | PreparedFeed"]


def _call(func: ExtractFunc, html: bytes, url: str) -> Extracted | PreparedFeed:
    """Runs in the worker: any failure leaves it as an ExtractError."""
    try:
        return func(html, url)
    except AggregatorError:
        raise
    except Exception as e:  # the boundary of a pluggable function
        raise ExtractError(f"extraction failed on {url}: {e!r}") from e


_startup_barrier: Any = None  # set in each worker by _warm_worker


def _warm_worker(
    func: ExtractFunc, barrier: Any, owner: int | None = None, warm_extract: bool = False
) -> None:
    """Worker initializer: load the language model, and (by unpickling `func`)
    import its module, before the first page's clock starts; watch the owner.

    `warm_extract`: also import trafilatura and run it once (~1 s, ~80 MB), which
    extract_article would otherwise do lazily on the worker's first page, in the
    middle of a poll; off for pools that only parse feeds, to keep them small.
    """
    global _startup_barrier
    del func
    _startup_barrier = barrier
    if owner is not None:
        threading.Thread(target=_exit_with, args=(owner,), daemon=True, name="owner-watch").start()
    detect_language("warm up the language model with a sentence of plain prose")
    if warm_extract:
        _warm_extractor()


_WARM_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article><p>"
    + "A paragraph of plain prose that loads the extractor. " * 8
    + "</p></article></body></html>"
)


def _warm_extractor() -> None:
    try:
        extract_article(_WARM_PAGE, "https://warm-up.invalid/")
    except ExtractError:
        pass


#: How often a worker checks that the process that started it is still there.
OWNER_CHECK_S = 1.0


def _exit_with(owner: int) -> None:
    """End this worker once its owner is gone. A worker forked by the forkserver
    holds the pipes that would otherwise tell it so (its job queue and the
    forkserver's liveness pipe), so a daemon killed with SIGKILL, or by the OOM
    killer, used to leave its workers waiting for jobs forever."""
    while True:
        time.sleep(OWNER_CHECK_S)
        try:
            os.kill(owner, 0)
        except (ProcessLookupError, PermissionError):  # gone, or the pid was reused
            os._exit(0)


def _ping() -> None:
    """Returns once every worker of the pool has started: each must take one ping,
    as the first to arrive waits at the barrier for the others.
    """
    _startup_barrier.wait(STARTUP_TIMEOUT)


_preload_registered = False


def _mp_context(method: str) -> multiprocessing.context.BaseContext:
    """The start method's context. A forkserver preloads this module, so trafilatura
    and lxml are imported once in the server, not in every worker (re)started after
    a timeout kill; each worker still loads the language model (off the clock).
    """
    global _preload_registered
    context = multiprocessing.get_context(method)
    if method == "forkserver" and not _preload_registered:
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        current = list(getattr(server, "_preload_modules", None) or [])
        context.set_forkserver_preload([*current, __name__])
        _preload_registered = True
    return context


def _kill(executor: ProcessPoolExecutor) -> None:
    """Kill the executor's workers now: the only way to stop a running task.

    Tasks still in flight then fail with BrokenProcessPool, which the pool
    reads as "innocent, resubmit".
    """
    for process in _processes(executor):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=False)


def _processes(executor: ProcessPoolExecutor) -> list[Any]:
    """The executor's worker processes (private attribute: no public API before 3.14)."""
    return list((getattr(executor, "_processes", None) or {}).values())


#: Jobs in flight per worker: one running and one queued behind it, so a worker that
#: finishes starts its next job at once instead of waiting for the (busy) event loop
#: to hand one over; measured 20% idle CPU in a cold poll with one per worker.
JOBS_PER_WORKER = 2


def _slots_for(workers: int) -> int:
    return max(workers, 1) * JOBS_PER_WORKER


class ExtractPool:
    """extract_article (or `func`) in worker processes, with a per-page time limit.

    workers=0 runs inline (tests, CLI one-offs); then there is no time limit.
    At most JOBS_PER_WORKER pages per worker are in the executor at once; a page
    queued behind a running one gets a deadline that covers that wait.

    Start method: 'forkserver' by default. Measured first start (pool created to
    first page done): ~1.1 s on an idle 2-core machine (0.4 s forkserver, then
    the language model in each worker) against ~0.1 s for 'fork', whose workers
    inherit the parent's imports and model. But forking the daemon, which has
    threads by then (scheduler, DNS lookups), can deadlock a child, and 3.12+
    deprecates it; start-up is paid once, and restarts after a kill ~1 s.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 20.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        func: ExtractFunc = extract_article,
        *,
        start_method: str = "forkserver",
        warm_extract: bool | None = None,
    ) -> None:
        if workers < 0 or timeout <= 0 or max_bytes <= 0:
            raise ValueError("workers must be >= 0, timeout and max_bytes > 0")
        multiprocessing.get_context(start_method)  # ValueError now, not at the first page
        self.workers, self.timeout, self.max_bytes = workers, timeout, max_bytes
        self.restarts = 0  # worker pools killed and replaced (timeouts, crashes)
        self._func = func
        # by default, a pool made for pages loads the extractor in every worker at start
        self._warm_extract = func is extract_article if warm_extract is None else warm_extract
        self._start_method = start_method
        self._slots = asyncio.Semaphore(_slots_for(workers))
        self._in_flight = 0
        self._executor: ProcessPoolExecutor | None = None
        self._ready: asyncio.Future[list[None]] | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def extract(self, html: bytes, url: str) -> Extracted | PreparedFeed:
        """Extract one page; ExtractError on failure, timeout, oversize or closed pool."""
        self._admit(html, url)
        if self.workers == 0:
            return _call(self._func, html, url)
        self._bind_loop()
        async with self._slots:
            # a job beyond one per worker waits for a running one first: its deadline
            # covers that wait, so a stuck neighbour is killed (and this job resubmitted)
            # before this job's own time runs out
            queued = self._in_flight >= self.workers
            self._in_flight += 1
            try:
                return await self._run_with_retry(html, url, queued)
            finally:
                self._in_flight -= 1

    async def start(self) -> None:
        """Start the worker processes now and wait until they are warm (~0.5-1 s), so
        that the first poll does not pay for it (the daemon calls this at start-up)."""
        if self.workers == 0:
            return
        self._bind_loop()
        await self._ready_executor()

    def _bind_loop(self) -> None:
        """The pool outlives event loops (each `Aggregator.poll()` is an asyncio.run):
        keep the warm worker processes, remake the loop-bound semaphore and future."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._loop = loop
        self._slots = asyncio.Semaphore(_slots_for(self.workers))
        self._in_flight = 0
        ready = self._ready
        if ready is None:
            return
        if ready.done() and not ready.cancelled() and ready.exception() is None:
            warm: asyncio.Future[list[None]] = loop.create_future()
            warm.set_result([])
            self._ready = warm
        elif self._executor is not None:  # started in a loop that is gone: start over
            self._replace(self._executor)

    def _admit(self, html: bytes, url: str) -> None:
        """Refuse work before it costs anything."""
        if self._closed:
            raise ExtractError("extraction pool is closed")
        if len(html) > self.max_bytes:
            raise ExtractError(
                f"page at {url} is {len(html)} bytes, over the "
                f"{self.max_bytes}-byte extraction limit"
            )

    async def _run_with_retry(
        self, html: bytes, url: str, queued: bool = False
    ) -> Extracted | PreparedFeed:
        """A page whose worker died under it (killed with a stuck neighbour, or a
        crash) is resubmitted once; a second death is its own fault.
        """
        try:
            return await self._run_once(html, url, queued)
        except BrokenProcessPool:
            pass
        try:
            return await self._run_once(html, url, queued)
        except BrokenProcessPool as e:
            raise ExtractError(f"extraction worker died twice on {url}") from e

    async def _run_once(
        self, html: bytes, url: str, queued: bool = False
    ) -> Extracted | PreparedFeed:
        executor = await self._ready_executor()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(executor, _call, self._func, html, url)
            return await asyncio.wait_for(future, self.timeout * (2 if queued else 1))
        except TimeoutError:
            self._replace(executor)
            raise ExtractError(f"extraction timed out after {self.timeout:g}s") from None
        except BrokenProcessPool:
            self._replace(executor)
            raise

    async def _ready_executor(self) -> ProcessPoolExecutor:
        """The current executor once a worker is warm (started on first use)."""
        if self._closed:
            raise ExtractError("extraction pool is closed")
        if self._executor is None or self._ready is None:
            self._start()
        executor, ready = self._executor, self._ready
        assert executor is not None and ready is not None
        try:
            await asyncio.wait_for(asyncio.shield(ready), STARTUP_TIMEOUT)
        except Exception as e:  # timeout, dead worker, broken barrier: all fatal
            self._replace(executor)
            raise ExtractError(f"extraction workers did not start: {e!r}") from e
        return executor

    def _start(self) -> None:
        """A new executor; `_ready` resolves when all its workers are up and warm."""
        context = _mp_context(self._start_method)
        barrier = context.Barrier(self.workers)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_warm_worker,
            initargs=(self._func, barrier, os.getpid(), self._warm_extract),
        )
        loop = asyncio.get_running_loop()
        pings = [loop.run_in_executor(executor, _ping) for _ in range(self.workers)]
        self._executor = executor
        self._ready = asyncio.gather(*pings)

    def _replace(self, executor: ProcessPoolExecutor) -> None:
        """Kill `executor` if it is still the current one; the next page starts a new one."""
        if executor is not self._executor:
            return  # another page already replaced it
        self._executor, self._ready = None, None
        self.restarts += 1
        _kill(executor)

    def worker_pids(self) -> list[int]:
        """Pids of the live worker processes (for metrics and benchmarks)."""
        return [p.pid for p in _processes(self._executor)] if self._executor else []

    def close(self, grace: float = CLOSE_GRACE) -> None:
        """Stop accepting pages, let running ones finish for `grace` seconds, kill the rest."""
        self._closed = True
        executor, self._executor, self._ready = self._executor, None, None
        if executor is None:
            return
        processes = _processes(executor)
        # no cancel_futures: a cancelled future would surface as CancelledError in the
        # awaiting task; pages that cannot finish get BrokenProcessPool, then ExtractError
        executor.shutdown(wait=False, cancel_futures=False)
        deadline = time.monotonic() + grace
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)
