"""What the numbers were measured on: machine and versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    out = (p.stdout or p.stderr).strip().splitlines()
    return out[0] if out else "?"


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "?"
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "memory": mem,
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
    }


def versions() -> dict[str, str]:
    ours = _pkg("aggregator")
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "aggregator"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        if rev:
            ours += f" (git {rev}{', aggregator/ modified' if dirty else ''})"
    except (OSError, subprocess.TimeoutExpired):
        pass
    nb = _first_line(["newsboat", "--version"]) if shutil.which("newsboat") else "not installed"
    ng = _first_line(["nginx", "-v"]) if shutil.which("nginx") else "not installed"
    return {
        "python": platform.python_version(),
        "aggregator (ours)": ours,
        "feedparser": _pkg("feedparser"),
        "lxml / nh3 (fast parse path)": f"{_pkg('lxml')} / {_pkg('nh3')}",
        "fasttext-predict (language)": _pkg("fasttext-predict"),
        "httpx": _pkg("httpx"),
        "reader": _pkg("reader"),
        "newsboat": nb.replace("newsboat ", "").split(" - ")[0],
        "nginx (farm)": ng.replace("nginx version: ", ""),
        "aiohttp (farm check)": _pkg("aiohttp"),
        "SQLAlchemy": _pkg("SQLAlchemy"),
        "psycopg": _pkg("psycopg"),
    }
