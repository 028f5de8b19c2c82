"""Archiving one job run: event -> job -> outputs -> archive -> record.

The same code serves the Lambda function, ``backfill`` and ``replay``. The copy itself is
:mod:`archiver.logic.copying`; this module decides which run an event means, takes the
run's lease, and writes what happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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
from archiver.models.jobs import JobDescription, ListedJob
from archiver.models.outputs import StoredObject
from archiver.observability import MetricsSink, NoMetrics, logger
from archiver.settings import Settings
from archiver.sources.https import LinkFetcher
from archiver.sources.links import LinkGuard
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_bucket import ArchiveBucket
from archiver.store.history_table import HistoryTable, shared_key
from archiver.store.record import HistoryRecord
from archiver.timefmt import folder_stamp, iso_ms, parse_iso

Outcome = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE"]

#: ArchiveError of a run whose archiving has started and not ended (or was cut off).
UNDER_WAY: Final = "archiving under way (or cut off before it could record why)"
#: ArchiveError prefix of a run an event reported that Transcribe no longer has.
RUN_GONE: Final = "the run no longer exists"
#: Events carry their time to the second; a run's CreationTime has milliseconds.
_EVENT_RESOLUTION: Final = timedelta(seconds=1)
#: How far an event's time may stray from the CompletionTime of the run that sent it: the
#: service sends the event as the run completes, so only clock skew and the event's
#: one-second truncation separate them. Kept small on purpose: two runs of one name that
#: completed further apart than this are never taken for each other (a wrong match would
#: lose a run silently; a missed one records the event's run once more, and alarms).
_EVENT_SKEW: Final = timedelta(seconds=2)
#: Seconds between looks at a run whose event says it ended before the API does.
#: Writes each run's "unsettled" marker while its outputs are copied (one DynamoDB write
#: off every run's path). Threads start on first use; a batch's records share them.
_MARKERS: Final = ThreadPoolExecutor(max_workers=16, thread_name_prefix="marker")
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
        event_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> ArchiveResult:
        """Archive the run of ``job_name`` that an event reported (or, with no event, the
        name's current run).

        An event (``event_time``, ``event_status``, ``event_id``) is matched only to a run
        it can have reported: one created at or before the event, with the event's status,
        and not already reported by another event. Returns what the table now holds for that
        run. Raises RetryableArchiveError when the run could not be finished now but might
        be later (the event is retried, then parked in a DLQ).
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
                _Reported(kind, job_name, event_time, event_status, event_id),
                f"Transcribe no longer knows it ({exc})",
            )
        if event_time is not None and not _may_report(job, event_time, event_status):
            # The name was reused: the run the event reported was deleted before we came.
            return self._reported_run_gone(
                _Reported(kind, job_name, event_time, event_status, event_id),
                f"the name now belongs to a run created {job.created_at} ({job.status})",
            )
        if not job.finished:
            # Listed or asked for by name (backfill, sweep) while it still runs: its own
            # event will come. Nothing to record yet.
            raise JobNotFinishedError(f"{job_name}: Transcribe reports it {job.status}")
        reported = (
            _Reported(kind, job_name, event_time, event_status, event_id)
            if event_time is not None
            else None
        )
        return self._archive_run(job, deadline, reported)

    def archive_listed(
        self, listed: ListedJob, *, deadline: Deadline | None = None
    ) -> ArchiveResult:
        """Archive the run a listing showed (sweep, backfill): that run, never a later run
        of its name. A run deleted since it was listed is recorded INCOMPLETE, for good,
        under its own CreationTime: the listing is the last word Transcribe said of it.
        """
        deadline = deadline or Deadline.default()
        try:
            job = self.jobs.describe(listed.kind, listed.name)
        except JobNotFoundError as exc:
            return self._listed_run_gone(listed, f"Transcribe no longer knows it ({exc})")
        if job.created_at != listed.created_at:
            return self._listed_run_gone(
                listed, f"the name now belongs to a run created {job.created_at} ({job.status})"
            )
        if not job.finished:
            raise JobNotFinishedError(f"{listed.name}: Transcribe reports it {job.status}")
        return self._archive_run(job, deadline)

    def retry_run(self, held: HistoryRecord, *, deadline: Deadline | None = None) -> ArchiveResult:
        """Try a run the table holds unsettled once more (the sweep's second net): archive
        it if Transcribe still has that run, else record it INCOMPLETE for good."""
        deadline = deadline or Deadline.default()
        created_at = held.created_at.partition("#")[0]  # a shared key names the same run
        try:
            job = self.jobs.describe(held.kind, held.job_name)
        except JobNotFoundError as exc:
            return self._settle_gone(held, f"Transcribe no longer knows it ({exc})")
        if job.created_at != created_at:
            return self._settle_gone(
                held, f"the name now belongs to a run created {job.created_at} ({job.status})"
            )
        if not job.finished:
            raise JobNotFinishedError(f"{held.job_name}: Transcribe reports it {job.status}")
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
        (one more Get call): one that ended when the event was sent. A Medical job of the
        name that ended at another time is another run than the event's, whatever its kind."""
        medical = self.jobs.find(JobKind.MEDICAL, job_name)
        if medical is None or not _may_report(medical, event_time, event_status):
            return None
        if medical.finished and not _sent_at_completion(medical.completed, event_time):
            return None
        return medical

    def folder(self, job: JobDescription) -> str:
        """The run's folder in the archive bucket (docs/contract.md, "Archive layout")."""
        return f"{self.settings.prefix(job.kind)}{job.name}/{folder_stamp(job.created)}/"

    def _earlier_folder(self, job: JobDescription, previous: HistoryRecord | None) -> str | None:
        """The folder of this bucket an earlier attempt at the run archived into, if any."""
        if previous is None or not previous.archive_uri:
            return None
        folder = previous.archive_uri.removeprefix(self.bucket.uri(""))
        own = f"{job.name}/{folder_stamp(job.created)}/"
        if folder == previous.archive_uri or not folder.endswith(own):
            return None  # another bucket's (a new one, adopting the table), or not this run's
        return folder

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

    def _archive_run(
        self, job: JobDescription, deadline: Deadline, reported: _Reported | None = None
    ) -> ArchiveResult:
        folder = self.folder(job)
        owner = uuid.uuid4().hex
        event_id = reported.event_id if reported is not None else None
        # What the item says from the moment the lease is taken (no ArchivedAt yet).
        start = replace(
            build_record(job, self.bucket.uri(folder), {}, {"archive": UNDER_WAY}),
            archived_at=None,
            retry_archive=True,
            event_id=event_id,
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
            if event_id is not None and previous.event_id is None and previous.archived:
                # Archived by the sweep before its event came: remember the event, so that
                # a later event of a reused name is not taken for this run.
                self.table.note_event(job.name, key, event_id)
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
        # Until it settles, the run is marked, so the sweep retries it whatever its floor
        # says, even if this invocation is killed (a marker is dropped once the run settles).
        # The marker is written while the copy begins: it has landed (or failed) before the
        # run's record is written. A kill before it lands leaves the run as a kill right
        # after the lease did before (the floor holds at a leased run it sees).
        marking = _MARKERS.submit(self.table.mark_unsettled, job.name, key, job.kind, owner)
        event_id = (previous.event_id if previous is not None else None) or event_id
        log_keys = {"job_name": job.name, "created_at": job.created_at}
        earlier = self._earlier_folder(job, previous)
        if earlier is not None:
            # A retry finishes in the folder the run's first attempt chose (an operator's
            # CLI with other prefixes, a redeploy that changed them): one run, one folder.
            folder = earlier
        done = previous.stored_outputs() if previous is not None and earlier else {}
        report = CopyReport()
        try:
            self._copier.copy(
                job, folder, done, deadline, lambda: self.jobs.describe(job.kind, job.name), report
            )
        except BaseException as exc:
            _wait_quietly(marking)  # never clear (or race) a marker still being written
            # Give the lease back with a visible reason, so that a retry can take over at
            # once and copy only what this attempt did not.
            kept = done | report.stored
            try:
                self._finish(
                    job,
                    key,
                    owner,
                    kept,
                    {"archive": _safe_reason(exc)},
                    retry=True,
                    event_id=event_id,
                    folder=folder,
                )
            except Exception:
                logger.exception("could not record the failed attempt", extra=log_keys)
            raise
        # A run that settles needs no marker; one that does not raises below, so its event
        # (or the next sweep) comes back for it, as when a kill leaves no marker.
        _wait_quietly(marking)
        record, ours = self._finish(
            job,
            key,
            owner,
            report.stored,
            report.errors | report.retryable,
            retry=bool(report.retryable),
            event_id=event_id,
            folder=folder,
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
        event_id: str | None,
        folder: str,
    ) -> tuple[HistoryRecord | None, bool]:
        """Write the run's record while the lease is ours.

        Returns the record the table holds now, and whether it is ours: an invocation that
        lost its lease reports the other's record, never what it meant to write.
        """
        record = build_record(job, self.bucket.uri(folder), stored, errors)
        record.created_at = key
        record.expires_at = self._expiry()
        record.event_id = event_id
        if not record.archived:
            record.retry_archive = retry
        if self.table.complete(record, owner):
            if record.at_rest:
                self.table.clear_unsettled(job.name, key, owner)
            return record, True
        return self.table.get_run(job.name, key), False

    def _expiry(self) -> int | None:
        """When a record written now expires (DynamoDB TTL), if the stack keeps history for a
        limited time."""
        days = self.settings.history_retention_days
        return int(time.time()) + days * 86400 if days is not None else None

    def _reported_run_gone(self, event: _Reported, why: str) -> ArchiveResult:
        """The event's run no longer exists at Transcribe: find it in the table, or record it.

        A late or replayed event of a run the table already holds adds nothing; otherwise
        the run gets its own INCOMPLETE item keyed by the event's time.
        """
        held = self._run_reported(event)
        if held is not None:
            self._metrics.add(Metric.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
            logger.info(
                "late event of a run the table already holds; nothing added",
                extra={"job_name": event.job_name, "created_at": held.created_at},
            )
            return _result(held, "DUPLICATE")
        stamp = iso_ms(event.time)
        record = HistoryRecord(
            job_name=event.job_name,
            created_at=stamp,
            job_kind=event.kind,
            job_status=event.status,
            completed_at=stamp,  # the event fires on completion: the best time we have
            archive_status=INCOMPLETE,
            archive_error=f"{RUN_GONE}: {why}",
            archived_at=iso_ms(datetime.now(UTC)),
            retry_archive=False,
            event_id=event.event_id,
            expires_at=self._expiry(),
        )
        # The event's time is the run's key; should another run hold that key already (the
        # other kind's, or a run of this name created in that very millisecond), the run is
        # keyed beside it, by its kind, then by the event itself.
        keys = [stamp, shared_key(stamp, event.kind)]
        if event.event_id is not None:
            keys.append(f"{stamp}#{event.event_id}")
        for key in keys:
            record.created_at = key
            if self.table.put_if_absent(record):
                break
            held = self.table.get_run(event.job_name, key)
            if held is not None and _could_report(held, event) and held.kind is event.kind:
                return _result(held, "DUPLICATE")  # a concurrent delivery recorded it first
        else:
            raise RetryableArchiveError(
                f"{event.job_name}: no free key for the run the event of {stamp} reported"
            )
        self._metrics.add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning(
            "reported run no longer exists; recorded INCOMPLETE", extra=record.to_plain()
        )
        return _result(record, "INCOMPLETE", {"job": record.archive_error or ""})

    def _run_reported(self, event: _Reported) -> HistoryRecord | None:
        """The recorded run an event can have reported, if the table holds it.

        The run whose item names this very event; else the newest run of the event's kind
        and status, not reported by another event, whose CompletionTime agrees with the
        event's time (the event is sent as the run completes). An older run of a reused
        name never answers for a newer run's late event.
        """
        runs = self.table.runs(event.job_name)
        if event.event_id is not None:
            for run in runs:
                if run.event_id == event.event_id and run.kind in _reported_kinds(event.kind):
                    return run
        candidates = [run for run in runs if _could_report(run, event, self._purged(run))]
        return max(candidates, key=lambda r: r.created_at, default=None)

    def _purged(self, run: HistoryRecord) -> HistoryRecord | None:
        """When a purged run completed and how it ended (kept beside its tombstone)."""
        if run.archive_status != PURGED:
            return None
        return self.table.purged_run(run.job_name, run.created_at)

    def _listed_run_gone(self, listed: ListedJob, why: str) -> ArchiveResult:
        """A listed run deleted before it could be archived: recorded INCOMPLETE for good
        under its own CreationTime, unless the table holds it already."""
        held = self.table.get_run_of(listed.kind, listed.name, listed.created_at)
        if held is not None:
            if held.retryable:
                return self._settle_gone(held, f"{RUN_GONE}: {why}")
            return _result(held, "DUPLICATE")
        record = HistoryRecord(
            job_name=listed.name,
            created_at=listed.created_at,
            job_kind=listed.kind,
            job_status=listed.status,
            completed_at=iso_ms(listed.completed) if listed.completed else None,
            archive_status=INCOMPLETE,
            archive_error=f"{RUN_GONE}: {why}",
            archived_at=iso_ms(datetime.now(UTC)),
            retry_archive=False,
            expires_at=self._expiry(),
        )
        for key in (listed.created_at, shared_key(listed.created_at, listed.kind)):
            record.created_at = key
            if self.table.put_if_absent(record):
                break
            held = self.table.get_run(listed.name, key)
            if held is not None and held.kind is listed.kind:
                return _result(held, "DUPLICATE")
        else:
            raise RetryableArchiveError(f"{listed.name}: no free key for run {listed.created_at}")
        self._metrics.add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning(
            "listed run deleted before it was archived; recorded INCOMPLETE",
            extra=record.to_plain(),
        )
        return _result(record, "INCOMPLETE", {"job": record.archive_error or ""})

    def _settle_gone(self, held: HistoryRecord, why: str) -> ArchiveResult:
        """An unsettled run Transcribe no longer has: INCOMPLETE for good, what was copied
        kept. Raises RetryableArchiveError while an invocation holds its lease."""
        reason = why if why.startswith(RUN_GONE) else f"{RUN_GONE}: {why}"
        if not self.table.settle_gone(held, reason, now=time.time()):
            raise RetryableArchiveError(
                f"{held.job_name}: run {held.created_at} is being archived by another invocation"
            )
        if held.lease_owner is not None:
            self.table.clear_unsettled(held.job_name, held.created_at, held.lease_owner)
        record = replace(held, archive_status=INCOMPLETE, archive_error=reason, retry_archive=False)
        self._metrics.add(Metric.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning(
            "unsettled run no longer exists; recorded INCOMPLETE",
            extra={"job_name": held.job_name, "created_at": held.created_at, "reason": reason},
        )
        return _result(record, "INCOMPLETE", {"job": reason})

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


@dataclass(frozen=True)
class _Reported:
    """What an event says of the run it reports."""

    kind: JobKind
    job_name: str
    time: datetime
    status: str | None
    event_id: str | None


def _could_report(
    run: HistoryRecord, event: _Reported, purged: HistoryRecord | None = None
) -> bool:
    """Whether a recorded run can be the one ``event`` reported (see ``_run_reported``);
    ``purged``: what was kept of a purged run's times."""
    kinds = _reported_kinds(event.kind)
    if run.kind not in kinds and not (run.job_kind is None and run.archive_status == PURGED):
        return False  # a tombstone written before tombstones kept JobKind answers for any
    if run.event_id is not None and run.event_id == event.event_id:
        return True  # a delivery of the very event that reported it
    created = parse_iso(run.created_at.partition("#")[0])
    if created > event.time + _EVENT_RESOLUTION:
        return False
    if run.archive_status == PURGED:
        if purged is not None:
            run = replace(run, completed_at=purged.completed_at, job_status=purged.job_status)
        elif run.purged_at is not None:
            # Purged before purges kept the run's times: it ended before it was erased.
            return event.time - _EVENT_SKEW <= parse_iso(run.purged_at)
        else:
            return True
    if event.status is not None and run.job_status not in (None, event.status):
        return False
    if run.completed_at is None:
        return True
    return _sent_at_completion(parse_iso(run.completed_at), event.time)


def _sent_at_completion(completed: datetime | None, event_time: datetime) -> bool:
    """Whether an event at ``event_time`` can be the one sent as a run completed then (the
    event's time is truncated to the second; clocks may differ by ``_EVENT_SKEW``)."""
    if completed is None:
        return True
    return completed - _EVENT_RESOLUTION - _EVENT_SKEW <= event_time <= completed + _EVENT_SKEW


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


def _wait_quietly(marking: Future[None]) -> None:
    """Let the marker write end (logged if it failed: the outcome decides whether the run
    needed it)."""
    try:
        marking.result()
    except Exception:
        logger.exception("could not mark the run unsettled")
