"""What every command shares: option types, the settings, errors and their exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Final, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from archiver.aws import aws_failure, clients, default_region
from archiver.contract import SETTINGS_OUTPUT, JobKind
from archiver.errors import ConfigurationError, StackNotFoundError
from archiver.logic.history import STATUSES, normalize_time, parse_kind, parse_tag
from archiver.observability import logger
from archiver.settings import Settings
from archiver.sources.identity import clock_skew
from archiver.sources.stack_outputs import stack_outputs

PROG: Final = "transcribe-archiver"
#: The stack name the CDK app deploys by default (cdk.json "stackName").
DEFAULT_STACK: Final = "TranscribeArchiver"
#: The commands that write to (or erase from) the archive bucket, so need to know it.
BUCKET_COMMANDS: Final = ("backfill", "sweep", "replay", "purge")
#: The variable boto3 reads for every service's endpoint (--endpoint-url's default).
ENDPOINT_VARIABLE: Final = "AWS_ENDPOINT_URL"

Command = Callable[[argparse.Namespace, Console, Console], int]


class UsageError(Exception):
    """Bad options or environment: exit status 2."""


class RunError(Exception):
    """A run-time failure already explained in the message: exit status 1."""


def aws_options() -> argparse.ArgumentParser:
    """The options every command takes, defaulting from the environment."""
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
        help=(
            f"archive bucket, for {', '.join(BUCKET_COMMANDS[:-1])} and {BUCKET_COMMANDS[-1]} "
            "(default: $ARCHIVE_BUCKET)"
        ),
    )
    aws.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help=(
            "the deployed stack whose outputs name the table and the bucket when neither "
            f"an option nor the environment does (default: {DEFAULT_STACK})"
        ),
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
        type=endpoint_url,
        help="AWS endpoint, e.g. a local emulator (default: $AWS_ENDPOINT_URL)",
    )
    return common


# -- option types ---------------------------------------------------------------------------


def endpoint_problem(url: str) -> str | None:
    """Why boto3 would refuse ``url`` as an endpoint (it raises a bare ValueError), or None."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in {"http", "https"}:
        return "must start with http:// or https://"
    try:
        port = parts.port  # ValueError when it is not a number in 0-65535
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if not parts.hostname or " " in parts.netloc or port == 0:
        return "must name a host, e.g. http://localhost:4566"
    return None


def endpoint_url(text: str) -> str:
    if problem := endpoint_problem(text):
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return text.strip()


def check_endpoint_variable() -> None:
    """A bad $AWS_ENDPOINT_URL is bad usage too, said before boto3 says "Invalid endpoint"."""
    value = os.environ.get(ENDPOINT_VARIABLE)
    if value and (problem := endpoint_problem(value)):
        raise UsageError(f"${ENDPOINT_VARIABLE} {value!r} {problem} (or unset it)")


def status(text: str) -> str:
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


time_since = _option(normalize_time)
time_until = _option(partial(normalize_time, end_of_day=True))
tag = _option(parse_tag)
kind = _option(parse_kind)
#: What ``--kind`` takes, for help texts.
KINDS = " or ".join(k.option for k in JobKind)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    if value > sys.maxsize:
        raise argparse.ArgumentTypeError(f"{text!r} is over {sys.maxsize}")
    return value


# -- configuration ------------------------------------------------------------------------


def need_table(args: argparse.Namespace) -> str:
    if not args.table:
        args.table = _from_stack(
            args, "JobsTableName", "the history table", "--table", "JOBS_TABLE"
        )
    return str(args.table)


def need_bucket(args: argparse.Namespace) -> str:
    if not args.bucket:
        args.bucket = _from_stack(
            args, "ArchiveBucketName", "the archive bucket", "--bucket", "ARCHIVE_BUCKET"
        )
    return str(args.bucket)


def _from_stack(
    args: argparse.Namespace, output: str, what: str, option: str, variable: str
) -> str:
    """A setting read from the deployed stack's outputs."""
    try:
        outputs = _outputs(args)
    except StackNotFoundError as exc:
        raise UsageError(
            f"{what} is needed: pass {option}, set {variable}, or name the deployed stack "
            f"with --stack ({exc} in region {args.region or default_region() or '(none)'})"
        ) from None
    value = outputs.get(output)
    if not value:
        raise UsageError(
            f"{what} is needed: stack {args.stack!r} has no output {output}; pass {option} "
            f"or set {variable}"
        )
    return value


def settings(args: argparse.Namespace) -> Settings:
    """The function's settings, for the commands that archive or erase: the deployed stack's
    (its ArchiverSettings output: prefixes, ARCHIVE_UNREDACTED, ...), the environment's on
    top, and --table/--bucket on top of both (or, with neither, the stack's outputs)."""
    table = need_table(args)
    need_bucket(args)
    check_clock(args)
    env = {
        **_stack_settings(args),
        **os.environ,
        "JOBS_TABLE": table,
        "ARCHIVE_BUCKET": args.bucket,
    }
    try:
        return Settings.from_env(env)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


