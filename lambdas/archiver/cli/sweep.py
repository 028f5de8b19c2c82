"""``sweep``: archive every finished run the table does not hold, since the last sweep."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from archiver.aws import clients
from archiver.cli import common
from archiver.cli.render import REASON_WIDTH, pending_table, shorten, text
from archiver.logic.archive import Archiver
from archiver.logic.backfill import JobResult
from archiver.logic.sweep import DEFAULT_OVERLAP, Sweep, SweepReport
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.history_table import HistoryTable
from archiver.timefmt import parse_iso


def add_parser(commands: Any, options: argparse.ArgumentParser) -> None:
    sweep = commands.add_parser(
        "sweep",
        parents=[options],
        help="archive finished jobs whose event was lost",
        description=(
            "Archive every finished job the table does not hold as settled, reading what "
            "finished since the last sweep (with an overlap), then retry every run the table "
            "holds unsettled. The stack runs the same sweep on a schedule; the first one "
            "reaches back 24 hours. --since narrower than the scheduled window never moves "
            "the stored floor forward."
        ),
    )
    sweep.add_argument(
        "--since", type=common.time_since, help="read jobs created since ISO instead"
    )
    sweep.add_argument(
        "--overlap",
        type=common.positive,
        metavar="MINUTES",
        default=int(DEFAULT_OVERLAP.total_seconds() // 60),
        help="read this far behind the last sweep (default: 15, the stack's schedule)",
    )
    sweep.add_argument("--kind", type=common.kind, help=f"{common.KINDS} (default: every kind)")
    sweep.add_argument("--dry-run", action="store_true", help="list, archive nothing")
    sweep.set_defaults(run=run, parser=sweep)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = common.settings(args)
    aws = clients(args.region, args.endpoint_url)
    archiver = None if args.dry_run else Archiver(settings, aws)
    sweep = Sweep(
        TranscribeJobs(aws.transcribe),
        HistoryTable(aws.dynamodb, settings.jobs_table),
        archiver,
        kinds=(args.kind,) if args.kind else None,
        overlap=timedelta(minutes=args.overlap),
    )
    with common.progress(err) as progress:
        task = progress.add_task("Sweeping finished jobs", total=None)

        def advance(result: JobResult) -> None:
            progress.advance(task)

        result = sweep.run(since=parse_iso(args.since) if args.since else None, on_result=advance)

    report = result.report
    windows = ", ".join(f"{kind.option} since {start}" for kind, start in result.kinds.items())
    for kind, why in result.failed_kinds.items():
        err.print(text(f"{kind.option} jobs not swept: {why}", "red"))
    if args.dry_run:
        pending = [r for r in result.results if r.verdict == "PENDING"]
        title = f"Would archive {len(pending)} of {report.listed} jobs ({windows})"
        out.print(pending_table(pending, title))
        return _exit(result)

    summary = Table(title=f"Sweep ({windows})")
    summary.add_column("jobs")
    summary.add_column("count", justify="right")
    for label, count in (
        ("listed", report.listed),
        ("already archived", len(report.with_verdict("ALREADY_ARCHIVED", "DUPLICATE"))),
        ("left alone (incomplete for good)", len(report.with_verdict("SKIPPED"))),
        ("being archived by another invocation", len(report.with_verdict("BUSY"))),
        (
            "held by a lease longer than any invocation's (a clock was ahead)",
            sum(1 for r in result.results if r.verdict == "STUCK"),
        ),
        ("recovered (their event was lost)", len(result.recovered)),
        ("archived", len(report.with_verdict("ARCHIVED"))),
        ("incomplete", len(report.with_verdict("INCOMPLETE"))),
        ("failed", len(report.with_verdict("FAILED"))),
        ("unsettled runs retried from the table", len(result.retried)),
    ):
        summary.add_row(label, str(count))
    out.print(summary)
    problems = [r for r in result.results if r.verdict in ("INCOMPLETE", "FAILED")]
    if problems:
        details = Table(title="Not archived whole")
        for column in ("Job", "Created", "Result", "Reason"):
            details.add_column(column, overflow="fold")
        for job_result in problems:
            details.add_row(
                text(job_result.job.name),
                text(job_result.job.created_at),
                text(job_result.verdict, "red" if job_result.verdict == "FAILED" else "yellow"),
                text(shorten(job_result.reason, 2 * REASON_WIDTH)),
            )
        out.print(details)
    return _exit(result)


def _exit(result: SweepReport) -> int:
    """0, or a RunError saying what the next sweep will have to do again."""
    problems = []
    if result.failed_kinds:
        problems.append("kinds not swept: " + ", ".join(k.option for k in result.failed_kinds))
    failed = sum(1 for r in result.results if r.verdict == "FAILED")
    if failed:
        problems.append(f"{failed} job{'s' if failed != 1 else ''} could not be archived now")
    stuck = sum(1 for r in result.results if r.verdict == "STUCK")
    if stuck:
        problems.append(
            f"{stuck} job{'s are' if stuck != 1 else ' is'} held by a lease written by a clock "
            "that was ahead"
        )
    if problems:
        raise common.RunError("; ".join(problems) + "; the next sweep tries again")
    return 0
