"""A cycle that outlasts the tick is said once, with its duration, and counted in /metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aggregator.core import make_aggregator
from aggregator.daemon.background import BackgroundDaemon
from aggregator.daemon.runner import Options
from tests.daemon.test_daemon_http import get, samples, wait_for
from tests.daemon.test_daemon_reload import RSS
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer


@pytest.mark.slow
def test_an_overrunning_cycle_is_logged_once_and_counted(
    http_server: LoopbackServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slow = http_server.route(
        "/slow.xml", RSS.format(n=1), content_type="application/rss+xml", delay=1.2
    )
    path = write_config(
        tmp_path, [{"name": "slow", "url": slow}], daemon={"tick": "0.2s", "http_port": 0}
    )
    caplog.set_level(logging.INFO, logger="aggregator.daemon")
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lambda _: None)) as d,
    ):
        wait_for(
            lambda: samples(get(d.http + "/metrics")[1]).get("aggregator_cycles_total", 0) >= 3,
            20,
            "the slow cycle and two quick ones after it",
        )
        m = samples(get(d.http + "/metrics")[1])
    overruns = [r for r in caplog.records if "longer than the tick" in r.getMessage()]
    assert len(overruns) == 1, [r.getMessage() for r in overruns]
    message = overruns[0].getMessage()
    assert overruns[0].levelno == logging.WARNING
    assert "cycle took 1." in message and "tick 0.2s" in message
    assert m["aggregator_cycle_overruns_total"] == 1
    assert 4 <= m["aggregator_ticks_missed_total"] <= 8  # 1.2 s of 0.2 s ticks
