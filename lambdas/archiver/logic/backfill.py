"""Backfill: archive the finished jobs Transcribe knows and the history table does not.

Jobs of both kinds come from ``ListTranscriptionJobs`` and ``ListCallAnalyticsJobs`` (paced
under their 5 requests/s quota; botocore's adaptive retries absorb any LimitExceededException
left). Each one is looked up in the
table with a GetItem on its run's key and, unless that run is ARCHIVED already, archived
by :meth:`archiver.logic.archive.Archiver.archive_job`: the code the function runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from archiver.contract import FINISHED_STATUSES, JobKind
from archiver.deadline import Deadline
from archiver.errors import JobNotFinishedError, RetryableArchiveError, one_line
from archiver.logic.archive import Archiver
from archiver.models.jobs import ListedJob
from archiver.observability import logger
from archiver.sources.transcribe import LIST_RATE, RateLimiter, TranscribeJobs
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord

FINISHED: Final = FINISHED_STATUSES

Verdict = Literal[
    "ALREADY_ARCHIVED",
    "SKIPPED",
    "BUSY",
    "STUCK",
    "ARCHIVED",
    "INCOMPLETE",
    "DUPLICATE",
    "FAILED",
    "PENDING",
]
#: Why a run the table holds needs no archiving now (None: archive it).
SkipRule = Callable[[HistoryRecord, float], Verdict | None]
#: A job started with less time than this left would be cut off; leave it for later.
_MIN_TIME_FOR_A_JOB: Final = 20.0

__all__ = ["Backfill", "BackfillReport", "JobResult", "ListedJob", "list_finished_jobs"]


@dataclass(frozen=True)
class JobResult:
    job: ListedJob
    verdict: Verdict
    #: Why a run is INCOMPLETE or FAILED, or (PENDING) what the table holds for it now.
    reason: str = ""
    #: The table held nothing for the run before: no event archived it.
    recovered: bool = False
    #: The run is at rest in the table now (HistoryRecord.at_rest): ARCHIVED, PURGED, or
    #: INCOMPLETE for a reason a retry cannot cure. A run that is not holds the sweep's floor.
    at_rest: bool = False


@dataclass
class BackfillReport:
    listed: int = 0
    results: list[JobResult] = field(default_factory=list)
    #: Job kinds whose listing failed, with the error in one line; the others went on.
    failed_kinds: dict[JobKind, str] = field(default_factory=dict)

    def with_verdict(self, *verdicts: Verdict) -> list[JobResult]:
        return [r for r in self.results if r.verdict in verdicts]

    @property
    def failed(self) -> bool:
        return bool(self.failed_kinds) or any(r.verdict == "FAILED" for r in self.results)


def list_finished_jobs(
    jobs: TranscribeJobs,
    *,
    statuses: Iterable[str] = FINISHED,
    kinds: Iterable[JobKind] | None = None,
    since: datetime | None = None,
    limiter: RateLimiter | None = None,
    on_page: Callable[[int], None] | None = None,
    failed_kinds: dict[JobKind, str] | None = None,
) -> list[ListedJob]:
    """Every job of ``kinds`` (None: every kind) with one of ``statuses`` created at or after
    ``since``, newest first.

    ``on_page`` gets the number of jobs kept so far. With ``failed_kinds``, a kind whose
    listing fails is left out, its error noted there in one line, and the others go on
    (without it, the error is raised).
    """
    limiter = limiter or RateLimiter(LIST_RATE)
    found: dict[tuple[JobKind, str], ListedJob] = {}
    for kind in jobs.kinds() if kinds is None else kinds:
        of_kind: dict[tuple[JobKind, str], ListedJob] = {}
        try:
            for status in statuses:
                for job in jobs.list_jobs(kind, status, since=since, limiter=limiter):
                    of_kind.setdefault((kind, job.name), job)
                    if on_page is not None:
                        on_page(len(found) + len(of_kind))
        except Exception as exc:
            if failed_kinds is None:
                raise
            failed_kinds[kind] = describe_error(exc)
            logger.error(
                "listing a job kind failed; the other kinds go on",
                extra={"job_kind": kind.value, "error": failed_kinds[kind]},
            )
            continue
        found.update(of_kind)
    return sorted(found.values(), key=lambda j: (j.created, j.name), reverse=True)


def skip_archived(item: HistoryRecord, now: float) -> Verdict | None:
    """Backfill's rule: every run not ARCHIVED (or PURGED) is archived (again)."""
    return "ALREADY_ARCHIVED" if item.settled else None


