"""Engines and migrations: SQLite by default (WAL, busy timeout), PostgreSQL
with the same code (psycopg 3). Alembic migrations run on start and by
``aggregator db upgrade``; no alembic.ini is needed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError

from aggregator.exceptions import StorageError
from aggregator.storage.errors import DATABASE_ERRORS, translated
from aggregator.urls import redact_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_upgrade_lock = threading.Lock()


def make_engine(url: str) -> Engine:
    """An engine tuned per backend; errors become StorageError with a hint."""
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise StorageError(
            f"cannot open database {redact(url)}: {e}", hint="check `database:` in feeds.yaml"
        ) from e


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: Pages of write-ahead log after which a commit checkpoints it itself. Ingest
#: checkpoints beside its writer after each group commit (Store.checkpoint), so this
#: is the backstop for other writers: 16 MB rather than SQLite's 4 MB.
WAL_AUTOCHECKPOINT_PAGES = 4000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; busy_timeout waits instead of failing."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def redact(url: str) -> str:
    """Hide a password in a database URL before printing it (see aggregator.urls)."""
    return redact_url(url)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    with _upgrade_lock:
        try:
            command.upgrade(alembic_config(engine), revision)
        except DATABASE_ERRORS as e:
            raise StorageError(
                f"database migration failed: {e}",
                hint="check that the database is reachable and writable",
            ) from e


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with translated(redact(str(engine.url))), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_tables(engine: Engine) -> bool:
    return inspect(engine).has_table("feed")
