"""What a database's schema must be, without SQLAlchemy or Alembic: the migration head
read from the migration files, the verdict on a database's stored revision, and the
checks of a SQLite path that must not be created.

`storage.db` (engines, migrations) and the read-only SQLite reads (`storage.light`) share
them, so both say the same thing about a new, behind or newer database; importing
neither library keeps a read-only command's start-up short (issue 14, point 10).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from aggregator.exceptions import DatabaseUnavailableError, SchemaError

_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Seconds a SQLite statement waits for another program's lock before failing; a
#: `?timeout=N` on the URL (sqlite:///agg.db?timeout=5) sets it.
DEFAULT_BUSY_TIMEOUT = 30.0

#: Pages of write-ahead log after which a commit checkpoints it itself. Ingest
#: checkpoints beside its writer after each group commit (Store.checkpoint), so this
#: is the backstop for other writers: 16 MB rather than SQLite's 4 MB.
WAL_AUTOCHECKPOINT_PAGES = 4000


@cache
def revision_graph() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision, every revision some other one builds on), read from the
    migration files without importing Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        if (rev := _REVISION.search(source)) is None:
            continue
        revisions.add(rev.group(1))
        if (down := _DOWN.search(source)) is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions), frozenset(parents)


def head_revisions() -> frozenset[str]:
    """The newest migration(s), read from the migration files without importing Alembic.

    Importing Alembic costs more than a read-only command's whole work; a database
    already at the head needs one query (see `storage.db.upgrade`), not Alembic.
    """
    revisions, parents = revision_graph()
    return revisions - parents


def require_revisions(stored: Iterable[str], where: str) -> None:
    """Raise SchemaError unless `stored` (the rows of alembic_version; none for a
    database without schema) is this version's migration head; the message says whether
    the database is new, behind or newer, and how to fix it."""
    heads = head_revisions()
    found = frozenset(stored)
    if found == heads:
        return
    if not found:
        raise SchemaError(
            f"database {where} is new: it has no tables yet, nothing stored",
            hint="create it with `aggregator db upgrade`",
        )
    at = ", ".join(sorted(found))
    if found <= revision_graph()[0]:
        raise SchemaError(
            f"database {where} is behind: at revision {at}, this version needs "
            f"{', '.join(sorted(heads))}",
            hint="upgrade it with `aggregator db upgrade` (back it up first if you like)",
        )
    raise SchemaError(
        f"database {where} is at revision {at}, newer than this version knows",
        hint="upgrade aggregator, or point `database:` at a database of this version",
    )


def require_existing(db: Path, where: str) -> None:
    """A SQLite file a read-only command may open: it exists and is a file (nothing is
    created for it, not even its folder)."""
    if db.is_dir():
        raise folder_not_file(db, where)
    if not db.exists():
        raise SchemaError(
            f"database {where} does not exist yet: a new database, nothing stored",
            hint="create it with `aggregator db upgrade` (`aggregator poll` and "
            "`aggregator run` create it too)",
        )


def folder_not_file(db: Path, where: str) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        f"cannot open database {where}: {db} is a folder, not a file",
        hint="point `database:` in feeds.yaml at a file, e.g. sqlite:///aggregator.db",
    )


def sqlite_pragmas(dbapi_conn: Any, _record: Any = None, *, busy_ms: int, wal: bool = True) -> None:
    """WAL lets readers run beside the writer; busy_timeout waits instead of failing.

    A read-only opening (`wal=False`) does not switch the journal mode: on a file that
    is not a database yet that would write its first page. (WAL is a property of the
    file: one writer set it for every later reader.)
    """
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")  # first: WAL itself may need the lock
    if wal:
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
