"""The `db` commands: database maintenance."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    load,
    out,
)

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`db upgrade`."""
    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=db_upgrade)


def db_upgrade(args: argparse.Namespace) -> int:
    from aggregator.storage.db import current_revision, make_engine, redact, upgrade

    cfg = load(args)
    engine = make_engine(cfg.database_url())
    upgrade(engine)
    out(f"{redact(cfg.database_url())}: at revision {current_revision(engine)}")
    return 0
