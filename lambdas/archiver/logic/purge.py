"""Erasing a job's runs everywhere: every version of every archived object, every multipart
upload left open, and the item, which becomes a tombstone that says who erased it, when
and why, and of which job kind the run was.

How a purge goes, run by run of those it was asked to erase:

1. **Plan** (:meth:`Purger.plan`): what the table and the bucket hold now, shown to the
   operator before confirmation. Nothing is changed; an ``ArchiveUri`` naming another bucket
   than the purge's refuses the purge here already.
2. **Lease** every run with the archiver's own lease attributes (``LeaseOwner``,
   ``LeaseExpiresAt``): from now on no invocation copies into the run's folder (it finds
   the run leased, or settled). A run some invocation is archiving right now refuses the
   purge; a tombstone is reported as already purged and never touched.
3. **Re-list** each run's folder under the lease (the prompt may have waited while an event
   or the sweep re-archived the run) and read every version's Object Lock retention and
   legal hold. Any lock, or a caller not allowed to read them, refuses the whole purge: the
   leases are given back and nothing was deleted.
4. **Erase** each run: its item first becomes PURGED with ``ArchiveError`` "purge under
   way" (see :data:`UNDER_WAY`), then every multipart upload under its folder is aborted
   and every version and delete marker deleted, the folder listed again until it is empty,
   and only then is the tombstone written, conditional on purge's lease.

Why PURGED already while deleting: a purge cut off half-way must leave neither an ARCHIVED
item whose bytes are gone, nor a run the sweep, a backfill or a redelivered event would
archive again (that would bring erased bytes back). Every archiving path takes a PURGED
item as settled, and history lists never show it (the item loses ``JobStatus`` and so
every index). It keeps ``ArchiveUri`` and ``ArchiveError``, which say where the rest is and
that the erasure is unfinished: running the purge again finishes it (once the cut-off
purge's lease has run out). The tombstone (no ``ArchiveError``, no lease) is never written
over: every write of a purge is conditional on its own lease, which a tombstone lacks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

from archiver.contract import PURGED, JobKind
from archiver.errors import JobNotFoundError, PurgeRefusedError
from archiver.logic.archive import RUN_GONE
from archiver.logic.history import normalize_time
from archiver.observability import logger
from archiver.sources.transcribe import TranscribeJobs
from archiver.store.archive_versions import ArchiveVersions, Hold, ObjectVersion, Upload
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord
from archiver.timefmt import folder_stamp, iso_ms, parse_iso

#: How long a purge holds each run: ample to list, check and delete a run's few objects; a
#: purge that is cut off keeps its runs from archiving or a second purge no longer than this.
LEASE_SECONDS: Final = 600.0
#: ArchiveError of a run whose purge has begun and not ended (item PURGED, not a tombstone).
UNDER_WAY: Final = (
    "purge under way (or cut off before it finished): objects may remain; run purge again"
)
#: Times the folder is emptied and listed again before purge gives up on it: objects that
#: keep appearing under purge's lease are not the archiver's.
_ROUNDS: Final = 3
#: A purge's LeaseOwner starts so (an invocation's is a bare UUID): messages say who holds.
_OWNER_PREFIX: Final = "purge-"

Outcome = Literal["WOULD_PURGE", "PURGED", "ALREADY_PURGED", "FAILED", "NOT_STARTED"]


class UnknownJobError(JobNotFoundError):
    """The table holds no run of that name (or not that run)."""


class PurgeStopped(PurgeRefusedError):
    """The purge stopped after it had begun erasing: ``receipt`` says what went, what not."""

    def __init__(self, message: str, receipt: PurgeReceipt) -> None:
        super().__init__(message)
        self.receipt = receipt


def base_created_at(created_at: str) -> str:
    """The run's CreationTime: a sort key ``{CreatedAt}#{JobKind}`` (two kinds' runs created
    the same millisecond; store/history_table.py) without its kind."""
    return created_at.partition("#")[0]


@dataclass
class RunErasure:
    """One run: what the table says, and everything of it there is to erase."""

    run: HistoryRecord
    folders: list[str] = field(default_factory=list)
    versions: list[ObjectVersion] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    held: list[Hold] = field(default_factory=list)
    outcome: Outcome = "WOULD_PURGE"
    tombstone: HistoryRecord | None = None
    #: Found under the lease but not shown before confirmation (and the reverse).
    not_shown: list[ObjectVersion | Upload] = field(default_factory=list)
    already_gone: list[ObjectVersion | Upload] = field(default_factory=list)
    #: ``--also-transcribe``: what became of the job at Transcribe.
    transcribe: str | None = None
    error: str | None = None

    @property
    def created_at(self) -> str:
        return self.run.created_at

    @property
    def kind(self) -> JobKind | None:
        """The run's kind; None for a tombstone written before tombstones kept it."""
        if self.run.job_kind is None and HistoryTable.is_tombstone(self.run):
            return None
        return self.run.kind


