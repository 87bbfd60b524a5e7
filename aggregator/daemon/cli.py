"""`aggregator run [--once] [--worker-id ID] [--http-port N]`.

Registered through ``cli.EXTENSIONS`` (the parser) and ``@command("run")``
(the handler); imported by ``aggregator.cli_more``. The daemon's modules load
only when the command runs, so other commands do not pay for APScheduler.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import EXTENSIONS, command, config_path


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon: poll, re-check and alert as things fall due",
                       description="Run until SIGTERM/SIGINT (exit 0), or one cycle with --once. "
                                   "Serves /healthz, /readyz and /metrics on daemon.http_host.")
    p.add_argument("--once", action="store_true",
                   help="run one cycle of everything that is due, then exit (for cron)")
    p.add_argument("--worker-id", metavar="ID",
                   help="name of this worker in leases and logs (default hostname:pid:random)")
    p.add_argument("--http-port", type=int, metavar="N",
                   help="port of the observability endpoint (default daemon.http_port; "
                        "0 = any free port, printed at start)")


@command("run")
def run_command(args: argparse.Namespace) -> int:
    from .runner import Options, run

    return run(config_path(args), Options(once=args.once, worker=args.worker_id,
                                          http_port=args.http_port))


if add_run_parser not in EXTENSIONS:
    EXTENSIONS.append(add_run_parser)
