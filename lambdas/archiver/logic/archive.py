"""Archiving one job run: event -> job -> outputs -> archive -> record.

The same code serves the Lambda function, ``backfill`` and ``replay``. The copy itself is
:mod:`archiver.logic.copying`; this module decides which run an event means, takes the
run's lease, and writes what happened.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit

from archiver.aws import AwsClients
from archiver.contract import INCOMPLETE, JobKind, Metric
from archiver.deadline import Deadline
from archiver.errors import ArchiverError, JobNotFoundError, RetryableArchiveError
from archiver.logic.copying import CopyReport, OutputCopier, RetryPolicy
from archiver.logic.records import build_record
from archiver.models.jobs import JobDescription
from archiver.models.outputs import StoredObject
from archiver.observability import MetricsSink, NoMetrics, logger
from archiver.settings import Settings
from archiver.sources.https import LinkFetcher
from archiver.sources.links import LinkGuard
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_bucket import ArchiveBucket
from archiver.store.history_table import Claim, HistoryTable
from archiver.store.record import HistoryRecord
from archiver.timefmt import folder_stamp, iso_ms, parse_iso

Outcome = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE", "NOT_FINISHED"]

#: How far apart an event's time and an archived run's completion may be for the event to
#: count as a late duplicate of that run when Transcribe no longer knows the job.
_SAME_RUN_WINDOW = timedelta(minutes=10)

__all__ = ["ArchiveResult", "Archiver", "Deadline", "RetryPolicy"]


@dataclass
class ArchiveResult:
    job_name: str
    outcome: Outcome
    created_at: str | None = None
    archive_uri: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    record: HistoryRecord | None = None


class Archiver:
    """Copies a job run's outputs into the archive and records the run."""

    def __init__(
        self,
        settings: Settings,
        aws: AwsClients,
        *,
        fetcher: LinkFetcher | None = None,
        metrics: MetricsSink | None = None,
        retry: RetryPolicy | None = None,
        max_parallel_outputs: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self._metrics = metrics or NoMetrics()
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self.jobs = TranscribeJobs(aws.transcribe)
        self.bucket = ArchiveBucket(aws.s3, settings.archive_bucket)
        self.table = HistoryTable(aws.dynamodb, settings.jobs_table)
        self._copier = OutputCopier(
            settings,
            self.bucket,
            fetcher or LinkFetcher(LinkGuard(settings.allowed_source_hosts)),
            retry=self._retry,
            max_parallel_outputs=max_parallel_outputs,
            sleep=sleep,
        )

    # -- the whole run -------------------------------------------------------------------

    def archive_job(
        self,
        job_name: str,
        *,
        kind: JobKind = JobKind.TRANSCRIPTION,
        event_time: datetime | None = None,
        event_status: str | None = None,
        deadline: Deadline | None = None,
    ) -> ArchiveResult:
        """Archive the run of ``job_name`` that an event (or a listing) reported.

        Returns what happened. Raises RetryableArchiveError when the run could not be
        finished now but might be later (so Lambda retries it, then parks it in the DLQ).
        """
        deadline = deadline or Deadline.default()
        try:
            job = self.jobs.describe(kind, job_name)
        except JobNotFoundError as exc:
            return self._record_missing(kind, job_name, event_time, event_status, str(exc))
        if event_time is not None and job.created > event_time + timedelta(seconds=1):
            # The name was reused: the run the event reported was deleted before we came.
            return self._record_missing(
                kind,
                job_name,
                event_time,
                event_status,
                f"the reported run no longer exists; the name now belongs to a run created "
                f"{job.created_at}",
            )
        if not job.finished:
            logger.warning(
                "job is not finished; nothing to archive yet",
                extra={"job_name": job_name, "job_status": job.status},
            )
            return ArchiveResult(job_name, "NOT_FINISHED")
        return self._archive_run(job, deadline)

    def folder(self, job: JobDescription) -> str:
        """The run's folder in the archive bucket (docs/contract.md, "Archive layout")."""
        return f"{self.settings.archive_prefix}{job.name}/{folder_stamp(job.created)}/"

    def _archive_run(self, job: JobDescription, deadline: Deadline) -> ArchiveResult:
        folder = self.folder(job)
        owner = uuid.uuid4().hex
        previous = self._take_lease(job.name, job.created_at, owner, deadline)
        if previous is not None and previous.archived:
            self._metrics.add(Metric.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
            logger.info("run already archived; nothing copied", extra={"job_name": job.name})
            return ArchiveResult(
                job.name, "DUPLICATE", job.created_at, previous.archive_uri, record=previous
            )
        log_keys = {"job_name": job.name, "created_at": job.created_at}
        done = previous.stored_outputs() if previous is not None else {}
        report = CopyReport()
        try:
            self._copier.copy(
                job, folder, done, deadline, lambda: self.jobs.describe(job.kind, job.name), report
            )
        except BaseException as exc:
            # Give the lease back with a visible reason, so that a retry can take over at
            # once and copy only what this attempt did not.
            kept = done | report.stored
            try:
                self._finish(job, folder, owner, kept, {"archive": _safe_reason(exc)})
            except Exception:
                logger.exception("could not record the failed attempt", extra=log_keys)
            raise
        record = self._finish(job, folder, owner, report.stored, report.errors | report.retryable)
        if report.link_refreshes:
            self._metrics.add(Metric.LINKS_REFRESHED, MetricUnit.Count, report.link_refreshes)
        if report.retryable:
            raise RetryableArchiveError(
                f"{job.name}: will retry: "
                + "; ".join(f"{k}: {v}" for k, v in report.retryable.items())
            )
        self._report(job, record, report, previous)
        logger.info(
            "job run archived" if record.archived else "job run incomplete",
            extra=log_keys
            | {
                "archive_status": record.archive_status,
                "errors": report.errors,
                "outputs": sorted(report.stored),
            },
        )
        return ArchiveResult(
            job.name,
            "ARCHIVED" if record.archived else "INCOMPLETE",
            job.created_at,
            record.archive_uri,
            report.errors,
            record,
        )

    # -- leases --------------------------------------------------------------------------

    def _take_lease(
        self, name: str, created_at: str, owner: str, deadline: Deadline
    ) -> HistoryRecord | None:
        """Claim the run; wait while a concurrent delivery holds it. Returns the prior item."""
        delay = self._retry.busy_poll
        while True:
            now = time.time()
            # The holder cannot outlive its own Lambda timeout; nor can we.
            lease_until = now + max(deadline.remaining(), 0) + 90
            claim, previous = self.table.claim(
                name, created_at, owner, now=now, lease_until=lease_until
            )
            if claim in (Claim.CLAIMED, Claim.ALREADY_ARCHIVED):
                return previous
            if deadline.remaining() < delay + 5:
                raise RetryableArchiveError(
                    f"{name}: another invocation is still archiving run {created_at}"
                )
            if previous is not None and previous.lease_is_live(now):
                self._sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
                delay = min(delay * 2, 5.0)
            # else the holder finished (INCOMPLETE) or its lease ran out just now: claim again

    # -- records -------------------------------------------------------------------------

    def _finish(
        self,
        job: JobDescription,
        folder: str,
        owner: str,
        stored: Mapping[str, StoredObject],
        errors: Mapping[str, str],
    ) -> HistoryRecord:
        record = build_record(job, self.bucket.uri(folder), stored, errors)
        if not self.table.complete(record, owner):
            logger.warning(
                "lease lost to another invocation; its record stands",
                extra={"job_name": job.name, "created_at": job.created_at},
            )
        return record

    def _record_missing(
        self,
        kind: JobKind,
        job_name: str,
        event_time: datetime | None,
        event_status: str | None,
        reason: str,
    ) -> ArchiveResult:
        """The event's run is gone from Transcribe: record that, keyed by the event's time."""
        if event_time is None:
            raise JobNotFoundError(reason)
        for run in self.table.runs(job_name):
            if run.archived and run.completed_at:
                gap = abs(parse_iso(run.completed_at) - event_time)
                if gap <= _SAME_RUN_WINDOW:
                    self._metrics.add(Metric.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
                    logger.info(
                        "job gone from Transcribe, but this run is archived already",
                        extra={"job_name": job_name, "created_at": run.created_at},
                    )
                    return ArchiveResult(
                        job_name, "DUPLICATE", run.created_at, run.archive_uri, record=run
                    )
        stamp = iso_ms(event_time)
        record = HistoryRecord(
            job_name=job_name,
            created_at=stamp,
            job_kind=kind,
            job_status=event_status,
            completed_at=stamp,  # the event fires on completion: the best time we have
            archive_status=INCOMPLETE,
            archive_error=f"job not found at Transcribe: {reason}",
            archived_at=iso_ms(datetime.now(UTC)),
        )
        self.table.put_if_absent(record)
        self._metrics.add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning("job not found at Transcribe; recorded INCOMPLETE", extra=record.to_plain())
        return ArchiveResult(job_name, "INCOMPLETE", stamp, None, {"job": reason}, record)

    def _report(
        self,
        job: JobDescription,
        record: HistoryRecord,
        report: CopyReport,
        previous: HistoryRecord | None,
    ) -> None:
        add = self._metrics.add
        if record.archived:
            add(Metric.JOBS_ARCHIVED, MetricUnit.Count, 1)
            if job.completed is not None:
                latency = (datetime.now(UTC) - job.completed).total_seconds()
                add(Metric.ARCHIVE_LATENCY, MetricUnit.Seconds, max(latency, 0.0))
        else:
            add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        if job.status == "FAILED":
            add(Metric.JOBS_FAILED_AT_TRANSCRIBE, MetricUnit.Count, 1)
        done_before = previous.outputs if previous is not None else {}
        new_bytes = sum(s.size for n, s in report.stored.items() if n not in done_before)
        add(Metric.BYTES_ARCHIVED, MetricUnit.Bytes, new_bytes)


def _safe_reason(exc: BaseException) -> str:
    if isinstance(exc, ArchiverError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}"
