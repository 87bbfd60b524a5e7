"""What every part of the Store shares: the engine, its dialect, sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session


class StoreBase:
    """One engine (SQLite or PostgreSQL); the query classes of the Store build on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def ping(self) -> bool:
        """True when the database answers (for /readyz)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def _insert(self, model: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(model)

    @property
    def checkpoints(self) -> bool:
        """Whether this store has a write-ahead log to checkpoint (a SQLite file)."""
        return self.dialect == "sqlite" and self.shares_threads

    @property
    def shares_threads(self) -> bool:
        """Whether another thread may write through this store (an in-memory SQLite
        database is one connection of one thread)."""
        return not (self.dialect == "sqlite" and self.engine.url.database in (None, "", ":memory:"))
