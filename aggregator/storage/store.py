"""The Store: the one object through which everything reaches the database.

Every method is one short transaction. Writes that must be atomic together (an
article, its version, its feed link, its matches and the alerts they cause) go
through one call, so the outbox is transactional. The queries live in one module
per concern (`feeds`, `ingest`, `reads`), each a class over the same engine that
the Store combines; rows never leave storage, everything returned is a record.
"""

from __future__ import annotations

from functools import cached_property

from aggregator.storage import db
from aggregator.storage.desk import DeskQueries
from aggregator.storage.feeds import FeedQueries
from aggregator.storage.ingest import AlertFactory, IngestWrites
from aggregator.storage.models import ChangeRow, SiteBoilerplateRow
from aggregator.storage.reads import ReadQueries
from aggregator.storage.records import CheckTarget
from aggregator.storage.sql import FtsDoc, fts_body, search_text, signed64, unsigned64


class Store(FeedQueries, IngestWrites, ReadQueries):
    """Repository over one engine (SQLite or PostgreSQL)."""

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        engine = db.make_engine(url)
        if migrate:
            db.upgrade(engine)
        return cls(engine)

    @cached_property
    def desk(self) -> DeskQueries:
        """The desk's streams, per-user triage state and web secret (storage/desk.py)."""
        return DeskQueries(self.engine)


__all__ = [
    "AlertFactory",
    "ChangeRow",
    "CheckTarget",
    "DeskQueries",
    "FtsDoc",
    "SiteBoilerplateRow",
    "Store",
    "fts_body",
    "search_text",
    "signed64",
    "unsigned64",
]