@dataclass
class PurgePlan:
    job_name: str
    bucket: str
    runs: list[RunErasure]
    #: What was asked for: one run (``--run``) and/or one kind (``--kind``); None: all.
    run: str | None = None
    kind: JobKind | None = None

    @property
    def to_erase(self) -> list[RunErasure]:
        return [r for r in self.runs if r.outcome == "WOULD_PURGE"]

    @property
    def versions(self) -> int:
        return sum(len(r.versions) for r in self.to_erase)

    @property
    def uploads(self) -> int:
        return sum(len(r.uploads) for r in self.to_erase)

    @property
    def refusal(self) -> str | None:
        """Why erasing what the plan found would be refused (Object Lock), if it would."""
        held = [h for r in self.to_erase for h in r.held]
        return _held_message(self.job_name, held) if held else None


@dataclass
class PurgeReceipt:
    """What a purge erased (or, for a dry run, would erase), for the requester's audit file."""

    plan: PurgePlan
    purged_by: str | None = None
    #: Runs of the name (and kind) that appeared after the plan was shown: not erased.
    new_runs: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[RunErasure]:
        return self.plan.runs

    @property
    def complete(self) -> bool:
        """Every run asked for is erased, and nothing went wrong on the way."""
        return all(r.outcome in ("PURGED", "ALREADY_PURGED") and r.error is None for r in self.runs)

    def as_json(self) -> dict[str, Any]:
        return {
            "JobName": self.plan.job_name,
            "Bucket": self.plan.bucket,
            "PurgedBy": self.purged_by,
            "Runs": [_run_json(self.plan.bucket, r) for r in self.runs],
            "RunsNotErased": list(self.new_runs),
        }


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
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        """``prefixes``: each job kind's archive prefix (to find a folder an item does not
        name). ``identity``: who is purging (the caller's ARN). ``jobs``: to delete the runs
        at Transcribe too (``--also-transcribe``)."""
        self._table = table
        self._versions = versions
        self._prefixes = dict(prefixes)
        self._identity = identity
        self._jobs = jobs
        self._clock = clock
        self._lease_seconds = lease_seconds

    # -- 1. the plan -----------------------------------------------------------------------

    def plan(self, job_name: str, run: str | None = None, kind: JobKind | None = None) -> PurgePlan:
        """What erasing ``job_name`` (one run of it, or its runs of one kind) would delete.
        Changes nothing. Raises UnknownJobError, or PurgeRefusedError for a run archived in
        another bucket or a caller not allowed to read Object Lock (see ``refusal``)."""
        runs = self._select(job_name, run, kind)
        now = self._clock()
        erasures = []
        for record in sorted(runs, key=lambda r: r.created_at, reverse=True):
            erasure = RunErasure(record)
            if HistoryTable.is_tombstone(record):
                erasure.outcome, erasure.tombstone = "ALREADY_PURGED", record
            erasures.append(erasure)
        self._check_buckets(job_name, [e.run for e in erasures if e.outcome == "WOULD_PURGE"])
        for erasure in erasures:
            if erasure.outcome == "WOULD_PURGE":
                self._look(erasure, now)
        return PurgePlan(job_name, self._versions.bucket, erasures, run, kind)

    def _select(self, job_name: str, run: str | None, kind: JobKind | None) -> list[HistoryRecord]:
        runs = self._table.runs(job_name)
        if kind is not None:
            runs = [r for r in runs if _of_kind(r, kind)]
        if run is not None:
            created_at = normalize_time(run)
            runs = [r for r in runs if base_created_at(r.created_at) == created_at]
            if not runs:
                what = f" {kind.option}" if kind is not None else ""
                raise UnknownJobError(f"job {job_name!r} has no{what} run created {created_at}")
            if len(runs) > 1:
                # Jobs of several kinds created in that millisecond: --run names one run,
                # the one keyed by that time alone; --kind names another.
                exact = [r for r in runs if r.created_at == created_at]
                if not exact:
                    kinds = ", ".join(sorted(r.kind.option for r in runs))
                    raise PurgeRefusedError(
                        f"job {job_name!r} has runs of several kinds created {created_at} "
                        f"({kinds}): name one with --kind; nothing was deleted"
                    )
                runs = exact
        elif not runs:
            what = f"{kind.option} runs" if kind is not None else "runs"
            raise UnknownJobError(f"no {what} of job {job_name!r} in the history table")
        return runs

    def _look(self, erasure: RunErasure, now: datetime) -> None:
        """List the run's folder(s) and read the Object Lock of what is there."""
        erasure.folders = self._folders(erasure.run)
        erasure.versions = [v for f in erasure.folders for v in self._versions.under(f)]
        erasure.uploads = [u for f in erasure.folders for u in self._versions.uploads(f)]
        erasure.held = self._versions.held(erasure.versions, now)

    # -- 2-4. the erasure ------------------------------------------------------------------

    def execute(
        self,
        plan: PurgePlan,
        *,
        reason: str,
        also_transcribe: bool = False,
        progress: Callable[[str], None] = lambda _: None,
    ) -> PurgeReceipt:
        """Erase what ``plan`` found, as the module's doc says. Raises PurgeRefusedError
        having deleted nothing, or :class:`PurgeStopped` (with the receipt) when it stopped
        after it had begun."""
        receipt = PurgeReceipt(plan)
        if plan.refusal:
            raise PurgeRefusedError(plan.refusal)
        if plan.to_erase:
            receipt.purged_by = self._identity()
        owner = f"{_OWNER_PREFIX}{uuid.uuid4().hex}"
        leased: list[RunErasure] = []
        started: list[RunErasure] = []
        try:
            self._lease_and_check(plan, owner, leased)
            receipt.new_runs = self._new_runs(plan)
            for erasure in leased:
                started.append(erasure)
                self._erase(plan.job_name, erasure, owner, reason, receipt.purged_by or "")
                progress(
                    f"erased run {erasure.created_at}: {len(erasure.versions)} version(s), "
                    f"{len(erasure.uploads)} upload(s) aborted"
                )
        except BaseException as exc:
            # Runs not yet begun are given back as they were. A run begun stays PURGED
            # "under way" (never ARCHIVED without its bytes), for the next purge to finish.
            self._give_back([e for e in leased if e not in started], plan.job_name, owner)
            if not started or not isinstance(exc, Exception):
                raise
            failed = started[-1]
            failed.outcome, failed.error = "FAILED", str(exc)
            raise PurgeStopped(
                f"{exc}; run {failed.created_at} of {plan.job_name!r} is marked PURGED "
                "with its erasure unfinished: run the purge again to finish it",
                receipt,
            ) from exc
        if also_transcribe:
            for erasure in plan.runs:
                try:
                    erasure.transcribe = self._delete_at_transcribe(erasure)
                except Exception as exc:  # the archive is erased: say so, and what failed
                    erasure.transcribe = "failed"
                    erasure.error = f"deleting the job at Transcribe failed: {exc}"
        return receipt

    def _lease_and_check(self, plan: PurgePlan, owner: str, leased: list[RunErasure]) -> None:
        """Lease every run to erase (appending each to ``leased``), then list each again and
        read its Object Lock, under the lease. Raises PurgeRefusedError (nothing deleted)."""
        for erasure in plan.to_erase:
            if self._lease(plan.job_name, erasure, owner):
                leased.append(erasure)
        self._check_buckets(plan.job_name, [e.run for e in leased])
        now = self._clock()
        for erasure in leased:
            self._relook(erasure, now)
        if plan.refusal:
            raise PurgeRefusedError(plan.refusal)

    def _give_back(self, erasures: list[RunErasure], job_name: str, owner: str) -> None:
        for erasure in erasures:
            erasure.outcome = "NOT_STARTED"
            try:
                self._table.release_lease(job_name, erasure.created_at, owner)
            except Exception:  # the lease runs out by itself; the first error matters more
                logger.exception(
                    "could not give a run's lease back", extra={"run": erasure.created_at}
                )

    def _lease(self, job_name: str, erasure: RunErasure, owner: str) -> bool:
        now = time.time()
        until = now + self._lease_seconds
        taken, current = self._table.lease_for_purge(
            job_name, erasure.created_at, owner, now=now, lease_until=until
        )
        if taken and current is not None:
            erasure.run = replace(current, lease_owner=owner, lease_expires_at=until)
            return True
        if current is None:
            erasure.outcome = "NOT_STARTED"
            erasure.error = "the item is gone from the table"
            return False
        if HistoryTable.is_tombstone(current):
            # Another purge finished it since the plan: reported, never written again.
            erasure.outcome, erasure.tombstone, erasure.run = "ALREADY_PURGED", current, current
            return False
        expiry = iso_ms(datetime.fromtimestamp(current.lease_expires_at or now, UTC))
        holder = (
            "another purge"
            if (current.lease_owner or "").startswith(_OWNER_PREFIX)
            else "an invocation archiving it"
        )
        raise PurgeRefusedError(
            f"run {erasure.created_at} of {job_name!r} is held by {holder} until {expiry} "
            "(at work, or cut off while at it); nothing was deleted: try again after that"
        )

    def _relook(self, erasure: RunErasure, now: datetime) -> None:
        """List again under the lease; note where it differs from what was shown."""
        shown: set[ObjectVersion | Upload] = {*erasure.versions, *erasure.uploads}
        self._look(erasure, now)
        found: set[ObjectVersion | Upload] = {*erasure.versions, *erasure.uploads}
        erasure.not_shown = sorted(found - shown, key=_sort_key)
        erasure.already_gone = sorted(shown - found, key=_sort_key)

    def _new_runs(self, plan: PurgePlan) -> list[str]:
        """Runs of the name (and kind) recorded since the plan was shown: not erased, as the
        operator did not see them (a reused name is another call)."""
        if plan.run is not None:
            return []
        known = {r.created_at for r in plan.runs}
        return sorted(
            r.created_at
            for r in self._table.runs(plan.job_name)
            if r.created_at not in known
            and not HistoryTable.is_tombstone(r)
            and (plan.kind is None or _of_kind(r, plan.kind))
        )

    def _erase(self, job_name: str, erasure: RunErasure, owner: str, reason: str, who: str) -> None:
        run = erasure.run
        kind = run.kind
        # An unfinished purge's reason is kept when this one gives none.
        why = reason or (run.purge_reason if run.archive_status == PURGED else None) or ""
        tombstone = HistoryRecord(
            job_name=run.job_name,
            created_at=run.created_at,
            job_kind=kind,
            archive_status=PURGED,
            purged_at=iso_ms(self._clock()),
            purged_by=who,
            purge_reason=why,
        )
        under_way = replace(
            tombstone,
            archive_error=UNDER_WAY,
            archive_uri=run.archive_uri,
            lease_owner=owner,
            lease_expires_at=run.lease_expires_at,
        )
        if run.archive_status != PURGED:  # an unfinished purge noted it already
            # When the run completed: the tombstone keeps no times, yet a late event must
            # be told apart from a newer run's of the name (logic/archive.py).
            self._table.note_purged(run)
        if not self._table.put_under_lease(under_way, owner):
            raise PurgeRefusedError(f"lost the lease of run {run.created_at} to another purge")
        erased_versions: set[ObjectVersion] = set()
        aborted: set[Upload] = set()
        versions, uploads = erasure.versions, erasure.uploads
        for _ in range(_ROUNDS):
            if not versions and not uploads:
                break
            if erased_versions:  # new versions since the check: read their locks too
                held = self._versions.held(versions, self._clock())
                if held:
                    raise PurgeRefusedError(_held_message(job_name, held))
            # Uploads first: one completed meanwhile would add a version.
            self._versions.abort(uploads)
            aborted.update(uploads)
            self._versions.delete(versions)
            erased_versions.update(versions)
            versions = [v for f in erasure.folders for v in self._versions.under(f)]
            uploads = [u for f in erasure.folders for u in self._versions.uploads(f)]
        else:
            if versions or uploads:
                raise PurgeRefusedError(
                    f"objects keep appearing under {', '.join(erasure.folders)} while purge "
                    f"holds the run: {len(versions)} version(s), {len(uploads)} upload(s) left"
                )
        erasure.versions = sorted(erased_versions)
        erasure.uploads = sorted(aborted)
        if not self._table.put_under_lease(tombstone, owner):
            raise PurgeRefusedError(
                f"lost the lease of run {run.created_at} to another purge after erasing its objects"
            )
        erasure.outcome, erasure.tombstone = "PURGED", tombstone
        logger.info(
            "run purged",
            extra={
                "job_name": job_name,
                "created_at": run.created_at,
                "versions_deleted": len(erasure.versions),
                "uploads_aborted": len(erasure.uploads),
                "purged_by": who,
            },
        )

    # -- where a run's objects are ---------------------------------------------------------

    def _folders(self, record: HistoryRecord) -> list[str]:
        """The run's folder: the one its item names, or (an item that names none: a run
        recorded before archiving began) where its kind's runs are archived."""
        stamp = folder_stamp(parse_iso(base_created_at(record.created_at)))
        own = f"{record.job_name}/{stamp}/"
        if record.archive_uri:
            self._check_buckets(record.job_name, [record])
            folder = record.archive_uri.removeprefix("s3://").partition("/")[2]
            if not folder.endswith(own):
                # Never list (and so delete) beyond the run's own folder.
                raise PurgeRefusedError(
                    f"run {record.created_at} of {record.job_name!r} names "
                    f"{record.archive_uri}, which is not a folder of that run; nothing "
                    "was deleted"
                )
            return [folder]
        if (record.archive_error or "").startswith(RUN_GONE):
            # Recorded only from an event or a listing, the run gone from Transcribe before
            # any copy began: nothing was archived, and the key may be the event's time,
            # which is no folder of this run (another run of the name may own it).
            return []
        return [f"{self._prefixes[record.kind]}{own}"]

    def _check_buckets(self, job_name: str, runs: Iterable[HistoryRecord]) -> None:
        """Refuse, before anything is deleted, runs archived in another bucket than the one
        this purge was given (a wrong ``--bucket``, or a table adopted by a stack with a new
        bucket): erasing elsewhere than the operator named is left to an explicit purge."""
        mine = self._versions.bucket
        elsewhere = [
            (r.created_at, bucket)
            for r in runs
            if r.archive_uri
            and (bucket := r.archive_uri.removeprefix("s3://").partition("/")[0]) != mine
        ]
        if elsewhere:
            where = "; ".join(f"run {c} in bucket {b!r}" for c, b in elsewhere)
            raise PurgeRefusedError(
                f"{job_name!r} is archived in another bucket than {mine!r} (the bucket this "
                f"purge was given): {where}. Nothing was deleted. Purge with --bucket naming "
                "the bucket the run is in (and --run for that run alone)"
            )

    # -- at Transcribe -----------------------------------------------------------------------

    def _delete_at_transcribe(self, erasure: RunErasure) -> str:
        """Delete the job at Transcribe, but only if it is still this run (names are reused)."""
        if self._jobs is None:
            return "not asked"
        if erasure.outcome not in ("PURGED", "ALREADY_PURGED"):
            return "kept: the run was not erased"
        kind = erasure.kind
        if kind is None:
            return "kept: this tombstone does not say of which kind the job was"
        created_at = base_created_at(erasure.created_at)
        try:
            current = self._jobs.describe(kind, erasure.run.job_name)
        except JobNotFoundError:
            return "already gone"
        if current.created_at != created_at:
            return f"kept: the name now belongs to a run created {current.created_at}"
        self._jobs.delete(kind, erasure.run.job_name)
        return "deleted"


