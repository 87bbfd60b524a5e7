"""`aggregator web [--listen HOST:PORT]`: serve the desk alone (no polling).

`aggregator run` serves the same desk beside the daemon; this command is for a
desk in front of a database that other daemons fill, or for reading only."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    config_path,
)

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`web [--listen HOST:PORT]`."""
    p = sub.add_parser(
        "web",
        help="serve the desk in a browser (topic streams, stories, diffs, alerts)",
        description="Serve the web desk on web.listen (default 127.0.0.1:8788) until "
        "SIGINT/SIGTERM. Beyond loopback it needs web.users. It does not poll: "
        "`aggregator run` polls and serves the desk too.",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where to listen (default web.listen; port 0 picks a free port)",
    )
    p.set_defaults(handler=web_command)


def web_command(args: argparse.Namespace) -> int:
    from aggregator.core import make_aggregator
    from aggregator.web.serve import serve

    with make_aggregator(config_path(args), extract_workers=0) as agg:
        return serve(agg, args.listen)
