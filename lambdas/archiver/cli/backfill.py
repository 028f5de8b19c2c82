"""``backfill``: archive the finished jobs Transcribe knows and the table does not."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from archiver.aws import clients
from archiver.cli import common
from archiver.cli.render import pending_table, text
from archiver.contract import JobKind
from archiver.logic.archive import Archiver
from archiver.logic.backfill import FINISHED, Backfill, JobResult, list_finished_jobs
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.history_table import HistoryTable
from archiver.timefmt import parse_iso


def add_parser(commands: Any, options: argparse.ArgumentParser) -> None:
    backfill = commands.add_parser(
        "backfill",
        parents=[options],
        help="archive finished jobs the table does not have",
        description=(
            "Archive the jobs that Transcribe lists (transcription, Call Analytics, Medical "
            "and HealthScribe jobs) and the table does not hold as ARCHIVED, with the "
            "function's own archiving code."
        ),
    )
    backfill.add_argument("--since", type=common.time_since, help="jobs created at or after ISO")
    backfill.add_argument(
        "--status", type=common.status, help="COMPLETED or FAILED (default: both)"
    )
    backfill.add_argument("--kind", type=common.kind, help=f"{common.KINDS} (default: every kind)")
    backfill.add_argument("--dry-run", action="store_true", help="list, archive nothing")
    backfill.set_defaults(run=run, parser=backfill)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = common.settings(args)
    aws = clients(args.region, args.endpoint_url)
    since = parse_iso(args.since) if args.since else None
    failed_kinds: dict[JobKind, str] = {}
    with common.progress(err) as progress:
        listing = progress.add_task("Listing Transcribe jobs", total=None)
        jobs = list_finished_jobs(
            TranscribeJobs(aws.transcribe),
            statuses=(args.status,) if args.status else FINISHED,
            kinds=(args.kind,) if args.kind else None,
            since=since,
            on_page=lambda n: progress.update(listing, completed=n),
            failed_kinds=failed_kinds,
        )
        progress.update(listing, total=len(jobs), completed=len(jobs))
        archiver = None if args.dry_run else Archiver(settings, aws)
        verb = "Checking" if args.dry_run else "Archiving"
        task = progress.add_task(f"{verb} {len(jobs)} jobs", total=len(jobs))

        def advance(result: JobResult) -> None:
            progress.advance(task)

        report = Backfill(HistoryTable(aws.dynamodb, settings.jobs_table), archiver).run(
            jobs, on_result=advance
        )
    report.failed_kinds.update(failed_kinds)
    for kind, why in failed_kinds.items():
        err.print(text(f"{kind.option} jobs not listed: {why}", "red"))

    if args.dry_run:
        pending = report.with_verdict("PENDING")
        title = f"Would archive {len(pending)} of {report.listed} listed jobs"
        out.print(pending_table(pending, title))
        if failed_kinds:
            raise common.RunError(_not_listed(failed_kinds))
        return 0

    summary = Table(title="Backfill")
    summary.add_column("jobs")
    summary.add_column("count", justify="right")
    rows = (
        ("listed", report.listed),
        ("already archived", len(report.with_verdict("ALREADY_ARCHIVED"))),
        ("archived", len(report.with_verdict("ARCHIVED", "DUPLICATE"))),
        ("incomplete", len(report.with_verdict("INCOMPLETE"))),
        ("failed", len(report.with_verdict("FAILED"))),
    )
    for label, count in rows:
        summary.add_row(label, str(count))
    out.print(summary)
    problems = report.with_verdict("INCOMPLETE", "FAILED")
    if problems:
        details = Table(title="Not archived whole")
        for column in ("Job", "Created", "Result", "Reason"):
            details.add_column(column, overflow="fold")
        for result in problems:
            details.add_row(
                text(result.job.name),
                text(result.job.created_at),
                text(result.verdict, "red" if result.verdict == "FAILED" else "yellow"),
                text(result.reason),
            )
        out.print(details)
    if report.failed:
        failed = len(report.with_verdict("FAILED"))
        reasons = [_not_listed(failed_kinds)] if failed_kinds else []
        if failed:
            reasons.append(f"{failed} job{'s' if failed != 1 else ''} could not be archived")
        raise common.RunError("; ".join(reasons))
    return 0


def _not_listed(failed_kinds: dict[JobKind, str]) -> str:
    return "kinds not listed (the others were archived): " + ", ".join(
        k.option for k in failed_kinds
    )
