"""The observability endpoint: /healthz, /readyz and /metrics on 127.0.0.1.

It runs in its own thread with the standard library's HTTP server, so a
scrape or a probe never waits behind the event loop's polling, and a stuck
event loop shows up as a stale heartbeat in /readyz instead of a hung probe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE

from aggregator.exceptions import AggregatorError

log = logging.getLogger("aggregator.daemon")

Clock = Callable[[], datetime]


@dataclass
class Readiness:
    """What /readyz checks: the database answers, the scheduler ticks, alerts flow,
    no alert channel is stuck.

    `ping` and `oldest_alert` hit the database from the HTTP thread (the engine
    is thread-safe); the heartbeat is a monotonic time the event loop writes.
    """

    ping: Callable[[], bool]
    oldest_alert: Callable[[], datetime | None]
    clock: Clock
    max_heartbeat_age: float
    max_alert_age: timedelta
    heartbeat: float | None = None
    monotonic: Callable[[], float] = field(default=time.monotonic)
    #: alert channels that are stuck (name -> what is wrong), from the delivery lanes
    stuck_channels: Callable[[], dict[str, str]] = field(default=dict)
    #: the feeds' state after the last cycle ("all 17 feeds failing: DNS"), for /healthz
    feeds: Any = None

    def beat(self) -> None:
        self.heartbeat = self.monotonic()

    def check(self) -> tuple[bool, dict[str, str]]:
        checks = {"database": self._database()}
        checks["scheduler"] = self._scheduler()
        checks["alerts"] = self._alerts() if checks["database"] == "ok" else "unknown"
        checks["channels"] = self._channels()
        return all(v == "ok" for v in checks.values()), checks

    def _channels(self) -> str:
        stuck = self.stuck_channels()
        if not stuck:
            return "ok"
        return "; ".join(f"{name} stuck: {why}" for name, why in sorted(stuck.items()))

    def _database(self) -> str:
        return "ok" if self.ping() else "unreachable"

    def _scheduler(self) -> str:
        if self.heartbeat is None:
            return "not started"
        age = self.monotonic() - self.heartbeat
        return "ok" if age <= self.max_heartbeat_age else f"no tick for {age:.0f}s"

    def _alerts(self) -> str:
        try:
            oldest = self.oldest_alert()
        except AggregatorError as e:  # a schema-less database is "not ready", not a crash
            return f"error: {type(e).__name__}"
        if oldest is None:
            return "ok"
        age = self.clock() - oldest
        return "ok" if age <= self.max_alert_age else f"oldest pending alert waits {age}"


class ObservabilityServer:
    """ThreadingHTTPServer serving the three endpoints; port 0 picks a free port."""

    def __init__(
        self, host: str, port: int, readiness: Readiness, metrics: Callable[[], bytes]
    ) -> None:
        self.readiness = readiness
        self.metrics = metrics
        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        # A short poll interval so shutdown() returns quickly (it waits for the loop to notice).
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="aggregator-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond(self, path: str, accept: str = "") -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        route, _, query = path.partition("?")
        if route == "/healthz":
            if "json" in accept or "format=json" in query:
                return self._health()
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if route == "/readyz":
            return self._ready()
        if route == "/metrics":
            return 200, CONTENT_TYPE, self.metrics()
        return 404, "text/plain; charset=utf-8", b"not found: try /healthz, /readyz, /metrics\n"

    def _health(self) -> tuple[int, str, bytes]:
        """Liveness (always 200) with what an operator asks next: are the feeds failing?"""
        feeds = self.readiness.feeds
        document = {"status": "ok", "feeds": feeds.as_json() if feeds is not None else None}
        return 200, "application/json", json.dumps(document, indent=1).encode() + b"\n"

    def _ready(self) -> tuple[int, str, bytes]:
        ok, checks = self.readiness.check()
        body = json.dumps({"ready": ok, "checks": checks}, indent=1).encode() + b"\n"
        return (200 if ok else 503), "application/json", body


def _handler(server: ObservabilityServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

        def do_GET(self) -> None:
            try:
                status, ctype, body = server.respond(self.path, self.headers.get("Accept") or "")
            except Exception:
                log.exception("observability endpoint failed on %s", self.path)
                status, ctype, body = 500, "text/plain", b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
