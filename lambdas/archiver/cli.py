"""``transcribe-archiver``: ask the job history, backfill, replay the DLQ, run the demo.

Data (tables, JSON, CSV) goes to stdout; progress bars and messages go to stderr, so the
output can be piped. Exit status: 0 success, 1 a run-time failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, Final, TypeVar

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from archiver.aws import clients
from archiver.errors import ConfigurationError
from archiver.logic.archive import Archiver
from archiver.logic.backfill import FINISHED, Backfill, JobResult, list_finished_jobs
from archiver.logic.history import STATUSES, HistoryRepository, normalize_time, parse_tag
from archiver.logic.replay import Replay, ReplayResult, sqs_client
from archiver.observability import logger
from archiver.settings import Settings
from archiver.store.history_table import HistoryTable

PROG: Final = "transcribe-archiver"
CSV_COLUMNS: Final = (
    "JobName",
    "CreatedAt",
    "CompletedAt",
    "JobStatus",
    "ArchiveStatus",
    "LanguageCode",
    "MediaFileUri",
    "ArchiveUri",
    "FailureReason",
    "ArchiveError",
    "Tags",
)
#: Order of the attributes in ``history show``; any others follow alphabetically.
SHOW_ORDER: Final = (
    "JobName",
    "CreatedAt",
    "JobStatus",
    "ArchiveStatus",
    "ArchiveError",
    "FailureReason",
    "StartedAt",
    "CompletedAt",
    "ArchivedAt",
    "LanguageCode",
    "LanguageCodes",
    "IdentifiedLanguageScore",
    "MediaFileUri",
    "MediaFormat",
    "MediaSampleRateHertz",
    "SubtitleFormats",
    "Tags",
    "Settings",
    "ContentRedaction",
    "ArchiveUri",
    "Outputs",
)
REASON_WIDTH: Final = 60


class UsageError(Exception):
    """Bad options or environment: exit status 2."""


class RunError(Exception):
    """A run-time failure already explained in the message: exit status 1."""


# -- entry point --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    out = Console(highlight=False, width=_width(sys.stdout))
    err = Console(stderr=True, highlight=False, width=_width(sys.stderr))
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
        command: Callable[[argparse.Namespace, Console, Console], int] = args.run
        with _quiet_function_logs():
            return command(args, out, err)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    except UsageError as exc:
        _error(err, str(exc))
        return 2
    except KeyboardInterrupt:
        _error(err, "interrupted")
        return 130
    except Exception as exc:
        code, message = _explain(exc, args)
        _error(err, message)
        return code


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; defaults are read from the environment now."""
    env = os.environ
    common = argparse.ArgumentParser(add_help=False)
    aws = common.add_argument_group("AWS")
    aws.add_argument(
        "--table",
        default=env.get("JOBS_TABLE"),
        help="history table (default: $JOBS_TABLE)",
    )
    aws.add_argument(
        "--bucket",
        default=env.get("ARCHIVE_BUCKET"),
        help="archive bucket, for backfill and replay (default: $ARCHIVE_BUCKET)",
    )
    aws.add_argument(
        "--region",
        default=env.get("AWS_REGION"),
        help="AWS region (default: $AWS_REGION, then boto3's own configuration)",
    )
    aws.add_argument(
        "--endpoint-url",
        # None lets boto3 read $AWS_ENDPOINT_URL itself, so that a service-specific
        # $AWS_ENDPOINT_URL_<SERVICE> still wins over it.
        default=None,
        help="AWS endpoint, e.g. a local emulator (default: $AWS_ENDPOINT_URL)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Archive of Amazon Transcribe jobs: history questions and repairs.",
    )
    parser.set_defaults(run=lambda *_: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    history = commands.add_parser(
        "history", help="ask the job history", description="Ask the job history."
    )
    history.set_defaults(run=lambda *_: _usage(history))
    questions = history.add_subparsers(title="questions", metavar="QUESTION")

    listing = questions.add_parser(
        "list",
        parents=[common],
        help="job runs, newest CompletedAt first",
        description="Job runs, newest CompletedAt first. Every page unless --limit.",
    )
    listing.add_argument("--status", type=_status, help="COMPLETED or FAILED")
    listing.add_argument(
        "--since", type=_time, help="CompletedAt at or after ISO (a date alone: 00:00 UTC)"
    )
    listing.add_argument(
        "--until",
        type=_time_until,
        help="CompletedAt at or before ISO (a date alone: the end of that day, UTC)",
    )
    listing.add_argument("--language", metavar="CODE", help="language code, e.g. de-DE")
    listing.add_argument("--tag", type=_tag, metavar="KEY=VALUE", help="jobs with this tag")
    listing.add_argument("--limit", type=_positive, metavar="N", help="at most N runs")
    listing.add_argument("--output", choices=("table", "json", "csv"), default="table")
    listing.set_defaults(run=_history_list, parser=listing)

    show = questions.add_parser(
        "show",
        parents=[common],
        help="one job's latest run (or all its runs)",
        description="One job's latest run, or every run of its name with --all-runs.",
    )
    show.add_argument("job_name", metavar="JOB_NAME")
    show.add_argument("--all-runs", action="store_true", help="every run, newest first")
    show.add_argument("--output", choices=("table", "json"), default="table")
    show.set_defaults(run=_history_show, parser=show)

    backfill = commands.add_parser(
        "backfill",
        parents=[common],
        help="archive finished jobs the table does not have",
        description=(
            "Archive the jobs that ListTranscriptionJobs knows and the table does not hold "
            "as ARCHIVED, with the function's own archiving code."
        ),
    )
    backfill.add_argument("--since", type=_time, help="jobs created at or after ISO")
    backfill.add_argument("--status", type=_status, help="COMPLETED or FAILED (default: both)")
    backfill.add_argument("--dry-run", action="store_true", help="list, archive nothing")
    backfill.set_defaults(run=_backfill, parser=backfill)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="re-process the events held in a dead-letter queue",
        description=(
            "Re-process the events held in a dead-letter queue (the rule's target DLQ or "
            "the function's on-failure queue). A message is deleted once its job run is "
            "recorded; others stay in the queue."
        ),
    )
    replay.add_argument(
        "--queue-url", default=env.get("DLQ_URL"), help="the queue (default: $DLQ_URL)"
    )
    replay.add_argument("--dry-run", action="store_true", help="list, change nothing")
    replay.set_defaults(run=_replay, parser=replay)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the whole pipeline on an embedded AWS, no account needed",
        description="The whole pipeline on an embedded AWS (needs a source checkout).",
    )
    demo.set_defaults(run=_demo, parser=demo)
    return parser


