"""A webhook receiver on the loopback HTTP server, answering from a script.

``receiver.script(500, 500, 200)`` answers the next three POSTs with those
statuses (then 200 again); an entry may also be a full ``Response`` (for
Retry-After or Location headers). Every POST is kept in ``receiver.received``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from tests.support.httpserver import LoopbackServer, Request, Response


class WebhookReceiver:
    def __init__(self, server: LoopbackServer, path: str = "/hook") -> None:
        self.server = server
        self.path = path
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        server.handle(path, self._handle)

    @property
    def url(self) -> str:
        return self.server.url(self.path)

    def script(self, *answers: int | Response) -> None:
        with self._lock:
            self._script.extend(a if isinstance(a, Response) else Response(a, b"") for a in answers)

    @property
    def received(self) -> list[Request]:
        return [r for r in self.server.requests_for(self.path) if r.method == "POST"]

    def payloads(self) -> list[Any]:
        return [json.loads(r.body) for r in self.received]

    def _handle(self, request: Request) -> Response:
        with self._lock:
            return self._script.popleft() if self._script else Response(200, b"ok")
