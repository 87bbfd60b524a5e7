"""`aggregator reader-tokens list|revoke`: the reader apps logged in to the reader API.

Each ClientLogin makes one token (kept hashed); listing shows which app logged in and
when each token was last used, revoking logs apps out (they must log in again)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    open_aggregator,
    out,
)
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`reader-tokens list|revoke`."""
    p = sub.add_parser(
        "reader-tokens", help="reader apps logged in to the Google Reader API"
    ).add_subparsers(dest="sub", required=True)
    ls = p.add_parser("list", help="tokens, their user, app and last use")
    ls.add_argument("--user", help="only this web.users name")
    ls.add_argument("--all", action="store_true", help="revoked tokens too")
    ls.set_defaults(handler=tokens_list)
    rv = p.add_parser("revoke", help="log reader apps out")
    rv.add_argument("--user", help="every token of this web.users name")
    rv.add_argument("--id", type=int, help="one token, by the id `list` shows")
    rv.add_argument("--everyone", action="store_true", help="every token of every user")
    rv.set_defaults(handler=tokens_revoke)


def tokens_list(args: argparse.Namespace) -> int:
    with open_aggregator(args, extract_workers=0) as agg:
        tokens = agg.reader_tokens(args.user)
    shown = [t for t in tokens if args.all or t.revoked_at is None]
    if not shown:
        out("no reader app is logged in" if not args.all else "no tokens")
    for t in shown:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else f"used {used}"
        out(f"{t.id:>5}  {t.user:<20} {state:<24} {t.client or '(unknown app)'}")
    return 0


def tokens_revoke(args: argparse.Namespace) -> int:
    if not (args.user or args.id is not None or args.everyone):
        raise UsageError("say which tokens to revoke", hint="--user NAME, --id N or --everyone")
    with open_aggregator(args, extract_workers=0) as agg:
        n = agg.revoke_reader_tokens(user=args.user, token_id=args.id)
    out(f"revoked {n} token{'s' if n != 1 else ''}")
    return 0
