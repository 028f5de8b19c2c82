"""``history list`` and ``history show``: questions answered from the table."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from archiver.cli import common, render
from archiver.logic.history import HistoryRepository


def add_parser(commands: Any, options: argparse.ArgumentParser) -> None:
    history = commands.add_parser(
        "history", help="ask the job history", description="Ask the job history."
    )
    history.set_defaults(run=lambda *_: common.usage(history))
    questions = history.add_subparsers(title="questions", metavar="QUESTION")

    listing = questions.add_parser(
        "list",
        parents=[options],
        help="job runs, newest CompletedAt first",
        description="Job runs, newest CompletedAt first. Every page unless --limit.",
    )
    listing.add_argument("--status", type=common.status, help="COMPLETED or FAILED")
    listing.add_argument("--kind", type=common.kind, help=f"{common.KINDS} (default: every kind)")
    listing.add_argument(
        "--since",
        type=common.time_since,
        help="CompletedAt at or after ISO (a date alone: 00:00 UTC)",
    )
    listing.add_argument(
        "--until",
        type=common.time_until,
        help="CompletedAt at or before ISO (a date alone: the end of that day, UTC)",
    )
    listing.add_argument("--language", metavar="CODE", help="language code, e.g. de-DE")
    listing.add_argument("--tag", type=common.tag, metavar="KEY=VALUE", help="jobs with this tag")
    listing.add_argument("--limit", type=common.positive, metavar="N", help="at most N runs")
    listing.add_argument("--output", choices=("table", "json", "csv"), default="table")
    listing.set_defaults(run=list_runs, parser=listing)

    show = questions.add_parser(
        "show",
        parents=[options],
        help="one job's latest run (or all its runs)",
        description=(
            "One job's latest run of each job kind that used the name (transcription, "
            "Call Analytics, Medical and HealthScribe jobs may share one), or every run "
            "with --all-runs."
        ),
    )
    show.add_argument("job_name", metavar="JOB_NAME")
    show.add_argument("--all-runs", action="store_true", help="every run, newest first")
    show.add_argument("--output", choices=("table", "json"), default="table")
    show.set_defaults(run=show_runs, parser=show)


def list_runs(args: argparse.Namespace, out: Console, err: Console) -> int:
    table = common.need_table(args)
    if args.since and args.until and args.since > args.until:
        args.parser.error(f"--since ({args.since}) is later than --until ({args.until})")
    repository = HistoryRepository(table, region=args.region, endpoint_url=args.endpoint_url)
    runs = list(
        repository.list_runs(
            status=args.status,
            since=args.since,
            until=args.until,
            language=args.language,
            tag=args.tag,
            limit=args.limit,
            kind=args.kind,
        )
    )
    if args.output == "json":
        render.print_json(runs)
    elif args.output == "csv":
        render.print_csv(runs)
    elif runs:
        out.print(render.runs_table(runs))
    else:
        err.print("No job runs match.")
    return 0


def show_runs(args: argparse.Namespace, out: Console, err: Console) -> int:
    table = common.need_table(args)
    repository = HistoryRepository(table, region=args.region, endpoint_url=args.endpoint_url)
    if args.all_runs:
        runs = repository.runs_of(args.job_name)
    else:
        runs = repository.latest_runs(args.job_name)
    if not runs:
        raise common.RunError(f"no runs of job {args.job_name!r} in table {table!r}")
    if args.output == "json":
        render.print_json(runs)
        return 0
    for number, run in enumerate(runs, start=1):
        title = f"run {number} of {len(runs)}" if len(runs) > 1 else None
        out.print(render.run_table(run, title))
    return 0
