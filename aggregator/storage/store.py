"""The Store: the one object through which everything reaches the database.

Every method is one short transaction. Writes that must be atomic together (an
article, its version, its feed link, its matches and the alerts they cause) go
through one call, so the outbox is transactional. The queries live in one module
per concern (`feeds`, `ingest`, `reads`, `checks`, `outbox`, `daemon_queries`),
each a class over the same engine that the Store combines; every database error
becomes a StorageError subclass in one place (`storage.errors`, through
`StoreBase.session/connect/begin`); rows never leave storage, everything returned
is a record.
"""

from __future__ import annotations

from functools import cached_property

from aggregator.storage import db
from aggregator.storage.checks import CheckQueries, NewVersion
from aggregator.storage.daemon_queries import DaemonQueries
from aggregator.storage.desk import DeskQueries
from aggregator.storage.feeds import FeedQueries
from aggregator.storage.ingest import AlertFactory, IngestWrites
from aggregator.storage.installation import InstallationQueries
from aggregator.storage.models import ChangeRow, SiteBoilerplateRow
from aggregator.storage.outbox import OutboxQueries
from aggregator.storage.reader_api import ReaderApiQueries
from aggregator.storage.reads import ReadQueries
from aggregator.storage.records import CheckTarget
from aggregator.storage.sql import FtsDoc, fts_body, search_text, signed64, unsigned64
from aggregator.types import COOL_DOWN_STATUSES, QueueDepths


class Store(
    FeedQueries,
    IngestWrites,
    ReadQueries,
    CheckQueries,
    OutboxQueries,
    DaemonQueries,
    InstallationQueries,
):
    """Repository over one engine (SQLite or PostgreSQL): the only way into the database.

    One query class per concern, each in its own module over the shared
    :class:`~aggregator.storage.base.StoreBase`. A new concern attaches in one of
    two ways: one more ``StoreBase`` subclass among these bases (its methods become
    the Store's), or, for a namespace of its own, a cached property returning a
    query object over the same engine (``store.desk``).
    """

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, readonly: bool = False) -> Store:
        """The store of `url`, migrated to this version unless `migrate=False`.

        `readonly` is for commands that only show: the database is neither created
        nor migrated; if it is new, behind or newer, SchemaError says so and how to fix it.
        """
        engine = db.make_engine(url, create=not readonly)
        try:
            if readonly:
                db.require_current(engine)
            elif migrate:
                db.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @cached_property
    def desk(self) -> DeskQueries:
        """The desk's streams, per-user triage state and web secret (storage/desk.py)."""
        return DeskQueries(self.engine)

    @cached_property
    def reader_api(self) -> ReaderApiQueries:
        """The reader API's login tokens and item details
        (storage/reader_api.py)."""
        return ReaderApiQueries(self.engine)


__all__ = [
    "COOL_DOWN_STATUSES",
    "AlertFactory",
    "NewVersion",
    "QueueDepths",
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
