"""A real HTTP server on 127.0.0.1 for tests: static routes, handlers, misbehaviour.

Every test that needs feeds or pages serves them here, so the code under test
goes through real sockets, real headers and real (mis)behaviour.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    trickle: float = 0.0  # if > 0: send the body one byte per `trickle` seconds


Handler = Callable[[Request], Response]


def validated(
    body: bytes,
    *,
    etag: str = '"v1"',
    last_modified: str | None = None,
    content_type: str = "application/rss+xml",
) -> Handler:
    """A handler that honours If-None-Match / If-Modified-Since with a 304."""
    lm = last_modified or "Mon, 03 Feb 2025 12:36:00 GMT"

    def handle(req: Request) -> Response:
        inm = req.headers.get("if-none-match")
        ims = req.headers.get("if-modified-since")
        if inm == etag or (inm is None and ims == lm):
            return Response(304, b"", {"ETag": etag, "Last-Modified": lm})
        return Response(
            200, body, {"Content-Type": content_type, "ETag": etag, "Last-Modified": lm}
        )

    return handle


def gzip_bomb(uncompressed_mb: int = 200) -> bytes:
    """A small gzip body that expands to `uncompressed_mb` MB of zeros."""
    chunk = b"\0" * (1024 * 1024)
    comp = gzip.compress(b"", compresslevel=9)
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [co.compress(chunk) for _ in range(uncompressed_mb)]
    parts.append(co.flush())
    del comp
    return b"".join(parts)


class LoopbackServer:
    """Threaded HTTP/1.1 server; routes may be changed while it runs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with server._lock:
                    server.requests.append(req)
                handler = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                resp = handler(req) if handler else Response(404, b"not found")
                server._write(self, resp)

            do_GET = do_POST = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer((host, 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _write(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        try:
            if resp.delay:
                time.sleep(resp.delay)
            h.send_response(resp.status)
            headers = {"Content-Length": str(len(resp.body)), **resp.headers}
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            if h.command == "HEAD":
                return
            if resp.trickle:
                for i in range(len(resp.body)):
                    h.wfile.write(resp.body[i : i + 1])
                    h.wfile.flush()
                    time.sleep(resp.trickle)
            else:
                h.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        **kw: float,
    ) -> str:
        """Serve a fixed response at `path`; returns its absolute URL."""
        data = body.encode() if isinstance(body, str) else body
        hdrs = {"Content-Type": content_type, **(headers or {})}
        self.routes[path] = lambda req: Response(status, data, dict(hdrs), **kw)
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
