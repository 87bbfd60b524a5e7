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

from sqlalchemy import Engine
from sqlmodel import col, select

from aggregator.exceptions import SchemaError, StorageError
from aggregator.storage.base import StoreBase
from aggregator.storage.models import InstallationRow

_known: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class InstallationQueries(StoreBase):
    """The installation row (part of :class:`~aggregator.storage.store.Store`)."""

    def installation_id(self) -> str:
        """This database's id (32 hex digits), stable for its lifetime."""
        with _lock:
            known = _known.get(self.engine)
            if known is None:
                known = _known[self.engine] = self._read_or_make_installation()
            return known

    def _read_or_make_installation(self) -> str:
        """Migration 0004 makes the row; a database whose row was deleted gets a new one."""
        try:
            with self.session() as s:
                q = select(InstallationRow).order_by(col(InstallationRow.created_at))
                row = s.exec(q).first()
                if row is not None:
                    return row.id
                made = InstallationRow(
                    id=uuid.uuid4().hex, created_at=datetime.now(UTC).replace(tzinfo=None)
                )
                s.add(made)
                s.commit()
                return made.id
        except StorageError as e:
            raise SchemaError(
                f"cannot read the installation id: {e}",
                hint="run `aggregator db upgrade` (the database predates migration 0004)",
            ) from e
