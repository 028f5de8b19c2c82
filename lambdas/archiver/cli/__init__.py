"""``transcribe-archiver``: ask the job history, backfill, replay the DLQ, run the demo.

Data (tables, JSON, CSV) goes to stdout; progress bars and messages go to stderr, so the
output can be piped. Exit status: 0 success, 1 a run-time failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from archiver.cli import backfill, common, demo, history, purge, replay, sweep
from archiver.cli.render import CSV_COLUMNS, SHOW_ORDER

__all__ = ["CSV_COLUMNS", "SHOW_ORDER", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    out = Console(highlight=False, width=common.width(sys.stdout))
    err = Console(stderr=True, highlight=False, width=common.width(sys.stderr))
    args: argparse.Namespace | None = None
    try:
        args = _parse(parser, argv)
        common.check_endpoint_variable()
        command: common.Command = args.run
        with common.quiet_function_logs():
            return command(args, out, err)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    except common.UsageError as exc:
        common.print_error(err, str(exc))
        return 2
    except KeyboardInterrupt:
        common.print_error(err, "interrupted")
        return 130
    except Exception as exc:
        code, message = common.explain(exc, args)
        common.print_error(err, message)
        return code


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an option no command knows is reported with that command's usage.

    argparse itself would print the top-level usage, which names no option of the command
    the user typed.
    """
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command_parser: argparse.ArgumentParser = getattr(args, "parser", None) or parser
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; defaults are read from the environment now."""
    parser = argparse.ArgumentParser(
        prog=common.PROG,
        description="Archive of Amazon Transcribe jobs: history questions and repairs.",
    )
    parser.set_defaults(run=lambda *_: common.usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    options = common.aws_options()
    for command in (history, backfill, replay, sweep, purge, demo):
        command.add_parser(commands, options)
    return parser
