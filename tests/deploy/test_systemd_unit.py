"""deploy/aggregator.service: it verifies, and its ExecStart works as its user (issue 14, #12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "aggregator.service"
ON_CI = os.environ.get("CI") == "true"


def _unit() -> dict[str, list[str]]:
    """Key -> values of the unit (systemd allows a key several times)."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def _aggregator_exe() -> str:
    exe = Path(sys.executable).with_name("aggregator")
    if not exe.exists():
        pytest.skip("the aggregator console script is not installed beside this Python")
    return str(exe)


def test_install_steps_and_keys_the_issue_asks_for() -> None:
    text = UNIT.read_text()
    unit = _unit()
    assert "sudo mkdir -p /etc/aggregator /var/lib/aggregator" in text
    assert unit["StateDirectory"] == ["aggregator"]
    assert unit["WorkingDirectory"] == ["/var/lib/aggregator"]
    assert "database: sqlite:////var/lib/aggregator/aggregator.db" in text


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if ON_CI:
            pytest.fail("systemd-analyze is missing on CI (.ci/run installs systemd)")
        pytest.skip("systemd-analyze is not installed")
    # the unit as installed, with ExecStart pointing at this checkout's command
    unit = tmp_path / "aggregator.service"
    unit.write_text(UNIT.read_text().replace("/opt/aggregator/bin/aggregator", _aggregator_exe()))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "aggregator.service" in line  # other units of the host may have their own warnings
    ]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr


def test_execstart_runs_as_the_units_user_in_a_temporary_root() -> None:
    """The install steps in a temporary root, then ExecStart (one cycle) as User=."""
    unit = _unit()
    [user] = unit["User"]
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to switch to the unit's user")
    if subprocess.run(["id", "-u", user], capture_output=True, check=False).returncode:
        pytest.skip(f"no {user!r} user on this machine (.ci/run creates it on CI)")
    exe, extra_env = _command_for(user)
    root = Path(tempfile.mkdtemp(prefix="aggregator-root-"))
    try:
        root.chmod(0o755)
        etc, state = root / "etc" / "aggregator", root / "var" / "lib" / "aggregator"
        etc.mkdir(parents=True)
        state.mkdir(parents=True)  # what StateDirectory= makes, owned by User=
        shutil.chown(state, user, user)
        shutil.chown(etc, user, user)
        bundled = (ROOT / "feeds.yaml").read_text()
        lines = [
            f"database: sqlite:///{state}/aggregator.db" if line.startswith("database:") else line
            for line in bundled.splitlines()
        ]
        (etc / "feeds.yaml").write_text("\n".join(lines) + "\n")
        shutil.chown(etc / "feeds.yaml", user, user)
        (etc / "feeds.yaml").chmod(0o640)
        env = {
            **extra_env,
            "PATH": "/usr/bin:/bin",
            "AGGREGATOR_CONFIG": unit["Environment"][0]
            .split("=", 1)[1]
            .replace("/etc/aggregator", str(etc)),
        }
        [exec_start] = unit["ExecStart"]
        command = exec_start.replace("/opt/aggregator/bin/aggregator", " ".join(exe)).split()
        done = subprocess.run(
            ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *command]
            + ["--once", "--http-port", "0", "--no-web"],
            cwd=str(state),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (state / "aggregator.db").exists()
        assert sorted(p.name for p in etc.iterdir()) == ["feeds.yaml"]  # nothing beside it
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _runs_as(user: str, command: list[str], env: dict[str, str]) -> bool:
    wrapped = ["env", *(f"{k}={v}" for k, v in env.items()), *command, "--version"]
    probe = subprocess.run(
        ["runuser", "-u", user, "--", *wrapped], capture_output=True, check=False
    )
    return probe.returncode == 0


def _command_for(user: str) -> tuple[list[str], dict[str, str]]:
    """How the unit's user runs this checkout: its console script, else the system Python.

    A checkout's interpreter often lives where the unit's user cannot read it (pyenv under
    /root, mode 700). The installed layout (/opt/aggregator) has no such problem, so the
    test then runs the same code with the system's Python of the same version, this
    checkout and its site-packages on PYTHONPATH, which is what ExecStart would run.
    """
    exe = _aggregator_exe()
    if _runs_as(user, [exe], {}):
        return [exe], {}
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    env = {"PYTHONPATH": ":".join([str(ROOT), *site])}
    command = [str(system), "-m", "aggregator"]
    if system.exists() and _runs_as(user, command, env):
        return command, env
    pytest.skip(f"{user!r} can run neither {exe} nor {system} on this checkout")
