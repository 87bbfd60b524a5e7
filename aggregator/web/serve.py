"""Serving the desk with uvicorn: alone (`aggregator web`) or beside the daemon.

Beside the daemon it runs in a thread with its own event loop, like the
observability endpoint: a page view never waits behind a poll, and a poll never
waits behind a page view. Uvicorn's access log is off: Atom feed URLs carry
their secret token in the query string, and logs travel further than the desk.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import uvicorn

from aggregator.config.models import split_listen
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.web.app import check_exposure, create_app

if TYPE_CHECKING:
    from aggregator.core import Aggregator

log = logging.getLogger("aggregator.web")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def listen_address(agg: Aggregator, listen: str | None = None) -> tuple[str, int]:
    """(host, port) from --listen or web.listen, refusing beyond loopback without users."""
    web = agg.config.web
    if listen is not None:
        try:
            split_listen(listen)
        except ValueError as e:
            raise ConfigError(f"--listen: {e}", hint="e.g. --listen 127.0.0.1:8788") from None
        web = web.model_copy(update={"listen": listen})
    check_exposure(web)
    return web.host, web.port


def uvicorn_config(agg: Aggregator, host: str, port: int, *, daemon: bool) -> uvicorn.Config:
    app = create_app(agg, daemon=daemon)
    base = agg.config.web.base_url
    root = urlsplit(base).path.rstrip("/") if base else ""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        root_path=root,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )


def _bind(host: str, port: int) -> socket.socket:
    """Bind now, so a port in use is an error at start-up with a hint, not a log line.

    The socket says it is TCP (asyncio turns Nagle's algorithm off only on sockets whose
    proto is IPPROTO_TCP, and accepted connections inherit the listener's) and has
    TCP_NODELAY itself: with Nagle on, a response written as headers then body waited
    for the client's delayed ACK, 40 ms on every page after the first on a keep-alive
    connection (a story page took 55 ms instead of 12)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise AggregatorError(
            f"cannot listen on {host}:{port}: {e.strerror}",
            hint="set web.listen in feeds.yaml (or pass --listen HOST:PORT); "
            "port 0 picks a free one",
        ) from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def freeze_heap() -> None:
    """Leave the objects alive at start-up (configuration, topics, models, compiled
    queries: 140,000 in a daemon with 1,000 feeds) out of the garbage collector's full
    passes. A page of 1,000 reader-API items allocates enough to start one every few
    requests, and walking every start-up object took 200 ms of such a request: the
    p95 of stream/contents at 1M stories was the collector's, not the queries'.
    Only cyclic garbage among the frozen objects is never reclaimed (start-up objects
    live as long as the process anyway); everything allocated later is collected."""
    gc.collect()
    gc.freeze()


class WebServer:
    """The desk on uvicorn in a background thread; `url` is where it answers."""

    def __init__(self, agg: Aggregator, host: str, port: int, *, daemon: bool = False) -> None:
        self.sock = _bind(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn_config(agg, host, self.port, daemon=daemon))
        self.thread = threading.Thread(target=self._run, name="aggregator-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except Exception:  # noqa: BLE001 - logged; the daemon keeps polling without its desk
            log.exception("the web desk stopped")

    def start(self, timeout: float = 10.0) -> WebServer:
        freeze_heap()
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise AggregatorError(
                    "the web desk did not start in time", hint="see the log for uvicorn's error"
                )
            time.sleep(0.02)
        return self

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve(
    agg: Aggregator,
    listen: str | None = None,
    announce: Callable[[str], None] = lambda line: print(line, flush=True),
) -> int:
    """`aggregator web`: serve the desk in the foreground; SIGINT/SIGTERM stop it (exit 0).

    The server runs in its thread as beside the daemon; this thread only waits for the
    signal, so a stop is always clean (uvicorn's own handlers would re-raise it).
    """
    host, port = listen_address(agg, listen)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        with WebServer(agg, host, port) as web:
            announce(
                f"aggregator web: the desk on {web.url}/"
                + ("" if agg.config.web.users else " (no login: loopback only)")
            )
            while not stop.wait(0.5):
                if not web.thread.is_alive():
                    raise AggregatorError("the web desk stopped", hint="see the log above")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
