"""One daemon per SQLite database: an exclusive lock file next to it.

SQLite has no row locks to share work safely between processes (and SKIP
LOCKED does not exist there), so a second `aggregator run` on the same file
must refuse to start rather than poll every feed twice. ``fcntl.flock`` is
released by the kernel when the process dies, even on SIGKILL, so a crash
never leaves a stale lock behind.

The lock belongs to the database, not to the path it was named by: the path is
resolved (symlinks, ``..``) before ``.lock`` is appended, so ``/srv/agg.db`` and a
symlink to it are one lock. (Two hard links to one file in different folders
are still two paths; nothing short of locking the file itself would see that,
and SQLite's own POSIX locks forbid us from doing so safely on network file
systems.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from aggregator.exceptions import AggregatorError


class DaemonLockedError(AggregatorError):
    """Another daemon holds the database's lock. Exit code 1."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (None for PostgreSQL or :memory:)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def lock_path(db: Path) -> Path:
    """`<db>.lock` beside the file the path leads to, whichever way it is written."""
    real = Path(os.path.realpath(db))
    return real.with_name(real.name + ".lock")


class DaemonLock:
    """Hold an exclusive flock on `<db>.lock` for the daemon's lifetime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise AggregatorError(
                f"cannot create the daemon lock {self.path}: {e.strerror or type(e).__name__}",
                hint="the lock sits beside the SQLite database: point `database:` in "
                "feeds.yaml at a file in a folder you can write",
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise self._refusal(holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def _refusal(self, holder: str) -> DaemonLockedError:
        db = self.path.with_name(self.path.name.removesuffix(".lock"))
        who = f" (pid {holder})" if holder else ""
        return DaemonLockedError(
            f"another aggregator daemon{who} is already running on {db}",
            hint="one daemon per SQLite database: stop the other one first, or use "
            "PostgreSQL (database: postgresql+psycopg://...) to run several workers",
        )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""


class NoLock:
    """PostgreSQL: leases share the work, any number of daemons may run."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def daemon_lock(database_url: str) -> DaemonLock | NoLock:
    db = sqlite_file(database_url)
    return DaemonLock(lock_path(db)) if db is not None else NoLock()
