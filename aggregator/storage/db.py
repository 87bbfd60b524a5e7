"""Engines and migrations: SQLite by default (WAL, busy timeout), PostgreSQL
with the same code (psycopg 3). Alembic migrations run on start and by
``aggregator db upgrade``; no alembic.ini is needed.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.exceptions import StorageError
from aggregator.storage.errors import DATABASE_ERRORS, translated
from aggregator.urls import redact_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger("aggregator.storage")
_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")

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
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@cache
def head_revisions() -> frozenset[str]:
    """The newest migration(s), read from the migration files without importing Alembic.

    Importing Alembic costs more than a read-only command's whole work; a database
    already at the head needs one query (see :func:`upgrade`), not Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        if (rev := _REVISION.search(source)) is None:
            continue
        revisions.add(rev.group(1))
        if (down := _DOWN.search(source)) is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions - parents)


def stored_revisions(engine: Engine) -> frozenset[str] | None:
    """The revision(s) the database is at, in one query; None for a database without schema."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except SQLAlchemyError:
        return None  # no alembic_version table yet (or unreadable: the upgrade will say)
    return frozenset(str(r[0]) for r in rows)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent).

    Quiet when there is nothing to do (one query, no Alembic import); when migrations
    do run, Alembic's own INFO lines are held back and one line says what happened.
    """
    with _upgrade_lock:
        before = stored_revisions(engine)
        if revision == "head" and before == head_revisions():
            return
        alembic_log = logging.getLogger("alembic")
        level = alembic_log.level
        alembic_log.setLevel(logging.WARNING)
        try:
            from alembic import command

            command.upgrade(alembic_config(engine), revision)
        except DATABASE_ERRORS as e:
            raise StorageError(
                f"database migration failed: {e}",
                hint="check that the database is reachable and writable",
            ) from e
        finally:
            alembic_log.setLevel(level)
        after = stored_revisions(engine)
        if after != before:
            was = ", ".join(sorted(before)) if before else "empty"
            log.info(
                "database %s migrated: %s -> %s",
                redact(str(engine.url)),
                was,
                ", ".join(sorted(after or ())),
            )


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with translated(redact(str(engine.url))), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_tables(engine: Engine) -> bool:
    return inspect(engine).has_table("feed")
