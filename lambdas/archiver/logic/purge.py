"""Erasing a job's runs everywhere: every version of every archived object, and the item,
which becomes a tombstone that says who erased it, when and why.

Nothing is deleted until everything has been checked: a run Object Lock still protects, or
one an invocation is archiving right now, stops the whole purge before its first delete.
Objects go before the item, so an interrupted purge leaves the item pointing at what is left
and running it again finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from archiver.contract import PURGED, JobKind
from archiver.errors import JobNotFoundError, PurgeRefusedError
from archiver.logic.history import normalize_time
from archiver.observability import logger
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_versions import ArchiveVersions, ObjectVersion, Retention
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord
from archiver.timefmt import folder_stamp, iso_ms, parse_iso


class UnknownJobError(JobNotFoundError):
    """The table holds no run of that name (or not that run)."""


@dataclass
class RunErasure:
    """One run and everything of it that would go."""

    run: HistoryRecord
    folders: list[str]
    versions: list[ObjectVersion] = field(default_factory=list)
    retained: list[Retention] = field(default_factory=list)


@dataclass
class PurgePlan:
    job_name: str
    runs: list[RunErasure]

    @property
    def versions(self) -> int:
        return sum(len(r.versions) for r in self.runs)

    @property
    def retained(self) -> list[Retention]:
        return [held for r in self.runs for held in r.retained]


@dataclass
class PurgeReport:
    plan: PurgePlan
    tombstones: list[HistoryRecord] = field(default_factory=list)
    #: Runs also deleted at Transcribe (``--also-transcribe``), with what happened.
    transcribe: dict[str, str] = field(default_factory=dict)


class Purger:
    def __init__(
        self,
        table: HistoryTable,
        versions: ArchiveVersions,
        prefixes: Mapping[JobKind, str],
        *,
        identity: Callable[[], str],
        jobs: TranscribeJobs | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``prefixes``: each job kind's archive prefix (to find a folder an item no longer
        names). ``identity``: who is purging (the caller's ARN). ``jobs``: to delete the
        runs at Transcribe too (``--also-transcribe``)."""
        self._table = table
        self._versions = versions
        self._prefixes = dict(prefixes)
        self._identity = identity
        self._jobs = jobs
        self._clock = clock

    def plan(self, job_name: str, run: str | None = None) -> PurgePlan:
        """What erasing ``job_name`` (or one run of it) would delete. Changes nothing."""
        runs = self._table.runs(job_name)
        if run is not None:
            created_at = normalize_time(run)
            runs = [r for r in runs if r.created_at == created_at]
            if not runs:
                raise UnknownJobError(f"job {job_name!r} has no run created {created_at}")
        elif not runs:
            raise UnknownJobError(f"no runs of job {job_name!r} in the history table")
        now = self._clock()
        erasures = []
        for record in sorted(runs, key=lambda r: r.created_at, reverse=True):
            erasure = RunErasure(record, self._folders(record))
            for folder in erasure.folders:
                erasure.versions.extend(self._versions.under(folder))
            erasure.retained = self._versions.retained(erasure.versions, now)
            erasures.append(erasure)
        return PurgePlan(job_name, erasures)

    def execute(
        self, plan: PurgePlan, *, reason: str, also_transcribe: bool = False
    ) -> PurgeReport:
        """Erase what ``plan`` lists. Raises PurgeRefusedError, having deleted nothing, when
        Object Lock protects any version or an invocation holds a run's lease."""
        if plan.retained:
            held = plan.retained[0]
            until = iso_ms(held.until) if held.until else "a legal hold is lifted"
            raise PurgeRefusedError(
                f"Object Lock protects {len(plan.retained)} version(s) of {plan.job_name!r} "
                f"(e.g. {held.version.key}, {held.mode or 'legal hold'} until {until}); "
                "nothing was deleted"
            )
        now = time.time()
        busy = [e.run.created_at for e in plan.runs if e.run.lease_is_live(now)]
        if busy:
            raise PurgeRefusedError(
                f"run {busy[0]} of {plan.job_name!r} is being archived right now; "
                "nothing was deleted: try again in a few minutes"
            )
        report = PurgeReport(plan)
        who = self._identity()
        for erasure in plan.runs:
            self._versions.delete(erasure.versions)
            tombstone = HistoryRecord(
                job_name=erasure.run.job_name,
                created_at=erasure.run.created_at,
                archive_status=PURGED,
                purged_at=iso_ms(self._clock()),
                purged_by=who,
                purge_reason=reason,
            )
            if not self._table.replace_with_tombstone(tombstone, now=time.time()):
                raise PurgeRefusedError(
                    f"run {erasure.run.created_at} of {plan.job_name!r} started being "
                    "archived during the purge; its objects were deleted but its item was "
                    "kept: run the purge again"
                )
            report.tombstones.append(tombstone)
            logger.info(
                "run purged",
                extra={
                    "job_name": plan.job_name,
                    "created_at": erasure.run.created_at,
                    "versions_deleted": len(erasure.versions),
                    "purged_by": who,
                },
            )
            if also_transcribe:
                report.transcribe[erasure.run.created_at] = self._delete_at_transcribe(erasure.run)
        return report

    def _folders(self, record: HistoryRecord) -> list[str]:
        """Where the run's objects are: the folder its item names, or, for an item that no
        longer says (a tombstone, an early INCOMPLETE item), every kind's folder of it."""
        bucket_uri = f"s3://{self._versions.bucket}/"
        if record.archive_uri and record.archive_uri.startswith(bucket_uri):
            return [record.archive_uri.removeprefix(bucket_uri)]
        stamp = folder_stamp(parse_iso(record.created_at))
        kinds = [record.job_kind] if record.job_kind else list(self._prefixes)
        return [
            f"{self._prefixes[k]}{record.job_name}/{stamp}/" for k in kinds if k in self._prefixes
        ]

    def _delete_at_transcribe(self, run: HistoryRecord) -> str:
        """Delete the job at Transcribe, but only if it is still this run (names are reused)."""
        if self._jobs is None:
            return "not asked"
        kinds = [run.job_kind] if run.job_kind else list(TranscribeJobs.kinds())
        for kind in kinds:
            try:
                current = self._jobs.describe(kind, run.job_name)
            except JobNotFoundError:
                continue
            if current.created_at != run.created_at:
                return f"kept: the name now belongs to a run created {current.created_at}"
            self._jobs.delete(kind, run.job_name)
            return "deleted"
        return "already gone"
