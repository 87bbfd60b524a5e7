"""Command line: each command is a few calls into the library.

One module per command group (``cli.feeds``, ``cli.items``, ``cli.poll`` ...), each with a
``register(sub)`` that adds its sub-commands and sets their handler; :data:`GROUPS` below
is the one place that lists them, in the order ``--help`` shows them.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config. Errors print
their message and a fix-it hint, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from aggregator.cli import (
    alerts,
    changes,
    db,
    demo,
    feeds,
    items,
    poll,
    run,
    search,
    tokens,
    topics,
    web,
)
from aggregator.cli.common import CONFIG_HELP, Handler, Subcommands
from aggregator.exceptions import AggregatorError, QuerySyntaxError

GROUPS: tuple[Callable[[Subcommands], None], ...] = (
    feeds.register,
    items.register,
    poll.register,
    db.register,
    demo.register,
    run.register,
    tokens.register,
    web.register,
    topics.register,
    search.register,
    alerts.register,
    changes.register,
)


DESCRIPTION = """\
Newsroom feed aggregator: poll feeds, match topics, alert the desk.

It polls the feeds of feeds.yaml, keeps each article's text, matches your topics
in any language, and alerts by email, webhook or chat; it re-checks stored
stories and tells you when one is quietly edited, showing what changed."""

EPILOG = """\
first steps:
  aggregator demo                      the offline demo: one article, one topic, one alert
  aggregator feeds add URL             add a feed (a page announcing one works too)
  aggregator poll                      poll now and see what came in
  aggregator run                       the daemon: poll, re-check, deliver alerts

Every command takes --config FILE (default $AGGREGATOR_CONFIG, then ./feeds.yaml).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aggregator")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aggregator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--version", action="version", version=f"aggregator {_version()}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    for register in GROUPS:
        register(sub)
    _config_everywhere(p)
    return p


def _config_everywhere(parser: argparse.ArgumentParser) -> None:
    """`aggregator feeds list --config x.yaml` works like `aggregator --config x.yaml feeds list`.

    SUPPRESS as the default keeps a sub-command from resetting a --config given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--config" in a.option_strings for a in child._actions):
                    child.add_argument(
                        "--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP
                    )
                _config_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    from aggregator.daemon.logs import cli_logging
    from aggregator.urls import redact_text

    parser = build_parser()
    args = parser.parse_args(argv)
    cli_logging()
    try:
        handler: Handler = args.handler
        return handler(args)
    except AggregatorError as e:
        print(f"error: {redact_text(e.message)}", file=sys.stderr)
        if isinstance(e, QuerySyntaxError):
            print(f"at column {e.column}:\n{e.pointer()}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aggregator items list | head`: the reader went away
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
