"""``purge``: erase a job's runs everywhere — every object version, every open multipart
upload, and the item's content — and print a receipt of what went.

The receipt (a table, or JSON with ``--output json``) goes to stdout; the plan shown before
confirmation, the prompt and progress go to stderr, so the receipt can be filed as it is.
"""

from __future__ import annotations

import argparse
import json
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
from archiver.logic.purge import (
    PurgePlan,
    Purger,
    PurgeReceipt,
    PurgeStopped,
    RunErasure,
    UnknownJobError,
)
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
            "Erase every run of JOB_NAME (or one, with --run; or those of one job kind, with "
            "--kind): every version and delete marker of every object in the run's folder, "
            "every multipart upload left open there, and its history item, which becomes a "
            "tombstone (JobName, CreatedAt, ArchiveStatus PURGED, PurgedAt, PurgedBy, "
            "PurgeReason, JobKind). The run is leased while it is erased, so nothing "
            "archives it meanwhile. Refused, with nothing deleted, where Object Lock "
            "forbids any deletion, where the run is archived in another bucket than "
            "--bucket, or while an invocation archives it. A purged run is reported, "
            "never changed."
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
    purge.add_argument(
        "--kind", type=common.kind, help=f"only runs of this job kind: {common.KINDS}"
    )
    purge.add_argument("--reason", default="", help="why (kept in the tombstone)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--dry-run", action="store_true", help="list what would go, change nothing")
    purge.add_argument(
        "--also-transcribe",
        action="store_true",
        help="also delete the job at Transcribe (only while the name still means that run)",
    )
    purge.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="the receipt (or, with --dry-run, the plan) as a table or as JSON",
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
        plan = purger.plan(args.job_name, args.created_at, args.kind)
    except (UnknownJobError, PurgeRefusedError) as exc:
        raise common.RunError(str(exc)) from None
    if args.dry_run:
        _print(args, out, PurgeReceipt(plan), dry_run=True)
        if plan.refusal:
            err.print(text(f"a purge would be refused: {plan.refusal}"))
        return 0
    if plan.refusal:
        raise common.RunError(plan.refusal)
    if plan.to_erase:
        err.print(_plan_table(plan))
        if not args.yes:
            _confirm(plan, err)
    try:
        receipt = purger.execute(
            plan,
            reason=args.reason,
            also_transcribe=args.also_transcribe,
            progress=lambda line: err.print(text(line)),
        )
    except PurgeStopped as exc:
        _print(args, out, exc.receipt, dry_run=False)
        raise common.RunError(str(exc)) from None
    except PurgeRefusedError as exc:
        raise common.RunError(str(exc)) from None
    _print(args, out, receipt, dry_run=False)
    _explain(receipt, err)
    if not receipt.complete:
        problems = "; ".join(f"run {r.created_at}: {r.error}" for r in receipt.runs if r.error)
        raise common.RunError(f"not everything was done: {problems}")
    return 0


def _confirm(plan: PurgePlan, err: Console) -> None:
    if not sys.stdin.isatty():
        raise common.UsageError(
            "purge erases data for good: pass --yes to confirm (or --dry-run to look)"
        )
    question = (
        f"Erase {len(plan.to_erase)} run(s), {plan.versions} object version(s) and "
        f"{plan.uploads} open upload(s) of {plan.job_name!r}? This cannot be undone"
    )
    if not Confirm.ask(question, console=err, default=False):
        raise common.RunError("not confirmed: nothing was erased")


