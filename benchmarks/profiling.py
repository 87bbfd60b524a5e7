"""Sampling profiles of one phase at a time, summarised as hot-spot tables.

pyinstrument samples the thread that started it (plus asyncio tasks on it);
when the code under test works in other threads, py-spy (``--profiler py-spy``)
samples every thread of the worker process from outside.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = str(Path(__file__).resolve().parent.parent)


def _short(path: str) -> str:
    if path.startswith(REPO):
        return path[len(REPO) + 1 :]
    i = path.find("site-packages/")
    if i >= 0:
        return path[i + len("site-packages/") :]
    i = path.find("/lib/python3")
    if i >= 0:
        return path[i + 1 :].split("/", 1)[-1]
    return path


def summarise(stacks: dict[tuple[str, ...], float], total: float, top: int = 15) -> dict[str, Any]:
    """stacks: root-first tuple of 'func (file:line)' -> seconds."""
    self_t: dict[str, float] = defaultdict(float)
    cum_t: dict[str, float] = defaultdict(float)
    ours_cum: dict[str, float] = defaultdict(float)
    for stack, secs in stacks.items():
        if not stack:
            continue
        self_t[stack[-1]] += secs
        for fr in set(stack):
            cum_t[fr] += secs
            if "aggregator/" in fr and "benchmarks/" not in fr:
                ours_cum[fr] += secs

    def rows(d: dict[str, float]) -> list[tuple[str, float, float]]:
        return [
            (k, v, 100.0 * v / total if total else 0.0)
            for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]
        ]

    return {
        "total": total,
        "self": rows(self_t),
        "ours_cumulative": rows(ours_cum),
        "cumulative": rows({k: v for k, v in cum_t.items() if "benchmarks/" not in k}),
    }


def _pyspy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    return str(exe) if exe.exists() else "py-spy"


class PhaseProfiler:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.results: dict[str, Any] = {}
        self._p: Any = None
        self._out: str | None = None

    def start(self, phase: str) -> None:
        if self.kind == "pyinstrument":
            from pyinstrument import Profiler

            self._p = Profiler(interval=0.001)
            self._p.start()
        elif self.kind == "py-spy":
            fd, self._out = tempfile.mkstemp(prefix=f"pyspy-{phase}-", suffix=".txt")
            os.close(fd)
            self._p = subprocess.Popen(
                [
                    _pyspy(),
                    "record",
                    "--pid",
                    str(os.getpid()),
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--threads",
                    "--subprocesses",
                    "--output",
                    self._out,
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            import time

            time.sleep(0.5)  # let py-spy attach before the clock starts

    def stop(self, phase: str) -> None:
        if self.kind == "pyinstrument":
            self._p.stop()
            session = self._p.last_session
            stacks: dict[tuple[str, ...], float] = defaultdict(float)

            def walk(frame: Any, path: tuple[str, ...]) -> None:
                if frame is None:
                    return
                fn = frame.function or "?"
                if fn.startswith("["):  # pyinstrument's synthetic frames ([await], ...)
                    name = fn
                else:
                    name = f"{fn} ({_short(frame.file_path or '?')}:{frame.line_no})"
                here = path + (name,)
                real = [c for c in frame.children if c.function != "[self]"]
                own = frame.time - sum(c.time for c in real)
                if own > 0:
                    stacks[here] += own
                for ch in real:
                    walk(ch, here)

            walk(session.root_frame(), ())
            self.results[phase] = summarise(stacks, session.duration)
            text_path = Path(tempfile.gettempdir()) / f"aggbench-profile-{phase}.txt"
            text_path.write_text(self._p.output_text(unicode=True, color=False, show_all=False))
            self.results[phase]["text"] = str(text_path)
        elif self.kind == "py-spy":
            import signal

            self._p.send_signal(signal.SIGINT)
            try:
                _, err = self._p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self._p.kill()
                err = b""
            self.results[phase] = parse_pyspy_raw(self._out or "", 1 / 250)
            if not self.results[phase]["total"] and err:
                self.results[phase]["error"] = err.decode(errors="replace")[-500:]

    def save(self) -> dict[str, Any]:
        return self.results


def parse_pyspy_raw(path: str, interval: float) -> dict[str, Any]:
    stacks: dict[tuple[str, ...], float] = defaultdict(float)
    total = 0.0
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        # py-spy --threads puts "thread (0x...)" first; drop it, and idle frames
        frames = [
            f for f in frames if not f.startswith("thread (") and not f.startswith("process ")
        ]
        secs = int(n) * interval
        fr = []
        for f in frames:
            # 'func (path/file.py:123)'
            # aggregate by function: drop py-spy's current line number
            name, _, loc = f.partition(" (")
            loc = loc.rstrip(")").rsplit(":", 1)[0]
            fr.append(f"{name} ({_short(loc)})")
        stacks[tuple(fr)] += secs
        total += secs
    return summarise(stacks, total)


if __name__ == "__main__":
    print(parse_pyspy_raw(sys.argv[1], 1 / 250))
