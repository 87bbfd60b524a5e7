"""Run a Daemon in a background thread: for programs that embed the aggregator
(a notebook, a web app, a test) and want the daemon beside their own code.

The thread has its own event loop; signals stay with the host program, which
stops the daemon with ``stop()`` (or by leaving the ``with`` block) and gets
the same graceful stop as SIGTERM.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Self

from aggregator.daemon.runner import Daemon, Options

if TYPE_CHECKING:
    from aggregator.core import Aggregator


class BackgroundDaemon:
    """``with BackgroundDaemon(agg) as d: ... d.http.url ...``"""

    def __init__(
        self, agg: Aggregator, options: Options | None = None, start_timeout: float = 30.0
    ) -> None:
        opts = replace(options or Options(), signals=False, once=False)
        self.daemon = Daemon(agg, opts)
        self.start_timeout = start_timeout
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="aggregator-daemon", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise TimeoutError("the daemon did not start in time")
        if self.error is not None:
            raise self.error
        return self

    def _main(self) -> None:
        try:
            self.exit_code = asyncio.run(self._serve())
        except BaseException as e:  # noqa: BLE001 - handed to the host thread
            self.error = e
        finally:
            self._ready.set()

    async def _serve(self) -> int:
        self._loop = asyncio.get_running_loop()
        waiter = asyncio.create_task(self._signal_started())
        try:
            return await self.daemon.serve()
        finally:
            waiter.cancel()

    async def _signal_started(self) -> None:
        await self.daemon.started.wait()
        self._ready.set()

    def stop(self, timeout: float | None = None) -> int | None:
        """Graceful stop (as on SIGTERM); returns the exit code."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.daemon.request_stop, "stop()")
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.exit_code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def http(self) -> str:
        """Base URL of the observability endpoint."""
        assert self.daemon.http is not None
        return self.daemon.http.url
