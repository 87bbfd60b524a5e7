"""The one translation of database errors into :class:`StorageError` subclasses.

SQLAlchemy wraps driver errors in its own classes, but the SQLite hot paths go
straight through the driver cursor (``storage.sql.cursor``), so sqlite3's and
psycopg's own errors arrive here too. Every session, connection and transaction
the Store opens goes through :func:`translated`; nothing above storage catches a
database library's exception.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

from aggregator.exceptions import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    IntegrityViolationError,
    SchemaError,
    StorageError,
)

#: What counts as a database error: SQLAlchemy's, and the drivers' own (psycopg's are
#: added by :func:`database_errors` once psycopg is loaded, see there).
DATABASE_ERRORS: tuple[type[Exception], ...] = (sa_exc.SQLAlchemyError, sqlite3.Error)


def database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's errors and the drivers' own. psycopg's count only once psycopg is
    imported, which a PostgreSQL engine does on connecting: no psycopg error can exist
    before, and importing it here would cost every SQLite command its load (~50 ms)."""
    psycopg = sys.modules.get("psycopg")
    return DATABASE_ERRORS if psycopg is None else (*DATABASE_ERRORS, psycopg.Error)


#: Substrings of driver messages that mean "try again shortly", per backend.
_BUSY = ("database is locked", "database table is locked", "could not serialize", "deadlock")
_NO_SCHEMA = ("no such table", "no such column")
_UNREACHABLE = ("unable to open", "connection refused", "could not connect", "connection failed")


@contextlib.contextmanager
def translated(where: str) -> Iterator[None]:
    """Re-raise any database error inside the block as a StorageError subclass;
    `where` names the database (its redacted URL) for the hint."""
    try:
        yield
    except StorageError:
        raise
    except database_errors() as e:
        raise storage_error(e, where) from e


def storage_error(e: BaseException, where: str) -> StorageError:
    """The StorageError subclass, message and fix-it hint for one database error."""
    orig = getattr(e, "orig", None) or e
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    text = detail.lower()
    if any(s in text for s in _BUSY):
        return DatabaseBusyError(
            f"database {where} busy: {detail}",
            hint=f"another program holds a lock on {where} past the busy timeout; try again, "
            "or stop that program (a ?timeout=N on a sqlite:/// URL waits longer)",
        )
    if any(s in text for s in _NO_SCHEMA) or (
        "does not exist" in text and ("relation" in text or "column" in text)
    ):
        return SchemaError(
            f"database {where}: schema is missing or old: {detail}",
            hint=f"run `aggregator db upgrade` against {where}",
        )
    if isinstance(e, (sa_exc.IntegrityError, sqlite3.IntegrityError)) or _is_pg_integrity(orig):
        return IntegrityViolationError(
            f"database constraint violated: {detail}",
            hint="this is a bug or a concurrent writer; the write was rolled back",
        )
    if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)) or any(
        s in text for s in _UNREACHABLE
    ):
        return DatabaseUnavailableError(
            f"database {where} unavailable: {detail}",
            hint=f"check that {where} is reachable, that its folder exists and is writable "
            "(`database:` in feeds.yaml)",
        )
    return StorageError(
        f"database {where}: {detail}", hint="see the message; `database:` in feeds.yaml"
    )


def _is_pg_integrity(e: BaseException) -> bool:
    return type(e).__name__.endswith("Violation") or type(e).__name__ == "IntegrityError"