#: How far this machine's clock may be from AWS's for commands that take a run's lease.
MAX_CLOCK_SKEW: Final = 60.0


def check_clock(args: argparse.Namespace) -> None:
    """Refuse to archive or erase on a machine whose clock is off: a lease ends at an
    absolute time in the table, so a clock minutes ahead would take a live invocation's
    lease (and write into a run a purge is erasing), one hours ahead would hold a run for
    hours. AWS itself refuses requests signed 15 minutes off; this is stricter."""
    skew = clock_skew(clients(args.region, args.endpoint_url).sts)
    if skew is None or abs(skew) <= MAX_CLOCK_SKEW:
        return
    where = "ahead of" if skew > 0 else "behind"
    raise UsageError(
        f"this machine's clock is {_duration(abs(skew))} {where} AWS's: the leases that keep "
        "two archivers (or a purge and an archiver) off one run rely on it; set the clock "
        "right (NTP) and run the command again"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def _outputs(args: argparse.Namespace) -> dict[str, str]:
    """The deployed stack's outputs: one DescribeStacks per command, kept on ``args``.
    Raises StackNotFoundError (each caller says what that means for it)."""
    outputs: dict[str, str] | None = getattr(args, "stack_outputs", None)
    if outputs is None:
        outputs = stack_outputs(clients(args.region, args.endpoint_url).cloudformation, args.stack)
        args.stack_outputs = outputs
    return outputs


def _stack_settings(args: argparse.Namespace) -> dict[str, str]:
    """The archiving settings the deployed stack gave its function; none where the stack
    cannot be read (not deployed under --stack, or the caller may not describe it): the
    environment and the defaults then decide, as the README says."""
    try:
        outputs = _outputs(args)
    except StackNotFoundError as exc:
        logger.debug("no stack settings", extra={"stack": args.stack, "why": str(exc)})
        return {}
    raw = outputs.get(SETTINGS_OUTPUT)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        raise UsageError(
            f"stack {args.stack!r} has an unreadable {SETTINGS_OUTPUT} output: {str(raw)[:80]!r}"
        ) from None
    if not isinstance(parsed, dict):
        raise UsageError(f"stack {args.stack!r} has an unreadable {SETTINGS_OUTPUT} output")
    return {str(k): str(v) for k, v in parsed.items()}


# -- output plumbing -----------------------------------------------------------------------


def width(stream: Any) -> int | None:
    """A terminal's own width; off a terminal (a pipe, CI logs) 160 rather than rich's 80."""
    isatty = getattr(stream, "isatty", None)
    if (callable(isatty) and isatty()) or os.environ.get("COLUMNS"):
        return None
    return 160


def progress(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


@contextlib.contextmanager
def quiet_function_logs() -> Iterator[None]:
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


def print_error(err: Console, message: str) -> None:
    # One line, however long: the terminal wraps it itself, and a log or a pipe keeps it
    # whole for grep (rich would break it at the console width otherwise).
    err.print(Text(f"{PROG}: error: {message}", style="red"), soft_wrap=True)


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return 2


_BAD_CREDENTIALS: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
    }
)


def explain(exc: Exception, args: argparse.Namespace | None) -> tuple[int, str]:
    """Exit status and a sentence for an error, instead of a traceback."""
    if isinstance(exc, RunError):
        return 1, str(exc)
    failure = aws_failure(exc)
    if failure is None:
        return 1, f"unexpected {exc.__class__.__name__}: {exc}"
    table = getattr(args, "table", None)
    region = getattr(args, "region", None) or default_region() or "(none set)"
    if failure.kind == "no-credentials":
        return 1, (
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if failure.kind == "no-region":
        return 2, "no AWS region: pass --region or set AWS_REGION"
    if failure.kind == "unreachable":
        return 1, f"cannot reach {failure.message}: is the endpoint right?"
    if failure.kind == "bad-parameters":
        return 2, failure.message
    if failure.kind == "botocore":
        return 1, failure.message
    code, message, operation = failure.code, failure.message, failure.operation
    if code == "ResourceNotFoundException" and table:
        return 1, f"table {table!r} not found in region {region}"
    if code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
        queue = getattr(args, "queue_url", None)
        return 1, f"queue {queue!r} not found in region {region}"
    if code in _BAD_CREDENTIALS:
        return 1, f"AWS refused the credentials ({code}): {message}"
    if code in {"AccessDenied", "AccessDeniedException"}:
        return 1, f"not allowed to call {operation}: {message}"
    return 1, f"{operation} failed: {code}: {message}"