# -- option types -------------------------------------------------------------------------


def _status(text: str) -> str:
    value = text.strip().upper()
    if value not in STATUSES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a status: use {' or '.join(STATUSES)}")
    return value


T = TypeVar("T")


def _option(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type that reports the parsing function's own message for a bad value."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


_time = _option(normalize_time)
_time_until = _option(partial(normalize_time, end_of_day=True))
_tag = _option(parse_tag)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return 2


def _need_table(args: argparse.Namespace) -> str:
    if not args.table:
        args.parser.error("the history table is needed: pass --table or set JOBS_TABLE")
    return str(args.table)


def _settings(args: argparse.Namespace) -> Settings:
    """The function's settings from the environment, with --table/--bucket on top."""
    table = _need_table(args)
    if not args.bucket:
        args.parser.error("the archive bucket is needed: pass --bucket or set ARCHIVE_BUCKET")
    try:
        return Settings.from_env({**os.environ, "JOBS_TABLE": table, "ARCHIVE_BUCKET": args.bucket})
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


# -- history ------------------------------------------------------------------------------


def _history_list(args: argparse.Namespace, out: Console, err: Console) -> int:
    table = _need_table(args)
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
        )
    )
    if args.output == "json":
        _print_json(runs)
    elif args.output == "csv":
        _print_csv(runs)
    elif runs:
        out.print(_runs_table(runs))
    else:
        err.print("No job runs match.")
    return 0


def _history_show(args: argparse.Namespace, out: Console, err: Console) -> int:
    table = _need_table(args)
    repository = HistoryRepository(table, region=args.region, endpoint_url=args.endpoint_url)
    if args.all_runs:
        runs = repository.runs_of(args.job_name)
    else:
        latest = repository.latest_run(args.job_name)
        runs = [latest] if latest is not None else []
    if not runs:
        raise RunError(f"no runs of job {args.job_name!r} in table {table!r}")
    if args.output == "json":
        _print_json(runs)
        return 0
    for number, run in enumerate(runs, start=1):
        title = f"run {number} of {len(runs)}" if len(runs) > 1 else None
        out.print(_run_table(run, title))
    return 0


def _print_json(runs: list[dict[str, Any]]) -> None:
    sys.stdout.write(json.dumps(runs, indent=2, ensure_ascii=False) + "\n")


