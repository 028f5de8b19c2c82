"""``purge``: erase a job's runs everywhere — every object version and the item's content."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.prompt import Confirm
from rich.table import Table

from archiver.aws import clients
from archiver.cli import common
from archiver.cli.render import text
from archiver.contract import JobKind
from archiver.errors import PurgeRefusedError
from archiver.logic.purge import PurgePlan, Purger, UnknownJobError
from archiver.sources.identity import caller_arn
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_versions import ArchiveVersions
from archiver.store.history_table import HistoryTable


def add_parser(commands: Any, options: argparse.ArgumentParser) -> None:
    purge = commands.add_parser(
        "purge",
        parents=[options],
        help="erase a job's runs: every object version, and the item's content",
        description=(
            "Erase every run of JOB_NAME (or one, with --run): every version and delete "
            "marker of every object in the run's folder, and its history item, which "
            "becomes a tombstone (JobName, CreatedAt, ArchiveStatus PURGED, PurgedAt, "
            "PurgedBy, PurgeReason). Refused, with nothing deleted, where Object Lock "
            "retention forbids it."
        ),
    )
    purge.add_argument("job_name", metavar="JOB_NAME")
    purge.add_argument(
        "--run",
        dest="created_at",  # args.run is the command itself
        metavar="CREATED_AT",
        type=common.time_since,
        help="only the run created then (its CreatedAt)",
    )
    purge.add_argument("--reason", default="", help="why (kept in the tombstone)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--dry-run", action="store_true", help="list what would go, change nothing")
    purge.add_argument(
        "--also-transcribe",
        action="store_true",
        help="also delete the job at Transcribe (only while the name still means that run)",
    )
    purge.set_defaults(run=run, parser=purge)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = common.settings(args)
    aws = clients(args.region, args.endpoint_url)
    purger = Purger(
        HistoryTable(aws.dynamodb, settings.jobs_table),
        ArchiveVersions(aws.s3, settings.archive_bucket),
        {kind: settings.prefix(kind) for kind in JobKind},
        identity=lambda: caller_arn(aws.sts),
        jobs=TranscribeJobs(aws.transcribe) if args.also_transcribe else None,
    )
    try:
        plan = purger.plan(args.job_name, args.created_at)
    except UnknownJobError as exc:
        raise common.RunError(str(exc)) from None
    out.print(_plan_table(plan, dry_run=args.dry_run))
    if args.dry_run:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise common.UsageError(
                "purge erases data for good: pass --yes to confirm (or --dry-run to look)"
            )
        question = (
            f"Erase {len(plan.runs)} run(s) and {plan.versions} object version(s) of "
            f"{plan.job_name!r}? This cannot be undone"
        )
        if not Confirm.ask(question, console=err, default=False):
            raise common.RunError("not confirmed: nothing was erased")
    try:
        report = purger.execute(plan, reason=args.reason, also_transcribe=args.also_transcribe)
    except PurgeRefusedError as exc:
        raise common.RunError(str(exc)) from None
    for tombstone in report.tombstones:
        where = report.transcribe.get(tombstone.created_at)
        err.print(
            text(
                f"purged {tombstone.job_name} run {tombstone.created_at} "
                f"by {tombstone.purged_by} at {tombstone.purged_at}"
                + (f"; at Transcribe: {where}" if where else "")
            )
        )
    return 0


def _plan_table(plan: PurgePlan, *, dry_run: bool) -> Table:
    verb = "Would erase" if dry_run else "Erasing"
    table = Table(
        title=f"{verb} {len(plan.runs)} run(s), {plan.versions} object version(s) of "
        f"{plan.job_name}"
    )
    for column in ("Run (CreatedAt)", "Status", "Object", "Version", "Bytes"):
        table.add_column(column, overflow="fold")
    for erasure in plan.runs:
        status = erasure.run.archive_status or ""
        if not erasure.versions:
            table.add_row(text(erasure.run.created_at), text(status), text("(no objects)"), "", "")
        for version in erasure.versions:
            held = next((r for r in erasure.retained if r.version == version), None)
            kind = "delete marker" if version.delete_marker else str(version.size)
            table.add_row(
                text(erasure.run.created_at),
                text(status),
                text(version.key),
                text(version.version_id + (" (Object Lock)" if held else "")),
                text(kind),
            )
    return table