def _of_kind(record: HistoryRecord, kind: JobKind) -> bool:
    if record.job_kind is None and HistoryTable.is_tombstone(record):
        return True  # an old tombstone does not say: it is reported, never changed
    return record.kind is kind


def _held_message(job_name: str, held: list[Hold]) -> str:
    first = held[0]
    if first.legal_hold:
        why = "a legal hold, until it is lifted"
    else:
        until = iso_ms(first.until) if first.until else "?"
        why = f"{first.mode or 'retention'} until {until}"
    return (
        f"Object Lock protects {len(held)} version(s) of {job_name!r} "
        f"(e.g. {first.version.key}: {why}); nothing was deleted"
    )


def _sort_key(entry: ObjectVersion | Upload) -> tuple[str, str]:
    if isinstance(entry, Upload):
        return entry.key, entry.upload_id
    return entry.key, entry.version_id


def _run_json(bucket: str, erasure: RunErasure) -> dict[str, Any]:
    objects: dict[str, dict[str, list[str]]] = {}
    for version in erasure.versions:
        entry = objects.setdefault(version.key, {"VersionIds": [], "DeleteMarkers": []})
        entry["DeleteMarkers" if version.delete_marker else "VersionIds"].append(version.version_id)
    kind = erasure.kind
    answer: dict[str, Any] = {
        "CreatedAt": erasure.created_at,
        "JobKind": kind.value if kind is not None else None,
        "Outcome": erasure.outcome,
        "Folders": [f"s3://{bucket}/{f}" for f in erasure.folders],
        "Objects": [{"Key": key} | ids for key, ids in sorted(objects.items())],
        "Uploads": [{"Key": u.key, "UploadId": u.upload_id} for u in erasure.uploads],
        "NotShownBeforehand": [_entry_json(e) for e in erasure.not_shown],
        "AlreadyGone": [_entry_json(e) for e in erasure.already_gone],
        "TranscribeJob": erasure.transcribe,
        "Tombstone": erasure.tombstone.to_plain() if erasure.tombstone is not None else None,
    }
    if erasure.error is not None:
        answer["Error"] = erasure.error
    return answer


def _entry_json(entry: ObjectVersion | Upload) -> dict[str, Any]:
    if isinstance(entry, Upload):
        return {"Key": entry.key, "UploadId": entry.upload_id}
    return {"Key": entry.key, "VersionId": entry.version_id, "DeleteMarker": entry.delete_marker}