def _print_csv(runs: list[dict[str, Any]]) -> None:
    # Values are written as stored: no spreadsheet-formula escaping, which would change them.
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        writer.writerow([_csv_cell(name, run.get(name)) for name in CSV_COLUMNS])


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "Tags" or isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(
        # Compact, so that an 80-column terminal shows every column.
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption=f"{len(runs)} job run{'s' if len(runs) != 1 else ''}, newest first",
    )
    table.add_column("Completed (UTC)", no_wrap=True)
    table.add_column("Job · tags", overflow="fold", min_width=12, ratio=1)
    table.add_column("Lang", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Archive", no_wrap=True)
    table.add_column("Reason", min_width=12, ratio=1)
    for run in runs:
        job = _text(run.get("JobName"))
        tags = _tags(run.get("Tags"))
        if tags:
            job.append_text(_text("\n" + tags, "dim"))
        reason = run.get("FailureReason") or run.get("ArchiveError") or ""
        table.add_row(
            _text(_short_time(run.get("CompletedAt"))),
            job,
            _text(run.get("LanguageCode") or ",".join(run.get("LanguageCodes") or [])),
            _text(run.get("JobStatus"), "red" if run.get("JobStatus") == "FAILED" else ""),
            _text(
                run.get("ArchiveStatus"),
                "green" if run.get("ArchiveStatus") == "ARCHIVED" else "yellow",
            ),
            _text(_shorten(str(reason), REASON_WIDTH)),
        )
    return table


def _short_time(value: Any) -> str:
    """``2026-11-23T10:15:02.123Z`` as ``2026-11-23 10:15:02``: tables are for reading."""
    text = "" if value is None else str(value)
    return text[:19].replace("T", " ") if len(text) >= 19 else text


def _tags(value: Any) -> str:
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))