def _explain(receipt: PurgeReceipt, err: Console) -> None:
    """What the operator should know beyond the receipt: what differed from the plan."""
    for erasure in receipt.runs:
        if erasure.outcome == "ALREADY_PURGED" and erasure.tombstone is not None:
            stone = erasure.tombstone
            err.print(
                text(
                    f"run {erasure.created_at} was already purged, by {stone.purged_by} at "
                    f"{stone.purged_at} (reason: {stone.purge_reason or 'none given'}); "
                    "left as it is"
                )
            )
        if erasure.not_shown:
            err.print(
                text(
                    f"run {erasure.created_at}: also erased {len(erasure.not_shown)} "
                    "version(s) or upload(s) written since the plan was shown: "
                    + ", ".join(_entry_name(e) for e in erasure.not_shown)
                )
            )
        if erasure.already_gone:
            err.print(
                text(
                    f"run {erasure.created_at}: {len(erasure.already_gone)} version(s) or "
                    "upload(s) shown were gone by the time of erasing"
                )
            )
    if receipt.new_runs:
        err.print(
            text(
                f"not erased: run(s) {', '.join(receipt.new_runs)} of {receipt.plan.job_name!r} "
                "recorded after the plan was shown; purge them with --run"
            )
        )


def _entry_name(entry: Any) -> str:
    version = getattr(entry, "version_id", None)
    return f"{entry.key} ({version or 'upload ' + entry.upload_id})"


def _print(args: argparse.Namespace, out: Console, receipt: PurgeReceipt, *, dry_run: bool) -> None:
    if args.output == "json":
        sys.stdout.write(json.dumps(receipt.as_json(), indent=2, ensure_ascii=False) + "\n")
        return
    if dry_run:
        out.print(_plan_table(receipt.plan, dry_run=True))
        return
    out.print(_receipt_table(receipt))


def _plan_table(plan: PurgePlan, *, dry_run: bool = False) -> Table:
    verb = "Would erase" if dry_run else "Erasing"
    table = Table(
        title=f"{verb} {len(plan.to_erase)} run(s), {plan.versions} object version(s), "
        f"{plan.uploads} open upload(s) of {plan.job_name} (bucket {plan.bucket})"
    )
    _columns(table)
    for erasure in plan.runs:
        _rows(table, erasure, marks=True)
    table.caption = _folders(plan)
    return table


def _receipt_table(receipt: PurgeReceipt) -> Table:
    plan = receipt.plan
    table = Table(title=f"Purge of {plan.job_name} (bucket {plan.bucket}) by {receipt.purged_by}")
    _columns(table)
    for erasure in plan.runs:
        _rows(table, erasure, marks=False)
    table.caption = _folders(plan)
    return table


def _folders(plan: PurgePlan) -> str:
    return "\n".join(
        f"{r.created_at}: s3://{plan.bucket}/{f}" for r in plan.runs for f in r.folders
    )


def _columns(table: Table) -> None:
    for column in ("Run (CreatedAt) · kind", "Outcome", "Object", "Version", "Bytes"):
        table.add_column(column, overflow="fold")


def _rows(table: Table, erasure: RunErasure, *, marks: bool) -> None:
    kind = erasure.kind.option if erasure.kind is not None else "kind not recorded"
    head = [text(f"{erasure.created_at}\n{kind}"), text(_outcome(erasure))]
    if erasure.outcome == "ALREADY_PURGED":
        table.add_row(*head, text("(erased before: left as it is)"), text(""), text(""))
    elif not erasure.versions and not erasure.uploads:
        table.add_row(*head, text("(no objects)"), text(""), text(""))
    held = {h.version for h in erasure.held} if marks else set()
    for version in erasure.versions:
        size = "delete marker" if version.delete_marker else str(version.size)
        lock = " (Object Lock)" if version in held else ""
        name = _name(erasure, version.key)
        table.add_row(*head, text(name), text(version.version_id + lock), text(size))
    for upload in erasure.uploads:
        name = _name(erasure, upload.key)
        table.add_row(*head, text(name), text(f"upload {upload.upload_id}"), text("parts"))


def _name(erasure: RunErasure, key: str) -> str:
    """A key as its name in the run's folder (the folder is in the table's caption)."""
    for folder in erasure.folders:
        if key.startswith(folder):
            return key.removeprefix(folder)
    return key


def _outcome(erasure: RunErasure) -> str:
    outcome = erasure.outcome.replace("_", " ").lower()
    if erasure.transcribe:
        outcome += f"; at Transcribe: {erasure.transcribe}"
    if erasure.error:
        outcome += f"; {erasure.error}"
    return outcome
