"""Archiving one job run: event -> job -> outputs -> archive -> record.

The same code serves the Lambda function, ``backfill`` and ``replay``. The copy itself is
:mod:`archiver.logic.copying`; this module decides which run an event means, takes the
run's lease, and writes what happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from aws_lambda_powertools.metrics import MetricUnit

from archiver.aws import AwsClients
from archiver.contract import INCOMPLETE, PURGED, JobKind, Metric
from archiver.deadline import Deadline
from archiver.errors import (
    ArchiverError,
    JobNotFinishedError,
    JobNotFoundError,
    RetryableArchiveError,
)
from archiver.logic.copying import CopyReport, OutputCopier, RetryPolicy
from archiver.logic.lease import take_lease
from archiver.logic.records import build_record
from archiver.models.jobs import JobDescription
from archiver.models.outputs import StoredObject
from archiver.observability import MetricsSink, NoMetrics, logger
from archiver.settings import Settings
from archiver.sources.https import LinkFetcher
from archiver.sources.links import LinkGuard
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_bucket import ArchiveBucket
from archiver.store.history_table import HistoryTable, shared_key
from archiver.store.record import HistoryRecord
from archiver.timefmt import folder_stamp, iso_ms

Outcome = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE"]

#: ArchiveError of a run whose archiving has started and not ended (or was cut off).
UNDER_WAY: Final = "archiving under way (or cut off before it could record why)"
#: ArchiveError prefix of a run an event reported that Transcribe no longer has.
RUN_GONE: Final = "the run no longer exists"
#: Events carry their time to the second; a run's CreationTime has milliseconds.
_EVENT_RESOLUTION: Final = timedelta(seconds=1)
#: Seconds between looks at a run whose event says it ended before the API does.
_FINISH_POLLS: Final = (1.0, 2.0, 4.0)

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

        An event (``event_time``, ``event_status``) is matched only to a run it can have
        reported: one created at or before the event, with the event's status. Returns what
        the table now holds for that run. Raises RetryableArchiveError when the run could
        not be finished now but might be later (the event is retried, then parked in a DLQ).
        """
        deadline = deadline or Deadline.default()
        try:
            job = self._describe_reported(kind, job_name, event_time, event_status)
            kind = job.kind
            if event_time is not None and not job.finished and _may_report(job, event_time):
                job = self._wait_until_finished(job, deadline)
        except JobNotFoundError as exc:
            if event_time is None:
                raise
            return self._reported_run_gone(
                kind, job_name, event_time, event_status, f"Transcribe no longer knows it ({exc})"
            )
        if event_time is not None and not _may_report(job, event_time, event_status):
            # The name was reused: the run the event reported was deleted before we came.
            return self._reported_run_gone(
                kind,
                job_name,
                event_time,
                event_status,
                f"the name now belongs to a run created {job.created_at} ({job.status})",
            )
        if not job.finished:
            # Listed or asked for by name (backfill, sweep) while it still runs: its own
            # event will come. Nothing to record yet.
            raise JobNotFinishedError(f"{job_name}: Transcribe reports it {job.status}")
        return self._archive_run(job, deadline)

    def _describe_reported(
        self,
        kind: JobKind,
        job_name: str,
        event_time: datetime | None,
        event_status: str | None,
    ) -> JobDescription:
        """The job an event (or a listing) names, of ``kind``; raises JobNotFoundError.

        Whether Transcribe Medical sends ``Transcribe Job State Change`` is not documented
        (docs/contract.md): when GetTranscriptionJob knows no job the event can have
        reported (none, a later one of the name, one that ended otherwise), the Medical job
        of that name is taken if the event can have reported it.
        """
        if event_time is None or kind not in _MAY_BE_MEDICAL:
            return self.jobs.describe(kind, job_name)
        try:
            job = self.jobs.describe(kind, job_name)
        except JobNotFoundError:
            medical = self._medical_reported(job_name, event_time, event_status)
            if medical is None:
                raise
            return medical
        if _may_report(job, event_time, event_status):
            return job
        # Otherwise the caller records that the event's run is gone, unless it was Medical.
        return self._medical_reported(job_name, event_time, event_status) or job

    def _medical_reported(
        self, job_name: str, event_time: datetime, event_status: str | None
    ) -> JobDescription | None:
        """The Medical job of the name, if an event at ``event_time`` can have reported it
        (one more Get call)."""
        medical = self.jobs.find(JobKind.MEDICAL, job_name)
        if medical is not None and _may_report(medical, event_time, event_status):
            return medical
        return None

    def folder(self, job: JobDescription) -> str:
        """The run's folder in the archive bucket (docs/contract.md, "Archive layout")."""
        return f"{self.settings.prefix(job.kind)}{job.name}/{folder_stamp(job.created)}/"

    def _wait_until_finished(self, job: JobDescription, deadline: Deadline) -> JobDescription:
        """The event says the run ended, the API does not yet (read lag): ask again briefly.

        Raises JobNotFinishedError if it still runs, so that the event is retried: an event
        is never acknowledged without a record.
        """
        for delay in _FINISH_POLLS:
            if deadline.remaining() < delay + 10:
                break
            self._sleep(delay)
            job = self.jobs.describe(job.kind, job.name)
            if job.finished:
                return job
        raise JobNotFinishedError(
            f"{job.name}: the event says the run ended, Transcribe still reports {job.status}; "
            "will retry"
        )

    def _archive_run(self, job: JobDescription, deadline: Deadline) -> ArchiveResult:
        folder = self.folder(job)
        owner = uuid.uuid4().hex
        # What the item says from the moment the lease is taken (no ArchivedAt yet).
        start = replace(
            build_record(job, self.bucket.uri(folder), {}, {"archive": UNDER_WAY}),
            archived_at=None,
            retry_archive=True,
            expires_at=self._expiry(),
        )
        previous, key = take_lease(
            self.table,
            start,
            owner,
            deadline=deadline,
            busy_poll=self._retry.busy_poll,
            sleep=self._sleep,
        )
        if previous is not None and previous.settled:
            self._metrics.add(Metric.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
            logger.info(
                "run already settled; nothing copied",
                extra={
                    "job_name": job.name,
                    "created_at": job.created_at,
                    "archive_status": previous.archive_status,
                },
            )
            return _result(previous, "DUPLICATE")
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
                self._finish(job, key, owner, kept, {"archive": _safe_reason(exc)}, retry=True)
            except Exception:
                logger.exception("could not record the failed attempt", extra=log_keys)
            raise
        record, ours = self._finish(
            job,
            key,
            owner,
            report.stored,
            report.errors | report.retryable,
            retry=bool(report.retryable),
        )
        if report.link_refreshes:
            self._metrics.add(Metric.LINKS_REFRESHED, MetricUnit.Count, report.link_refreshes)
        if report.retryable:
            raise RetryableArchiveError(
                f"{job.name}: will retry: "
                + "; ".join(f"{k}: {v}" for k, v in report.retryable.items())
            )
        if not ours or record is None:
            return self._lost_lease(record)
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
        return _result(record, "ARCHIVED" if record.archived else "INCOMPLETE", report.errors)

    def _lost_lease(self, held: HistoryRecord | None) -> ArchiveResult:
        """Another invocation took the run over: report what the table holds, not our copy."""
        if held is not None and held.settled:
            logger.warning(
                "lease lost to another invocation; its record stands",
                extra={"job_name": held.job_name, "archive_status": held.archive_status},
            )
            return _result(held, "DUPLICATE")
        if held is None or held.lease_is_live(time.time()) or held.archive_status is None:
            # Still under way elsewhere (or gone): only a later look can tell the outcome.
            raise RetryableArchiveError(
                "another invocation took over this run before its record was written"
            )
        return _result(held, "INCOMPLETE", {"archive": held.archive_error or ""})

    # -- records -------------------------------------------------------------------------

    def _finish(
        self,
        job: JobDescription,
        key: str,
        owner: str,
        stored: Mapping[str, StoredObject],
        errors: Mapping[str, str],
        *,
        retry: bool,
    ) -> tuple[HistoryRecord | None, bool]:
        """Write the run's record while the lease is ours.

        Returns the record the table holds now, and whether it is ours: an invocation that
        lost its lease reports the other's record, never what it meant to write.
        """
        record = build_record(job, self.bucket.uri(self.folder(job)), stored, errors)
        record.created_at = key
        record.expires_at = self._expiry()
        if not record.archived:
            record.retry_archive = retry
        if self.table.complete(record, owner):
            return record, True
        return self.table.get_run(job.name, key), False

    def _expiry(self) -> int | None:
        """When a record written now expires (DynamoDB TTL), if the stack keeps history for a
        limited time."""
        days = self.settings.history_retention_days
        return int(time.time()) + days * 86400 if days is not None else None

    def _reported_run_gone(
        self,
        kind: JobKind,
        job_name: str,
        event_time: datetime,
        event_status: str | None,
        why: str,
    ) -> ArchiveResult:
        """The event's run no longer exists at Transcribe: find it in the table, or record it.

        A late or replayed event of a run the table already holds (whatever its status) adds
        nothing; otherwise the run gets its own INCOMPLETE item keyed by the event's time.
        """
        held = self._run_reported(kind, job_name, event_time, event_status)
        if held is not None:
            self._metrics.add(Metric.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
            logger.info(
                "late event of a run the table already holds; nothing added",
                extra={"job_name": job_name, "created_at": held.created_at},
            )
            return _result(held, "DUPLICATE")
        stamp = iso_ms(event_time)
        record = HistoryRecord(
            job_name=job_name,
            created_at=stamp,
            job_kind=kind,
            job_status=event_status,
            completed_at=stamp,  # the event fires on completion: the best time we have
            archive_status=INCOMPLETE,
            archive_error=f"{RUN_GONE}: {why}",
            archived_at=iso_ms(datetime.now(UTC)),
            expires_at=self._expiry(),
        )
        if not self.table.put_if_absent(record):
            held = self.table.get_run_of(kind, job_name, stamp)
            if held is not None:  # a concurrent delivery of the same event recorded it first
                return _result(held, "DUPLICATE")
            record.created_at = shared_key(stamp, kind)  # the other kind's run has the key
            if not self.table.put_if_absent(record):
                return _result(
                    self.table.get_run(job_name, record.created_at) or record, "DUPLICATE"
                )
        self._metrics.add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning(
            "reported run no longer exists; recorded INCOMPLETE", extra=record.to_plain()
        )
        return _result(record, "INCOMPLETE", {"job": record.archive_error or ""})

    def _run_reported(
        self, kind: JobKind, job_name: str, event_time: datetime, event_status: str | None
    ) -> HistoryRecord | None:
        """The newest recorded run an event can have reported: created at or before the
        event (its time has one-second resolution), with the event's status."""
        latest = iso_ms(event_time + _EVENT_RESOLUTION)
        candidates = [
            run
            for run in self.table.runs(job_name)
            # A tombstone keeps no kind: a purged run answers for either.
            if (run.kind in _reported_kinds(kind) or run.archive_status == PURGED)
            and run.created_at <= latest
            and (event_status is None or run.job_status in (None, event_status))
        ]
        return max(candidates, key=lambda r: r.created_at, default=None)

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


#: Event kinds whose job may be a Medical one (see Archiver._describe_reported).
_MAY_BE_MEDICAL: Final = frozenset({JobKind.TRANSCRIPTION})


def _reported_kinds(kind: JobKind) -> frozenset[JobKind]:
    """The kinds of run an event of ``kind`` can have reported."""
    return frozenset({kind, JobKind.MEDICAL}) if kind in _MAY_BE_MEDICAL else frozenset({kind})


def _may_report(job: JobDescription, event_time: datetime, status: str | None = None) -> bool:
    """Whether an event at ``event_time`` (with ``status``) can be about this run."""
    if job.created > event_time + _EVENT_RESOLUTION:
        return False
    return status is None or not job.finished or job.status == status


def _result(
    record: HistoryRecord, outcome: Outcome, errors: Mapping[str, str] | None = None
) -> ArchiveResult:
    return ArchiveResult(
        record.job_name,
        outcome,
        record.created_at,
        record.archive_uri,
        dict(errors or {}),
        record,
    )


def _safe_reason(exc: BaseException) -> str:
    if isinstance(exc, ArchiverError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}"