def _run_table(run: dict[str, Any], title: str | None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("attribute", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    others = sorted(k for k in run if k not in SHOW_ORDER)
    for name in (*SHOW_ORDER, *others):
        if name not in run:
            continue
        value = run[name]
        if name == "Outputs" and isinstance(value, dict):
            for output, stored in sorted(value.items()):
                table.add_row(_text(f"Outputs · {output}"), _text(_output_line(stored)))
        elif name == "Tags" and isinstance(value, dict):
            table.add_row(_text(name), _text(_tags(value)))
        elif isinstance(value, dict | list):
            table.add_row(_text(name), _text(json.dumps(value, sort_keys=True)))
        else:
            table.add_row(_text(name), _text(value))
    return table


def _output_line(stored: Any) -> str:
    if not isinstance(stored, dict):
        return str(stored)
    parts = [
        str(stored.get("S3Uri", "")),
        f"{stored['Bytes']} bytes" if "Bytes" in stored else "",
        f"sha256 {stored['Sha256']}" if "Sha256" in stored else "",
        str(stored.get("ContentType", "")),
    ]
    return "\n".join(p for p in parts if p)


def _text(value: Any, style: str = "") -> Text:
    """Cell text taken literally: no rich markup, no terminal control characters."""
    raw = "" if value is None else str(value)
    clean = "".join(ch if ch == "\n" or unicodedata.category(ch) != "Cc" else " " for ch in raw)
    return Text(clean, style=style)


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- backfill -----------------------------------------------------------------------------


def _backfill(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = _settings(args)
    aws = clients(args.region, args.endpoint_url)
    since = datetime.fromisoformat(args.since.replace("Z", "+00:00")) if args.since else None
    with _progress(err) as progress:
        listing = progress.add_task("Listing Transcribe jobs", total=None)
        jobs = list_finished_jobs(
            aws.transcribe,
            statuses=(args.status,) if args.status else FINISHED,
            since=since,
            on_page=lambda n: progress.update(listing, completed=n),
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

    if args.dry_run:
        pending = report.with_verdict("PENDING")
        table = Table(title=f"Would archive {len(pending)} of {report.listed} listed jobs")
        for column in ("Job", "Created", "Status", "In the table now"):
            table.add_column(column, overflow="fold")
        for result in pending:
            job = result.job
            table.add_row(
                _text(job.name), _text(job.created_at), _text(job.status), _text(result.reason)
            )
        out.print(table)
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
                _text(result.job.name),
                _text(result.job.created_at),
                _text(result.verdict, "red" if result.verdict == "FAILED" else "yellow"),
                _text(result.reason),
            )
        out.print(details)
    if report.failed:
        failed = len(report.with_verdict("FAILED"))
        raise RunError(f"{failed} job{'s' if failed != 1 else ''} could not be archived")
    return 0


# -- replay -------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, out: Console, err: Console) -> int:
    if not args.queue_url:
        args.parser.error("the dead-letter queue is needed: pass --queue-url or set DLQ_URL")
    settings = _settings(args)
    archiver = None if args.dry_run else Archiver(settings, clients(args.region, args.endpoint_url))
    replay = Replay(sqs_client(args.region, args.endpoint_url), args.queue_url, archiver)
    waiting = replay.waiting()
    with _progress(err) as progress:
        verb = "Reading" if args.dry_run else "Replaying"
        task = progress.add_task(f"{verb} dead-letter queue", total=waiting or None)

        def advance(result: ReplayResult) -> None:
            total = progress.tasks[task].total or 0
            done = progress.tasks[task].completed + 1
            progress.update(task, completed=done, total=max(total, done))

        report = replay.run(on_result=advance)

    title = (
        f"{len(report.results)} messages in the queue (nothing changed)"
        if args.dry_run
        else f"Replayed {len(report.results)} messages"
    )
    table = Table(title=title)
    for column in ("Job", "Status", "Event time", "Shape", "Result", "Reason"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        parked = result.parked
        table.add_row(
            _text(parked.job_name or "?"),
            _text(parked.job_status),
            _text(parked.event_time),
            _text(parked.shape),
            _text(result.verdict, "red" if result.verdict == "KEPT" else ""),
            _text(_shorten(result.reason, 2 * REASON_WIDTH)),
        )
    out.print(table)
    if report.failed:
        kept = len(report.with_verdict("KEPT"))
        what = "1 message" if kept == 1 else f"{kept} messages"
        verb = "stays" if kept == 1 else "stay"
        raise RunError(f"{what} could not be replayed and {verb} in the queue")
    return 0


# -- demo ---------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: Console, err: Console) -> int:
    # Imported only here: local_aws (moto, the Transcribe double) is development tooling
    # that a deployed function or a plain install of the CLI never needs.
    try:
        from local_aws.demo import main as demo_main  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "local_aws":
            raise
        raise RunError(
            "the demo needs the local_aws package from a source checkout: pip install -e ."
        ) from exc

    return int(demo_main())


# -- plumbing -----------------------------------------------------------------------------


def _width(stream: Any) -> int | None:
    """A terminal's own width; off a terminal (a pipe, CI logs) 160 rather than rich's 80."""
    isatty = getattr(stream, "isatty", None)
    if (callable(isatty) and isatty()) or os.environ.get("COLUMNS"):
        return None
    return 160


def _progress(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


@contextlib.contextmanager
def _quiet_function_logs() -> Iterator[None]:
    """The archiver's JSON logs stay off the terminal unless a log level is set.

    Every outcome is reported by the command itself; ``POWERTOOLS_LOG_LEVEL=INFO`` shows
    the function's own log lines on stderr as well.
    """
    if os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL"):
        yield
        return
    level = logger.log_level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _error(err: Console, message: str) -> None:
    err.print(Text(f"{PROG}: error: {message}", style="red"))


def _explain(exc: Exception, args: argparse.Namespace | None) -> tuple[int, str]:
    """Exit status and a sentence for an error, instead of a traceback."""
    table = getattr(args, "table", None)
    region = getattr(args, "region", None) or _default_region()
    if isinstance(exc, RunError):
        return 1, str(exc)
    if isinstance(exc, NoCredentialsError):
        return 1, (
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, NoRegionError):
        return 2, "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return 1, f"cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}: is the endpoint right?"
    if isinstance(exc, ParamValidationError):
        return 2, " ".join(str(exc).split())
    if isinstance(exc, BotoCoreError):
        return 1, str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        operation = exc.operation_name
        if code == "ResourceNotFoundException" and table:
            return 1, f"table {table!r} not found in region {region}"
        if code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            queue = getattr(args, "queue_url", None)
            return 1, f"queue {queue!r} not found in region {region}"
        if code in {
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidSignatureException",
        }:
            return 1, f"AWS refused the credentials ({code}): {message}"
        if code in {"AccessDenied", "AccessDeniedException"}:
            return 1, f"not allowed to call {operation}: {message}"
        return 1, f"{operation} failed: {code}: {message}"
    return 1, f"unexpected {exc.__class__.__name__}: {exc}"


def _default_region() -> str:
    return boto3.session.Session().region_name or "(none set)"
