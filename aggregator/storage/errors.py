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
from types import ModuleType

from aggregator.exceptions import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    IntegrityViolationError,
    SchemaError,
    StorageError,
)


def _sa_exc() -> ModuleType | None:
    """SQLAlchemy's exceptions module if SQLAlchemy is loaded: no SQLAlchemy error can
    exist before, and the read-only SQLite reads (`storage.light`) never load it."""
    return sys.modules.get("sqlalchemy.exc")


def database_errors() -> tuple[type[Exception], ...]:
    """What counts as a database error: SQLAlchemy's and the drivers' own. Each library's
    count once it is loaded (psycopg's when a PostgreSQL engine connects): importing them
    here would cost every SQLite command their load (~50 ms for psycopg)."""
    found: list[type[Exception]] = [sqlite3.Error]
    if (sa_exc := _sa_exc()) is not None:
        found.append(sa_exc.SQLAlchemyError)
    if (psycopg := sys.modules.get("psycopg")) is not None:
        found.append(psycopg.Error)
    return tuple(found)


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
    sa_exc = _sa_exc()
    integrity = (sqlite3.IntegrityError, *((sa_exc.IntegrityError,) if sa_exc else ()))
    unavailable = (sa_exc.OperationalError, sa_exc.InterfaceError) if sa_exc else ()
    if isinstance(e, integrity) or _is_pg_integrity(orig):
        return IntegrityViolationError(
            f"database constraint violated: {detail}",
            hint="this is a bug or a concurrent writer; the write was rolled back",
        )
    if isinstance(e, unavailable) or any(s in text for s in _UNREACHABLE):
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
