"""Every database error leaves storage as a StorageError subclass with a hint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aggregator.exceptions import (
    AggregatorError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    SchemaError,
)
from aggregator.storage.errors import storage_error
from aggregator.storage.store import Store


def test_missing_tables_say_to_upgrade_through_orm_and_driver_paths(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    try:
        with pytest.raises(SchemaError) as orm:
            store.feed_states()  # an ORM session
        assert "aggregator db upgrade" in (orm.value.hint or "")
        assert "empty.db" in (orm.value.hint or "")
        with pytest.raises(SchemaError):
            store.feed_entries(1, ["k"])  # straight through the sqlite3 cursor
        assert store.ping() is True  # the database answers; it only lacks tables
    finally:
        store.close()


def test_driver_errors_are_classified() -> None:
    busy = storage_error(sqlite3.OperationalError("database is locked"), "sqlite:///a.db")
    assert isinstance(busy, DatabaseBusyError) and "a.db" in (busy.hint or "")
    gone = storage_error(sqlite3.OperationalError("unable to open database file"), "x")
    assert isinstance(gone, DatabaseUnavailableError)
    assert isinstance(busy, AggregatorError)


def test_a_password_never_reaches_the_hint() -> None:
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://u:s3cret@127.0.0.1:1/db")
    store = Store(engine)
    try:
        assert "s3cret" not in store.where and "u:***@127.0.0.1" in store.where
        assert store.ping() is False  # nothing listens on port 1: not ready, no crash
    finally:
        store.close()
