"""`aggregator run` serves the desk beside the daemon; `aggregator web` serves it alone;
both refuse a desk open beyond loopback without users (exit 2, with a hint)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aggregator.core import make_aggregator
from aggregator.daemon.background import BackgroundDaemon
from aggregator.daemon.runner import Options
from aggregator.exceptions import ConfigError
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.web.conftest import TOPIC, site

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.communicate()}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_serves_the_desk_beside_the_daemon(http_server: LoopbackServer, tmp_path: Path) -> None:
    from aggregator.cli.seedsite import load_seed

    site(http_server, load_seed())
    path = write_config(
        tmp_path,
        [{"name": "eulerpool", "url": http_server.url("/feed.xml"), "extract": True}],
        topics=[TOPIC],
        daemon={"tick": "0.2s", "http_port": 0},
    )
    lines: list[str] = []
    with (
        make_aggregator(path, extract_workers=0) as agg,
        BackgroundDaemon(agg, Options(announce=lines.append)) as d,
    ):
        desk = d.daemon.web
        assert desk is not None and any(f"the desk on {desk.url}/" in x for x in lines)
        deadline = time.monotonic() + 15
        while "/items/" not in (page := httpx.get(desk.url + "/").text):
            assert time.monotonic() < deadline, "the daemon's first poll never reached the desk"
            time.sleep(0.1)
        assert "Trump rencontre le PDG de Nvidia" in page
        assert httpx.get(d.http + "/healthz").text == "ok\n"  # the contract is kept
        assert httpx.get(d.http + "/readyz").status_code == 200
        assert httpx.get(desk.url + "/alerts").status_code == 200
    with pytest.raises(httpx.ConnectError):  # stopped with the daemon
        httpx.get(desk.url + "/", timeout=2)


@pytest.mark.slow
def test_run_refuses_an_open_desk_beyond_loopback(tmp_path: Path) -> None:
    path = write_config(tmp_path, [], daemon={"http_port": 0}, web={"listen": "0.0.0.0:0"})
    with make_aggregator(path, extract_workers=0) as agg:
        with pytest.raises(ConfigError) as e:
            BackgroundDaemon(agg, Options(announce=lambda _: None)).start()
        assert "web.users" in str(e.value)
    proc = cli("--config", str(path), "run", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "error: web.listen is 0.0.0.0:0" in err and "hint:" in err
    assert "Traceback" not in err
    off = cli("--config", str(path), "run", "--no-web", "--once", cwd=tmp_path)
    assert off.wait(timeout=60) == 0


@pytest.mark.slow
def test_web_command_serves_alone_and_refuses_when_open(tmp_path: Path) -> None:
    path = write_config(tmp_path, [], topics=[TOPIC])
    port = free_port()
    proc = cli("--config", str(path), "web", "--listen", f"127.0.0.1:{port}", cwd=tmp_path)
    try:
        r = wait_until(f"http://127.0.0.1:{port}/topics/export-controls", proc)
        assert r.status_code == 200 and "export-controls" in r.text
        assert "content-security-policy" in r.headers
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"the desk on http://127.0.0.1:{port}/" in out
    assert "no login: loopback only" in out
    refused = cli("--config", str(path), "web", "--listen", "0.0.0.0:0", cwd=tmp_path)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "web.users" in err and "hint:" in err
    bad = cli("--config", str(path), "web", "--listen", "localhost", cwd=tmp_path)
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "HOST:PORT" in err


def test_web_config_is_validated(tmp_path: Path) -> None:
    from aggregator.config import load_config

    bad = write_config(tmp_path, [], web={"listen": "nowhere"})
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert "web.listen" in str(e.value) and "HOST:PORT" in str(e.value)
    bad = write_config(tmp_path, [], web={"usres": []})
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert "did you mean 'users'" in (e.value.hint or "")
    bad = write_config(tmp_path, [], web={"users": [{"name": "a", "password": "${NOPE_PW}"}]})
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert "NOPE_PW" in str(e.value)
    ok = write_config(
        tmp_path,
        [],
        web={
            "base_url": "https://desk.example.org/",
            "users": [{"name": "desk", "password": "s3cr3t-pw"}],
        },
    )
    cfg = load_config(ok)
    assert cfg.web.base_url == "https://desk.example.org" and cfg.web.port == 8788
    assert "s3cr3t-pw" not in repr(cfg.web)  # passwords stay out of reprs and logs