#: Verdicts of a skip rule after which the run is at rest (BUSY: another holds its lease).
_AT_REST_SKIPS: Final[frozenset[Verdict]] = frozenset({"ALREADY_ARCHIVED", "SKIPPED"})


class Backfill:
    """Checks listed jobs against the table and archives the missing runs, in parallel."""

    def __init__(
        self,
        table: HistoryTable,
        archiver: Archiver | None = None,
        *,
        workers: int = 4,
        skip: SkipRule = skip_archived,
    ) -> None:
        """``archiver``: None for a dry run (look, never archive). ``skip``: why a run the
        table holds needs nothing now (None: archive it)."""
        self._table = table
        self._archiver = archiver
        self._workers = workers
        self._skip = skip

    def run(
        self,
        jobs: list[ListedJob],
        *,
        deadline: Deadline | None = None,
        on_result: Callable[[JobResult], None] | None = None,
    ) -> BackfillReport:
        """One result per job, in the order of ``jobs``. Never raises for a single job.

        With ``deadline`` (the function's), jobs not started in time are FAILED with the
        reason; each job's own archiving stops at the same deadline.
        """
        report = BackfillReport(listed=len(jobs))
        if not jobs:
            return report
        with ThreadPoolExecutor(
            max_workers=min(self._workers, len(jobs)), thread_name_prefix="backfill"
        ) as pool:
            futures = [pool.submit(self._one, job, deadline, on_result) for job in jobs]
            report.results = [f.result() for f in futures]
        return report

    def _one(
        self,
        job: ListedJob,
        deadline: Deadline | None,
        on_result: Callable[[JobResult], None] | None,
    ) -> JobResult:
        if deadline is not None and deadline.remaining() < _MIN_TIME_FOR_A_JOB:
            result = JobResult(job, "FAILED", "out of time before this job could start")
        else:
            result = self._check_and_archive(job, deadline)
        if on_result is not None:
            on_result(result)
        return result

    def _check_and_archive(self, job: ListedJob, deadline: Deadline | None) -> JobResult:
        try:
            item = self._table.get_run_of(job.kind, job.name, job.created_at)
            if item is not None and (verdict := self._skip(item, time.time())) is not None:
                return JobResult(
                    job, verdict, item.archive_error or "", at_rest=verdict in _AT_REST_SKIPS
                )
            recovered = item is None
            if self._archiver is None:
                held = (
                    "not in the table"
                    if item is None
                    else f"{item.archive_status or 'no status'}: "
                    f"{item.archive_error or 'no reason recorded'}"
                )
                return JobResult(job, "PENDING", held, recovered=recovered)
            outcome = self._archiver.archive_listed(job, deadline=deadline)
        except JobNotFinishedError:
            return JobResult(job, "FAILED", "Transcribe reports the job as not finished")
        except RetryableArchiveError as exc:
            return JobResult(job, "FAILED", f"could not finish now; try again later: {exc}")
        except Exception as exc:  # one job's fault must not stop the others
            return JobResult(job, "FAILED", describe_error(exc))
        reason = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items()))
        at_rest = outcome.record is not None and outcome.record.at_rest
        return JobResult(job, outcome.outcome, reason, recovered=recovered, at_rest=at_rest)


def describe_error(exc: BaseException) -> str:
    """One line about an error, for people: the operation, the HTTP status, the AWS error
    code and the service's message when there are any.

    A body that is not the service's JSON (an HTML page from a proxy or load balancer)
    leaves botocore only the status as a code and, depending on its version, the page or
    the status's reason as a message: tags and line breaks never reach the line.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        code, message = str(error.get("Code", "")), one_line(str(error.get("Message", "")))
        operation = getattr(exc, "operation_name", "the request")
        parts = [f"{operation} failed"]
        if status:
            parts.append(f"HTTP {status}")
        if code and code != str(status):
            parts.append(code)
        if message:
            parts.append(message)
        return ": ".join(parts)
    text = one_line(str(exc))
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
