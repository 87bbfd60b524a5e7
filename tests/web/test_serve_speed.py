"""What the desk's server does for speed: no wait on the client's delayed ACK between a
response's headers and body, and the start-up heap out of the collector's full passes
(BENCHMARKS.md, scenario 8 and the reader API section, measured what each cost)."""

from __future__ import annotations

import gc
import http.client
import socket
import statistics
import time
from pathlib import Path

from aggregator import make_aggregator
from aggregator.web.serve import WebServer
from tests.support.config import write_config


def test_keep_alive_responses_do_not_wait_for_the_clients_ack(tmp_path: Path) -> None:
    """Linux delays an ACK by at least 40 ms; with Nagle's algorithm on, every response
    after the first on a keep-alive connection waited that long for its body."""
    cfg = write_config(tmp_path, [], database=f"sqlite:///{tmp_path / 'd.db'}")
    with make_aggregator(cfg, extract_workers=0) as agg, WebServer(agg, "127.0.0.1", 0) as web:
        assert web.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        took = []
        for _ in range(12):
            t0 = time.perf_counter()
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            assert r.status == 200 and r.read()
            took.append((time.perf_counter() - t0) * 1000)
        conn.close()
    assert statistics.median(took[1:]) < 35, took


def test_starting_the_server_freezes_the_start_up_heap(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [], database=f"sqlite:///{tmp_path / 'd.db'}")
    gc.unfreeze()
    try:
        with make_aggregator(cfg, extract_workers=0) as agg:
            assert gc.get_freeze_count() == 0
            with WebServer(agg, "127.0.0.1", 0):
                assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
