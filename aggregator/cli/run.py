"""`aggregator run [--once] [--worker-id ID] [--http-port N]`.

The daemon's modules load only when the command runs, so other commands do not pay
for APScheduler."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli.common import (
    Subcommands,
    config_path,
)

if TYPE_CHECKING:
    pass


def register(sub: Subcommands) -> None:
    """`run [--once] ...`."""
    p = sub.add_parser(
        "run",
        help="run the daemon: poll, re-check and alert as things fall due",
        description="Run until SIGTERM/SIGINT (exit 0), or one cycle with --once. "
        "Serves /healthz, /readyz and /metrics on daemon.http_host.",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="run one cycle of everything that is due, then exit (for cron)",
    )
    p.add_argument(
        "--worker-id",
        metavar="ID",
        help="name of this worker in leases and logs (default hostname:pid:random)",
    )
    p.add_argument(
        "--http-port",
        type=int,
        metavar="N",
        help="port of the observability endpoint (default daemon.http_port; "
        "0 = any free port, printed at start)",
    )
    p.add_argument(
        "--web-listen",
        metavar="HOST:PORT",
        help="where the desk listens (default web.listen, 127.0.0.1:8788)",
    )
    p.add_argument(
        "--no-web", action="store_true", help="do not serve the desk (also: web.enabled: false)"
    )
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from aggregator.daemon.runner import Options, run

    code = run(
        config_path(args),
        Options(
            once=args.once,
            worker=args.worker_id,
            http_port=args.http_port,
            web=not args.no_web,
            web_listen=args.web_listen,
        ),
    )
    if is_the_aggregator_program():
        exit_now(code)
    return code


def is_the_aggregator_program() -> bool:
    """This process is `aggregator` / `python -m aggregator`, not a host calling cli.main()."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "aggregator" or (
        argv0.name == "__main__.py" and argv0.parent.name == "aggregator"
    )


def exit_now(code: int) -> None:
    """Exit without the interpreter's module teardown.

    Everything is written, committed and closed by now; tearing down the
    hundreds of loaded modules (trafilatura, lxml, numpy ...) can take seconds
    on a busy machine, which would eat the grace period that systemd or
    Kubernetes allow between SIGTERM and SIGKILL.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
