"""Engines and migrations: SQLite by default (WAL, busy timeout), PostgreSQL
with the same code (psycopg 3). Alembic migrations run on start and by
``aggregator db upgrade``; no alembic.ini is needed.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.exceptions import DatabaseUnavailableError, SchemaError, StorageError
from aggregator.storage.errors import translated
from aggregator.storage.schema import (
    DEFAULT_BUSY_TIMEOUT,
    MIGRATIONS,
    folder_not_file,
    head_revisions,
    require_existing,
    require_revisions,
    sqlite_pragmas,
)
from aggregator.urls import redact_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger("aggregator.storage")
_upgrade_lock = threading.Lock()


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine tuned per backend; errors become StorageError with a hint.

    `create=False` (read-only commands) never creates a SQLite file or its folder:
    a database that does not exist yet is reported as new instead.
    """
    where = redact(url)
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url, where, create=create)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise StorageError(
            f"cannot open database {where}: {e}", hint="check `database:` in feeds.yaml"
        ) from e


def _sqlite_engine(url: str, where: str, *, create: bool) -> Engine:
    parsed = make_url(url)
    path = parsed.database or ""
    timeout = float(parsed.query.get("timeout", DEFAULT_BUSY_TIMEOUT))  # type: ignore[arg-type]
    if path and path != ":memory:" and not path.startswith("file:"):
        if create:
            _make_folder(Path(path), where)
        else:
            require_existing(Path(path), where)
    engine = create_engine(
        parsed.difference_update_query(["timeout"]),
        connect_args={"timeout": timeout, "check_same_thread": False},
    )
    pragmas = partial(sqlite_pragmas, busy_ms=int(timeout * 1000), wal=create)
    event.listen(engine, "connect", pragmas)
    return engine


def _make_folder(db: Path, where: str) -> None:
    """The database's folder, created if missing; a path that cannot hold it is one
    clear error (a file where a folder should be, a dangling link, no permission)."""
    folder = db.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = (
            "a file or a broken link is in the way"
            if isinstance(e, (FileExistsError, NotADirectoryError))
            else e.strerror or type(e).__name__
        )
        raise DatabaseUnavailableError(
            f"cannot create the folder {folder} for database {where}: {why}",
            hint="point `database:` in feeds.yaml at a file in a folder you can write",
        ) from e
    if db.is_dir():
        raise folder_not_file(db, where)


def redact(url: str) -> str:
    """Hide a password in a database URL before printing it (see aggregator.urls)."""
    return redact_url(url)


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


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

            with translated(redact(engine.url.render_as_string(hide_password=False))):
                command.upgrade(alembic_config(engine), revision)
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


def require_current(engine: Engine) -> None:
    """Raise SchemaError unless the database is at this version's migration head.

    For read-only commands, which must neither create nor migrate a database: they
    say it is new, behind or newer, and how to fix it (one query, no Alembic import).
    """
    where = redact(engine.url.render_as_string(hide_password=False))
    try:
        with translated(where), engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
        stored: frozenset[str] = frozenset(str(r[0]) for r in rows)
    except SchemaError:  # no alembic_version table: no schema at all
        stored = frozenset()
    require_revisions(stored, where)


def has_tables(engine: Engine) -> bool:
    return inspect(engine).has_table("feed")
