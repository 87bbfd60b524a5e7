"""Worker identity: who holds a lease, in logs and in the database."""

from __future__ import annotations

import os
import secrets
import socket

#: lease_owner columns are VARCHAR(100).
MAX_WORKER_ID = 100


def make_worker_id(hostname: str | None = None, pid: int | None = None) -> str:
    """hostname:pid:random — unique across restarts (a reused pid gets a new suffix),
    readable enough to tell which container or host holds a claim."""
    host = (hostname or socket.gethostname() or "host")[:60]
    return f"{host}:{pid if pid is not None else os.getpid()}:{secrets.token_hex(4)}"


def check_worker_id(worker: str) -> str:
    """A --worker-id from the command line must fit the lease columns."""
    if not worker or len(worker) > MAX_WORKER_ID:
        from aggregator.exceptions import UsageError

        raise UsageError(
            f"--worker-id must be 1 to {MAX_WORKER_ID} characters",
            hint="omit it to use hostname:pid:random",
        )
    return worker
