"""The installation id: made once with the database, read once per engine.

Alert ids are derived from it (see ``aggregator.alerts.plan.stable_alert_id``),
which is what keeps a rebuilt database or a second install from reusing the
webhook-id and Message-ID of another one's alerts.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from aggregator.exceptions import StorageError
from aggregator.storage.models import InstallationRow


class HasEngine(Protocol):
    @property
    def engine(self) -> Engine: ...


_known: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def installation_id(store: HasEngine) -> str:
    """This database's id (32 hex digits), stable for its lifetime."""
    engine = store.engine
    with _lock:
        known = _known.get(engine)
        if known is None:
            known = _known[engine] = _read_or_make(engine)
        return known


def _read_or_make(engine: Engine) -> str:
    """Migration 0004 makes the row; a database whose row was deleted gets a new one."""
    try:
        with Session(engine) as s:
            row = s.exec(select(InstallationRow).order_by(col(InstallationRow.created_at))).first()
            if row is not None:
                return row.id
            made = InstallationRow(
                id=uuid.uuid4().hex, created_at=datetime.now(UTC).replace(tzinfo=None)
            )
            s.add(made)
            s.commit()
            return made.id
    except SQLAlchemyError as e:
        raise StorageError(
            f"cannot read the installation id: {e}",
            hint="run `aggregator db upgrade` (the database predates migration 0004)",
        ) from e
