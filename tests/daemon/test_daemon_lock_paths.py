"""One daemon per SQLite database, whatever path leads to it (symlinks, '..', relative)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.daemon.lock import DaemonLockedError, daemon_lock
from tests.daemon.test_daemon_signals import GRACE, START_TIMEOUT, daemon_config, procs, spawn
from tests.support.httpserver import LoopbackServer

__all__ = ["procs"]  # the fixture, used by name below
ROOT = Path(__file__).resolve().parents[2]

HOLD = (
    "import sys, time; from aggregator.daemon.lock import daemon_lock; "
    "lock = daemon_lock(sys.argv[1]); lock.__enter__(); print('held', flush=True); time.sleep(60)"
)


def hold(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("via", ["symlinked-file", "symlinked-folder", "dotdot"])
def test_another_process_holding_the_lock_by_another_path_is_seen(tmp_path: Path, via: str) -> None:
    real = tmp_path / "data"
    real.mkdir()
    (real / "agg.db").touch()
    if via == "symlinked-file":
        (tmp_path / "link.db").symlink_to(real / "agg.db")
        other = tmp_path / "link.db"
    elif via == "symlinked-folder":
        (tmp_path / "alias").symlink_to(real)
        other = tmp_path / "alias" / "agg.db"
    else:
        other = real / ".." / "data" / "agg.db"
    holder = hold(f"sqlite:///{other}")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DaemonLockedError) as refused, daemon_lock(f"sqlite:///{real}/agg.db"):
            pass
        assert f"(pid {holder.pid})" in refused.value.message
        assert str((real / "agg.db").resolve()) in refused.value.message  # not the link
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_two_daemons_on_one_database_through_a_symlink(
    http_server: LoopbackServer, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first_cfg = daemon_config(first_dir, http_server)  # database: sqlite:///test.db in a/
    (second_dir / "test.db").symlink_to(first_dir / "test.db")
    second_cfg = daemon_config(second_dir, http_server)
    text = second_cfg.read_text().replace(
        "sqlite:///test.db",
        f"sqlite:///{second_dir / 'test.db'}",  # absolute: b/test.db -> a/
    )
    second_cfg.write_text(text)
    first = spawn(first_cfg, log=tmp_path / "first.log")
    procs.append(first)
    assert first.stdout is not None
    assert "/healthz" in first.stdout.readline()
    second = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(second_cfg), "run", "--once"],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"(pid {first.pid})" in second.stderr
    assert str((first_dir / "test.db").resolve()) in second.stderr
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=GRACE + 10) == 0
