"""Backfill: archive the finished jobs Transcribe knows and the history table does not.

Jobs come from ``ListTranscriptionJobs`` (paced under its 5 requests/s quota; botocore's
adaptive retries absorb any LimitExceededException left). Each one is looked up in the
table with a GetItem on its run's key and, unless that run is ARCHIVED already, archived
by :meth:`archiver.logic.archive.Archiver.archive_job`: the code the function runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from archiver.errors import JobNotFoundError, RetryableArchiveError
from archiver.logic.archive import Archiver
from archiver.store.history_table import ARCHIVED, HistoryTable
from archiver.timefmt import iso_ms

if TYPE_CHECKING:
    from mypy_boto3_transcribe import TranscribeServiceClient

FINISHED: Final = ("COMPLETED", "FAILED")
#: ListTranscriptionJobs quota (requests per second).
LIST_RATE: Final = 5.0
#: The API's largest page; its default is 5.
PAGE_SIZE: Final = 100

Verdict = Literal["ALREADY_ARCHIVED", "ARCHIVED", "INCOMPLETE", "DUPLICATE", "FAILED", "PENDING"]


@dataclass(frozen=True)
class ListedJob:
    """One job run as ``ListTranscriptionJobs`` summarizes it."""

    name: str
    status: str
    created: datetime
    completed: datetime | None

    @property
    def created_at(self) -> str:
        """The run's sort key in the history table."""
        return iso_ms(self.created)


@dataclass(frozen=True)
class JobResult:
    job: ListedJob
    verdict: Verdict
    #: Why a run is INCOMPLETE or FAILED, or (PENDING) what the table holds for it now.
    reason: str = ""


@dataclass
class BackfillReport:
    listed: int = 0
    results: list[JobResult] = field(default_factory=list)

    def with_verdict(self, *verdicts: Verdict) -> list[JobResult]:
        return [r for r in self.results if r.verdict in verdicts]

    @property
    def failed(self) -> bool:
        return any(r.verdict == "FAILED" for r in self.results)


class RateLimiter:
    """At most ``rate`` calls of :meth:`wait` per second, evenly spaced."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


def list_finished_jobs(
    transcribe: TranscribeServiceClient,
    *,
    statuses: Iterable[str] = FINISHED,
    since: datetime | None = None,
    limiter: RateLimiter | None = None,
    on_page: Callable[[int], None] | None = None,
) -> list[ListedJob]:
    """Every job with one of ``statuses`` created at or after ``since``, newest first.

    The service lists newest CreationTime first, but does not document that order: each
    job is filtered on its own CreationTime, and paging stops early only while the pages
    seen so far have kept that order. ``on_page`` gets the number of jobs kept so far.
    """
    limiter = limiter or RateLimiter(LIST_RATE)
    jobs: dict[str, ListedJob] = {}
    for status in statuses:
        for job in _listed(transcribe, status, since, limiter):
            jobs.setdefault(job.name, job)
            if on_page is not None:
                on_page(len(jobs))
    return sorted(jobs.values(), key=lambda j: (j.created, j.name), reverse=True)


def _listed(
    transcribe: TranscribeServiceClient,
    status: str,
    since: datetime | None,
    limiter: RateLimiter,
) -> Iterator[ListedJob]:
    kwargs: dict[str, Any] = {"Status": status, "MaxResults": PAGE_SIZE}
    newest_first = True
    previous: datetime | None = None
    while True:
        limiter.wait()
        page = transcribe.list_transcription_jobs(**kwargs)
        reached_older = False
        for summary in page.get("TranscriptionJobSummaries", []):
            created = summary.get("CreationTime")
            if created is None or summary.get("TranscriptionJobStatus") not in FINISHED:
                continue
            if previous is not None and created > previous:
                newest_first = False
            previous = created
            if since is not None and created < since:
                reached_older = True
                continue
            yield ListedJob(
                summary["TranscriptionJobName"],
                summary["TranscriptionJobStatus"],
                created,
                summary.get("CompletionTime"),
            )
        token = page.get("NextToken")
        if not token or (reached_older and newest_first):
            return
        kwargs["NextToken"] = token


class Backfill:
    """Checks listed jobs against the table and archives the missing runs, in parallel."""

    def __init__(
        self,
        table: HistoryTable,
        archiver: Archiver | None = None,
        *,
        workers: int = 4,
    ) -> None:
        """``archiver``: None for a dry run (look, never archive)."""
        self._table = table
        self._archiver = archiver
        self._workers = workers

    def run(
        self,
        jobs: list[ListedJob],
        *,
        on_result: Callable[[JobResult], None] | None = None,
    ) -> BackfillReport:
        """One result per job, in the order of ``jobs``. Never raises for a single job."""
        report = BackfillReport(listed=len(jobs))
        if not jobs:
            return report
        with ThreadPoolExecutor(
            max_workers=min(self._workers, len(jobs)), thread_name_prefix="backfill"
        ) as pool:
            futures = [pool.submit(self._one, job, on_result) for job in jobs]
            report.results = [f.result() for f in futures]
        return report

    def _one(self, job: ListedJob, on_result: Callable[[JobResult], None] | None) -> JobResult:
        result = self._check_and_archive(job)
        if on_result is not None:
            on_result(result)
        return result

    def _check_and_archive(self, job: ListedJob) -> JobResult:
        try:
            item = self._table.get_run(job.name, job.created_at)
            if item is not None and item.get("ArchiveStatus") == ARCHIVED:
                return JobResult(job, "ALREADY_ARCHIVED")
            if self._archiver is None:
                held = (
                    "not in the table"
                    if item is None
                    else f"{item.get('ArchiveStatus', 'no status')}: "
                    f"{item.get('ArchiveError', 'no reason recorded')}"
                )
                return JobResult(job, "PENDING", held)
            outcome = self._archiver.archive_job(job.name)
        except JobNotFoundError as exc:
            return JobResult(job, "FAILED", f"deleted from Transcribe before archiving: {exc}")
        except RetryableArchiveError as exc:
            return JobResult(job, "FAILED", f"could not finish now; run backfill again: {exc}")
        except Exception as exc:  # one job's fault must not stop the others
            return JobResult(job, "FAILED", describe_error(exc))
        if outcome.outcome == "NOT_FINISHED":
            return JobResult(job, "FAILED", "Transcribe reports the job as not finished")
        reason = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items()))
        return JobResult(job, outcome.outcome, reason)


def describe_error(exc: BaseException) -> str:
    """One line about an error, for people: the AWS error code and message when there is one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = error.get("Code", ""), error.get("Message", "")
        operation = getattr(exc, "operation_name", "the request")
        return f"{operation} failed: {code}: {message}".rstrip(": ")
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
