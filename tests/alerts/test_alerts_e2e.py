"""Alerts end to end on the real database: real SMTP (aiosmtpd), real webhook receiver,
real subprocesses killed with SIGKILL at the worst moments."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.cli.seedsite import article_page, load_seed, rss_feed
from tests.support.aggregators import AggFactory
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOPIC = {
    "name": "export-controls",
    "query": '(contrôle* NEAR/3 export* OR "export control*") AND (puce* OR Nvidia OR chip*)',
}


def _site(server: LoopbackServer, *feeds: str) -> None:
    seed = load_seed()
    page = server.url("/story.html")
    server.route("/story.html", article_page(seed, page))
    for name in feeds:
        server.route(
            f"/{name}.xml",
            rss_feed(seed, feed_url=server.url(f"/{name}.xml"), article_url=page),
            content_type="application/rss+xml",
        )


def _config(
    tmp_path: Path,
    server: LoopbackServer,
    smtp: SmtpServer,
    hook: str,
    feeds: tuple[str, ...] = ("wire",),
    **extra: Any,
) -> Path:
    alerts = [
        {
            "name": "desk-email",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "aggregator@example.org",
            "group_window": "0s",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
        },
        {
            "name": "desk-hook",
            "kind": "webhook",
            "url": hook,
            "secret": SECRET,
            "group_window": "0s",
        },
    ]
    return write_config(
        tmp_path,
        [{"name": n, "url": server.url(f"/{n}.xml"), "extract": True} for n in feeds],
        topics=[TOPIC],
        alerts=alerts,
        **extra,
    )


def _deliver(agg: Any) -> Any:
    async def go() -> Any:
        async with agg.running() as st:
            return await agg.deliver_due(st, worker="test")

    return asyncio.run(go())


@pytest.fixture
def smtp() -> Any:
    with SmtpServer() as server:
        yield server


def test_one_email_and_one_webhook_per_story(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, db_url: str, make_agg: AggFactory
) -> None:
    _site(http_server, "wire", "mirror")
    receiver = WebhookReceiver(http_server)
    cfg = _config(
        tmp_path, http_server, smtp, receiver.url, feeds=("wire", "mirror"), database=db_url
    )
    clock = Clock()
    with make_agg(cfg, clock=clock) as agg:
        agg.poll(["wire"])
        report = _deliver(agg)
        assert report.sent == 2, report.errors
        agg.poll()  # re-poll, and the second feed carrying the same story
        clock.now += timedelta(minutes=5)
        assert _deliver(agg).sent == 0
    with make_agg(cfg, clock=clock) as agg:  # restart
        agg.poll()
        assert _deliver(agg).sent == 0
        assert [a.status for a in agg.alerts()] == ["sent", "sent"]
    assert len(smtp.messages) == 1 and len(receiver.received) == 1
    msg = smtp.messages[0].message()
    assert msg["Subject"].startswith("[export-controls]")
    assert len(msg.get_all("Subject")) == 1
    from standardwebhooks.webhooks import Webhook

    req = receiver.received[0]
    Webhook(SECRET).verify(req.body, {k: v for k, v in req.headers.items()})
    body = receiver.payloads()[0]
    assert body["type"] == "article.matched"
    assert body["data"]["article"]["language"] == "fr"
    assert any("export" in s.lower() for s in body["data"]["article"]["snippets"])


def test_retries_then_dead_letter_then_replay(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    _site(http_server, "wire")
    receiver = WebhookReceiver(http_server)
    receiver.script(500, 500)
    smtp.script("451 4.3.0 try later")
    cfg = _config(tmp_path, http_server, smtp, receiver.url)
    clock = Clock()
    with make_agg(cfg, clock=clock) as agg:
        agg.poll()
        for _ in range(3):
            _deliver(agg)
            clock.now += timedelta(hours=2)
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert len(receiver.received) == 3 and len(ids) == 1
        assert len(smtp.messages) == 1 and smtp.attempts == 2
        assert {a.status for a in agg.alerts()} == {"sent"}
        # a receiver down past the retry window → dead, then `alerts retry` delivers it
        http_server.route(
            "/story2.html",
            article_page(
                load_seed(),
                http_server.url("/story2.html"),
                title="Nouvelles restrictions à l'exportation de puces",
            ),
        )
        http_server.route(
            "/wire.xml",
            rss_feed(
                load_seed(),
                feed_url=http_server.url("/wire.xml"),
                article_url=http_server.url("/story2.html"),
            ),
            content_type="application/rss+xml",
        )
        receiver.script(*([503] * 40))
        agg.poll()
        for _ in range(20):
            _deliver(agg)
            clock.now += timedelta(hours=3)
        dead = agg.alerts(status="dead")
        assert [a.channel for a in dead] == ["desk-hook"]
        assert dead[0].last_error
        receiver.script()  # receiver is back
        with receiver._lock:
            receiver._script.clear()
        assert agg.retry_alerts(None) == 1
        assert _deliver(agg).sent == 1
        assert agg.alerts(status="dead") == []


def test_smtp_550_is_dead_lettered_at_once(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    _site(http_server, "wire")
    receiver = WebhookReceiver(http_server)
    smtp.script("550 5.7.1 relaying denied")
    with make_agg(_config(tmp_path, http_server, smtp, receiver.url), clock=Clock()) as agg:
        agg.poll()
        report = _deliver(agg)
        assert report.dead == 1 and report.sent == 1
        assert [a.channel for a in agg.alerts(status="dead")] == ["desk-email"]


def _run_cli(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(cfg), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        assert time.monotonic() < deadline, "pause point never reached"
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.parametrize(
    "point,expect_resend", [("before-send", False), ("before-mark-sent", True)]
)
@pytest.mark.slow
def test_sigkill_never_loses_an_alert(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, point: str, expect_resend: bool
) -> None:
    _site(http_server, "wire")
    receiver = WebhookReceiver(http_server)
    cfg = _config(tmp_path, http_server, smtp, receiver.url, daemon={"lease": "2s"})
    marker = tmp_path / "paused"
    proc = _run_cli(cfg, "run", "--once", env={"AGGREGATOR_PAUSE_AT": f"{point}:{marker}"})
    _wait_for(marker, proc)
    _kill(proc)
    # before-send: nothing reached a receiver; before-mark-sent: one receiver accepted
    # (whichever channel answered first; the pause blocks the other)
    accepted = len(receiver.received) + len(smtp.messages)
    assert (accepted >= 1) if expect_resend else (accepted == 0)
    time.sleep(2.5)  # the dead worker's lease expires
    proc = _run_cli(cfg, "run", "--once")
    assert proc.wait(60) == 0, proc.communicate()
    assert len(receiver.received) >= 1 and len(smtp.messages) >= 1
    assert len(receiver.received) + len(smtp.messages) == 2 + accepted  # re-sent, never lost
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({m.message()["Message-ID"] for m in smtp.messages}) == 1


def test_hostile_titles_give_one_safe_email_and_valid_webhook(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    hostile = (
        "Nvidia \r\nBcc: x@y =?UTF-8?Q?=0ABcc:?= \u2028 \x00 <script>alert(1)</script>"
        " <img src=x onerror=alert(2)> contrôles à l'exportation"
    )
    seed = load_seed()
    page = http_server.url("/story.html")
    http_server.route("/story.html", article_page(seed, page, title=hostile))
    http_server.route(
        "/wire.xml",
        rss_feed(seed, feed_url=http_server.url("/wire.xml"), article_url=page),
        content_type="application/rss+xml",
    )
    receiver = WebhookReceiver(http_server)
    with make_agg(_config(tmp_path, http_server, smtp, receiver.url), clock=Clock()) as agg:
        agg.poll()
        assert _deliver(agg).sent == 2
    [received] = smtp.messages
    assert received.rcpt_tos == ("desk@example.org",)
    msg = received.message()
    assert len(msg.get_all("Subject")) == 1 and msg.get_all("Bcc") is None
    assert "\n" not in msg["Subject"] and "\u2028" not in msg["Subject"]
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img src=x" not in html
    from standardwebhooks.webhooks import Webhook

    req = receiver.received[0]
    Webhook(SECRET).verify(req.body, dict(req.headers))


def test_wire_copies_on_two_outlets_go_out_as_one_alert_in_hold_mode(
    http_server: LoopbackServer, smtp: SmtpServer, tmp_path: Path, make_agg: AggFactory
) -> None:
    """``group_mode: hold``: the first copy waits the window, the alert lists both outlets
    (the default, fold, is in test_group_window.py)."""
    seed = load_seed()
    for outlet in ("afp", "reuters"):
        page = http_server.url(f"/{outlet}/story.html")
        http_server.route(f"/{outlet}/story.html", article_page(seed, page))
        http_server.route(
            f"/{outlet}.xml",
            rss_feed(seed, feed_url=http_server.url(f"/{outlet}.xml"), article_url=page),
            content_type="application/rss+xml",
        )
    receiver = WebhookReceiver(http_server)
    alerts = [
        {
            "name": "desk-hook",
            "kind": "webhook",
            "url": receiver.url,
            "secret": SECRET,
            "group_window": "2m",
            "group_mode": "hold",
        }
    ]
    cfg = write_config(
        tmp_path,
        [
            {"name": n, "url": http_server.url(f"/{n}.xml"), "extract": True}
            for n in ("afp", "reuters")
        ],
        topics=[TOPIC],
        alerts=alerts,
    )
    clock = Clock()
    with make_agg(cfg, clock=clock) as agg:
        agg.poll(["afp"])
        clock.now += timedelta(seconds=50)
        agg.poll(["reuters"])
        assert len(agg.articles()) == 2  # two outlets, two URLs: two stored articles
        assert _deliver(agg).sent == 0  # held for the grouping window
        clock.now += timedelta(minutes=3)
        report = _deliver(agg)
        assert report.sent == 2, report.errors
    [body] = receiver.payloads()
    sources = {s["feed"] for s in body["data"]["article"]["sources"]}
    assert sources == {"afp", "reuters"}
