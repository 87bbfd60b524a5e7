"""A process pool for CPU-bound jobs on fetched bytes, with a time limit per job.

The job function is passed in (``func(data, spec) -> R``, picklable, so a module-level
function): article extraction, or a feed's preparation (``ingest.prepare.run_job``).
Extraction is CPU-bound (~30 ms a page) and lxml can loop for minutes on pathological
pages, so a job gets a time limit and a stuck worker is killed without stalling the
others.  The pool knows nothing about what its jobs do: the caller says how a worker
warms up (``warm``) and which modules the forkserver imports once (``preload``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from aggregator.exceptions import AggregatorError, ExtractError

__all__ = ["CLOSE_GRACE", "DEFAULT_MAX_BYTES", "JOBS_PER_WORKER", "STARTUP_TIMEOUT", "WorkerPool"]

R = TypeVar("R")
T = TypeVar("T")
U = TypeVar("U")
Job = Callable[[bytes, str], R]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
#: A fresh worker loads trafilatura's and the language model (~1 s); that is not
#: the page's fault, so startup has its own, longer limit.
STARTUP_TIMEOUT = 60.0
#: How long close() lets running pages finish before killing their workers.
CLOSE_GRACE = 2.0


def _call(func: Callable[[bytes, str], R], data: bytes, spec: str) -> R:
    """Runs in the worker: any failure leaves it as an ExtractError."""
    try:
        return func(data, spec)
    except AggregatorError:
        raise
    except Exception as e:  # the boundary of a pluggable function
        raise ExtractError(f"extraction failed on {spec}: {e!r}") from e


_startup_barrier: Any = None  # set in each worker by _warm_worker


def _warm_worker(
    func: Callable[[bytes, str], Any],
    barrier: Any,
    owner: int | None = None,
    warm: Callable[[], None] | None = None,
) -> None:
    """Worker initializer: run `warm` and (by unpickling `func`) import its module before
    the first job's clock starts; watch the owner."""
    global _startup_barrier
    del func
    _startup_barrier = barrier
    if owner is not None:
        threading.Thread(target=_exit_with, args=(owner,), daemon=True, name="owner-watch").start()
    if warm is not None:
        warm()


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


_preloaded: set[str] = set()  # modules already handed to the forkserver


def _mp_context(method: str, preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    """The start method's context. A forkserver preloads `preload` (for extraction:
    trafilatura and lxml), so they are imported once in the server, not in every worker
    (re)started after a timeout kill; each worker still warms up (off the clock).
    """
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        current = list(getattr(server, "_preload_modules", None) or [])
        missing = [m for m in preload if m not in current and m not in _preloaded]
        if missing:
            context.set_forkserver_preload([*current, *missing])
            _preloaded.update(missing)
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


class WorkerPool(Generic[R]):
    """`func(data, spec)` in worker processes, with a time limit per job.

    workers=0 runs inline (tests, CLI one-offs); then there is no time limit.
    At most JOBS_PER_WORKER jobs per worker are in the executor at once; a job
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
        func: Callable[[bytes, str], R],
        *,
        workers: int = 2,
        timeout: float = 20.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        start_method: str = "forkserver",
        warm: Callable[[], None] | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        if workers < 0 or timeout <= 0 or max_bytes <= 0:
            raise ValueError("workers must be >= 0, timeout and max_bytes > 0")
        multiprocessing.get_context(start_method)  # ValueError now, not at the first page
        self.workers, self.timeout, self.max_bytes = workers, timeout, max_bytes
        self.restarts = 0  # worker pools killed and replaced (timeouts, crashes)
        self._func = func
        self._warm = warm
        self._preload = tuple(preload)
        self._start_method = start_method
        self._slots = asyncio.Semaphore(_slots_for(workers))
        self._in_flight = 0
        self._executor: ProcessPoolExecutor | None = None
        self._ready: asyncio.Future[list[None]] | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, data: bytes, spec: str) -> R:
        """Run one job; ExtractError on failure, timeout, oversize or closed pool."""
        self._admit(data, spec)
        if self.workers == 0:
            return _call(self._func, data, spec)
        self._bind_loop()
        async with self._slots:
            # a job beyond one per worker waits for a running one first: its deadline
            # covers that wait, so a stuck neighbour is killed (and this job resubmitted)
            # before this job's own time runs out
            queued = self._in_flight >= self.workers
            self._in_flight += 1
            try:
                return await self._run_with_retry(data, spec, queued)
            finally:
                self._in_flight -= 1

    async def call(self, fn: Callable[[T], U], arg: T, *, timeout: float | None = None) -> U:
        """Any picklable CPU-bound job in the workers (cross-lingual topic matching):
        the same slots and restarts as the pool's own jobs, one resubmission if a
        worker dies under it."""
        if self._closed:
            raise ExtractError("worker pool is closed")
        if self.workers == 0:
            return fn(arg)
        self._bind_loop()
        limit = timeout or self.timeout
        async with self._slots:
            self._in_flight += 1
            try:
                for attempt in (1, 2):
                    executor = await self._ready_executor()
                    future = asyncio.get_running_loop().run_in_executor(executor, fn, arg)
                    try:
                        return await asyncio.wait_for(future, limit)
                    except TimeoutError:
                        self._replace(executor)
                        raise ExtractError(f"worker job timed out after {limit:g}s") from None
                    except BrokenProcessPool as e:
                        self._replace(executor)
                        if attempt == 2:
                            raise ExtractError("worker died twice on the same job") from e
                raise AssertionError("unreachable")  # pragma: no cover
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

    async def _run_with_retry(self, html: bytes, url: str, queued: bool = False) -> R:
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

    async def _run_once(self, html: bytes, url: str, queued: bool = False) -> R:
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
        context = _mp_context(self._start_method, self._preload)
        barrier = context.Barrier(self.workers)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_warm_worker,
            initargs=(self._func, barrier, os.getpid(), self._warm),
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
