"""The sweep: archive every finished run the table does not hold, whatever became of its
event (EventBridge delivers on a best-effort basis; a rule can be disabled for an hour).

Two nets, in this order:

1. **The listing.** Each job kind on its own lists finished jobs newest first (paced under
   the List APIs' 5 requests/s) back to where the last sweep of that kind left off, less an
   overlap, and archives each run the table does not hold at rest, through the function's
   own archiving code. Where it left off (the *floor*) is the oldest creation time that may
   still hide a run that is not at rest: the oldest job still QUEUED or IN_PROGRESS when
   the sweep started, the oldest listed run this sweep did not bring to rest (one that
   failed, or that another invocation holds the lease of), or else the newest job it saw.
   Floor writes are conditional: of two sweeps at once, the later can only lower the
   other's floor. An operator's ``--since`` narrower than the scheduled window never moves
   the floor forward. A kind whose listing fails keeps its floor, is logged and counted
   (``SweepKindsFailed``), and the other kinds go on.
2. **The table.** Every run the table marks as not at rest (store/history_table.py, the
   ``#unsettled`` markers) is tried again, whatever the floor says, until it settles: a
   run cut off mid-copy whose lease ran out, a run left INCOMPLETE by a fault, a re-driven
   run cut off again.

A run the sweep tries and cannot settle is logged and counted (``SweepRunsFailed``). Jobs
that run for hours are swept once they end, and a sweep right after another lists the same
window and finds nothing to copy or write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from archiver.contract import SWEEP_ACTION, JobKind, Metric
from archiver.deadline import Deadline
from archiver.errors import JobNotFinishedError, RetryableArchiveError
from archiver.logic.archive import Archiver
from archiver.logic.backfill import (
    FINISHED,
    Backfill,
    BackfillReport,
    JobResult,
    Verdict,
    describe_error,
    list_finished_jobs,
)
from archiver.logic.history import parse_kind
from archiver.models.jobs import ListedJob
from archiver.observability import MetricsSink, NoMetrics, logger
from archiver.sources.transcribe import LIST_RATE, RateLimiter, TranscribeJobs
from archiver.store.history_table import HistoryTable, Marker
from archiver.store.record import HistoryRecord
from archiver.timefmt import iso_ms, parse_iso

#: How far back the first sweep (no floor yet) reaches.
FIRST_SWEEP: Final = timedelta(hours=24)
#: The default overlap: the stack's default schedule period.
DEFAULT_OVERLAP: Final = timedelta(minutes=15)
_UNFINISHED: Final = ("QUEUED", "IN_PROGRESS")
#: The earliest time there is (subtracting an overlap from it must not overflow).
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


#: The longest lease an invocation can take (deadline + 90 s, logic/lease.py: at most the
#: function's 15 minutes), with the clock difference the CLI tolerates, and a margin.
LONGEST_LEASE: Final = 20 * 60.0


def skip_settled(item: HistoryRecord, now: float) -> Verdict | None:
    """The sweep's rule: leave what is at rest or being worked on right now."""
    if item.settled:
        return "ALREADY_ARCHIVED"
    if item.lease_is_live(now):
        if implausible_lease(item, now):
            return "STUCK"
        return "BUSY"  # another invocation is archiving it right now: it holds the floor
    if not item.retryable:
        return "SKIPPED"  # recorded INCOMPLETE for a reason retrying cannot cure
    return None


def implausible_lease(item: HistoryRecord, now: float) -> bool:
    """A lease that runs out later than any invocation could hold one: its writer's clock
    was ahead. The run waits for it (it may still be copying), but never silently."""
    return item.lease_expires_at is not None and item.lease_expires_at > now + LONGEST_LEASE


@dataclass
class SweepReport:
    kinds: dict[JobKind, str] = field(default_factory=dict)  # kind -> window start (ISO)
    report: BackfillReport = field(default_factory=BackfillReport)
    #: Runs found only by the sweep (the table held nothing: their event was lost).
    recovered: list[JobResult] = field(default_factory=list)
    #: Runs the table marked as not at rest, and what retrying each did.
    retried: list[JobResult] = field(default_factory=list)

    @property
    def failed_kinds(self) -> dict[JobKind, str]:
        return self.report.failed_kinds

    @property
    def failed(self) -> bool:
        return self.report.failed or any(r.verdict == "FAILED" for r in self.retried)

    @property
    def results(self) -> list[JobResult]:
        """Every run the sweep looked at: listed ones, then the table's unsettled ones."""
        return self.report.results + self.retried


@dataclass
class _Listing:
    """What one kind's listing found, and what it needs to store the kind's floor after."""

    kind: JobKind
    started: datetime
    stored: str | None
    window: datetime
    narrower: bool
    unfinished: datetime | None
    listed: list[ListedJob]


class Sweep:
    def __init__(
        self,
        jobs: TranscribeJobs,
        table: HistoryTable,
        archiver: Archiver | None,
        *,
        kinds: Iterable[JobKind] | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        metrics: MetricsSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``archiver``: None for a dry run (list what would be archived, write nothing)."""
        self._jobs = jobs
        self._table = table
        self._archiver = archiver
        self._kinds = tuple(kinds) if kinds is not None else jobs.kinds()
        self._overlap = overlap
        self._metrics = metrics or NoMetrics()
        # Each List API has its own 5 requests/s quota: one pace per kind.
        self._limiters = {kind: RateLimiter(LIST_RATE) for kind in self._kinds}
        self._clock = clock

    def run(
        self,
        *,
        since: datetime | None = None,
        deadline: Deadline | None = None,
        on_result: Callable[[JobResult], None] | None = None,
    ) -> SweepReport:
        """List each kind (side by side: the listing is what the quotas pace), archive what
        they found (one pool, so memory stays what one backfill needs), store each kind's
        floor, then retry the table's unsettled runs. Raises only when the table itself
        cannot be read; a kind's failure is in the report."""
        sweep = SweepReport()
        with ThreadPoolExecutor(
            max_workers=max(1, len(self._kinds)), thread_name_prefix="sweep-list"
        ) as pool:
            futures = [pool.submit(self._list, kind, since) for kind in self._kinds]
        listings: list[_Listing] = []
        for kind, future in zip(self._kinds, futures, strict=True):
            try:
                listings.append(future.result())
            except Exception as exc:
                self._kind_failed(sweep, kind, exc)
        jobs = sorted(
            (job for listing in listings for job in listing.listed),
            key=lambda j: (j.created, j.name),
            reverse=True,
        )
        sweep.report.listed = len(jobs)
        sweep.report.results = (
            Backfill(self._table, self._archiver, skip=skip_settled)
            .run(jobs, deadline=deadline, on_result=on_result)
            .results
        )
        sweep.recovered = [
            r
            for r in sweep.report.results
            if r.recovered and r.verdict in ("ARCHIVED", "INCOMPLETE")
        ]
        for listing in listings:
            sweep.kinds[listing.kind] = iso_ms(listing.window)
            if self._archiver is None:
                continue  # a dry run writes nothing
            try:
                self._store_floor(listing, sweep.report.results)
            except Exception as exc:
                self._kind_failed(sweep, listing.kind, exc)
        tried = {(r.job.kind, r.job.name, r.job.created_at) for r in sweep.report.results}
        sweep.retried = self._retry_unsettled(deadline, on_result, tried)
        self._count(sweep)
        return sweep

    # -- the listing --------------------------------------------------------------------------

    def _list(self, kind: JobKind, since: datetime | None) -> _Listing:
        started = self._clock()
        stored = self._table.sweep_floor(kind)
        scheduled = (
            _minus(parse_iso(stored), self._overlap)
            if stored is not None
            else _minus(started, FIRST_SWEEP)
        )
        window = since if since is not None else scheduled
        # Unfinished jobs first: one that finishes meanwhile is then in the listing below.
        unfinished = self._oldest_unfinished(kind)
        listed = list_finished_jobs(
            self._jobs,
            statuses=FINISHED,
            kinds=(kind,),
            since=window,
            limiter=self._limiters[kind],
        )
        # An operator's window that starts after the scheduled one says nothing of the runs
        # between the two: such a sweep may lower the floor, never raise it.
        return _Listing(kind, started, stored, window, window > scheduled, unfinished, listed)

    def _store_floor(self, listing: _Listing, results: list[JobResult]) -> None:
        mine = [r for r in results if r.job.kind is listing.kind]
        floor = _floor(listing.listed, mine, listing.unfinished, listing.stored)
        stored = listing.stored
        if listing.narrower:
            floor = None if stored is None or floor is None else min(floor, stored)
        if floor is not None and floor != stored:
            self._table.set_sweep_floor(
                listing.kind, floor, read=stored, swept_at=iso_ms(listing.started)
            )

    def _kind_failed(self, sweep: SweepReport, kind: JobKind, exc: Exception) -> None:
        """A kind's listing (or its floor) failed: its floor stays where it was, so the next
        sweep reads the same window; counted for the alarm, the other kinds go on."""
        sweep.report.failed_kinds[kind] = describe_error(exc)
        self._metrics.add(Metric.SWEEP_KINDS_FAILED, MetricUnit.Count, 1)
        logger.error(
            "job kind not swept; its floor is kept, the other kinds go on",
            extra={"job_kind": kind.value, "error": sweep.report.failed_kinds[kind]},
            exc_info=exc,
        )

    def _oldest_unfinished(self, kind: JobKind) -> datetime | None:
        oldest: datetime | None = None
        for status in _UNFINISHED:
            for job in self._jobs.list_jobs(kind, status, since=None, limiter=self._limiters[kind]):
                oldest = job.created if oldest is None else min(oldest, job.created)
        return oldest

    # -- the table ------------------------------------------------------------------------------

    def _retry_unsettled(
        self,
        deadline: Deadline | None,
        on_result: Callable[[JobResult], None] | None,
        tried: set[tuple[JobKind, str, str]],
    ) -> list[JobResult]:
        """Try again every run the table marks as not at rest (of the kinds swept), but
        those the listing tried a moment ago."""
        results: list[JobResult] = []
        for marker in self._table.unsettled():
            if marker.kind not in self._kinds:
                continue
            if (marker.kind, marker.job_name, marker.run_key.partition("#")[0]) in tried:
                continue
            result = self._retry(marker, deadline)
            if result is None:
                continue  # the marker was stale: dropped
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _retry(self, marker: Marker, deadline: Deadline | None) -> JobResult | None:
        held = self._table.get_run(marker.job_name, marker.run_key)
        created = parse_iso(marker.run_key.partition("#")[0])
        job = ListedJob(
            marker.kind, marker.job_name, (held and held.job_status) or "", created, None
        )
        if held is None or held.at_rest:
            # Settled since it was marked (or its item expired): nothing left to do.
            if self._archiver is not None:
                self._table.clear_unsettled(marker.job_name, marker.run_key, marker.owner)
            return None
        now = time.time()
        if held.lease_is_live(now):
            verdict: Verdict = "STUCK" if implausible_lease(held, now) else "BUSY"
            return JobResult(job, verdict, held.archive_error or "")
        if self._archiver is None:
            return JobResult(job, "PENDING", f"unsettled: {held.archive_error or 'no reason'}")
        if deadline is not None and deadline.remaining() < 20:
            return JobResult(job, "FAILED", "out of time before this run could start")
        try:
            outcome = self._archiver.retry_run(held, deadline=deadline)
        except JobNotFinishedError:
            return JobResult(job, "FAILED", "Transcribe reports the job as not finished")
        except RetryableArchiveError as exc:
            return JobResult(job, "FAILED", f"could not finish now; try again later: {exc}")
        except Exception as exc:  # one run's fault must not stop the others
            return JobResult(job, "FAILED", describe_error(exc))
        reason = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items()))
        at_rest = outcome.record is not None and outcome.record.at_rest
        return JobResult(job, outcome.outcome, reason, at_rest=at_rest)

    # -- signals ---------------------------------------------------------------------------------

    def _count(self, sweep: SweepReport) -> None:
        for result in sweep.recovered:
            self._metrics.add(Metric.JOBS_RECOVERED_BY_SWEEP, MetricUnit.Count, 1)
            logger.warning(
                "run archived by the sweep: no event had archived it (a lost event?)",
                extra=_log_keys(result) | {"archive_status": result.verdict},
            )
        for result in sweep.results:
            if result.verdict == "STUCK":
                self._metrics.add(Metric.SWEEP_RUNS_FAILED, MetricUnit.Count, 1)
                logger.warning(
                    "run held by a lease that runs out later than any invocation could hold "
                    "one (its writer's clock was ahead); retried once it runs out",
                    extra=_log_keys(result),
                )
            if result.verdict == "FAILED":
                # Never only a log line: the run holds the floor (or its marker stays) and
                # is tried again, and the alarm on this metric says so.
                self._metrics.add(Metric.SWEEP_RUNS_FAILED, MetricUnit.Count, 1)
                logger.warning(
                    "sweep could not settle a run; the next sweep tries again",
                    extra=_log_keys(result) | {"reason": result.reason},
                )


def _log_keys(result: JobResult) -> dict[str, str]:
    return {
        "job_name": result.job.name,
        "created_at": result.job.created_at,
        "job_kind": result.job.kind.value,
    }


def _minus(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment - delta
    except OverflowError:
        return _EARLIEST


def _floor(
    listed: list[ListedJob],
    results: list[JobResult],
    unfinished: datetime | None,
    stored: str | None,
) -> str | None:
    """The oldest creation time that may still hide a run not at rest (see the module doc)."""
    candidates = [r.job.created for r in results if not r.at_rest]
    if unfinished is not None:
        candidates.append(unfinished)
    if candidates:
        return iso_ms(min(candidates))
    if listed:
        return iso_ms(max(job.created for job in listed))
    return stored  # nothing listed: nothing learned


def scheduled_sweep(
    request: dict[str, Any],
    archiver: Archiver,
    *,
    deadline: Deadline | None,
    metrics: MetricsSink,
) -> dict[str, Any]:
    """Run the sweep the stack's schedule asked for; returns the function's answer.

    ``request``: ``{"action": "sweep", "overlapMinutes": N, "kinds": ["TRANSCRIPTION", ...]}``
    (``kinds``: the stack's jobKinds; absent, every kind this version archives).
    """
    minutes = request.get("overlapMinutes", DEFAULT_OVERLAP.total_seconds() / 60)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or minutes <= 0:
        minutes = DEFAULT_OVERLAP.total_seconds() / 60
    kinds, unknown = _requested_kinds(request.get("kinds"), archiver.jobs.kinds())
    for name in unknown:
        # A hand-edited schedule (a typo): that kind is swept by nobody, so it alarms.
        metrics.add(Metric.SWEEP_KINDS_FAILED, MetricUnit.Count, 1)
        logger.error(
            "sweep request names a job kind this version does not archive; not swept",
            extra={"job_kind": name},
        )
    sweep = Sweep(
        archiver.jobs,
        archiver.table,
        archiver,
        kinds=kinds,
        overlap=timedelta(minutes=float(minutes)),
        metrics=metrics,
    )
    try:
        result = sweep.run(deadline=deadline)
    except Exception as exc:
        # Never raise: a failed sweep is not worth a Lambda retry or a DLQ message, the next
        # scheduled one starts from the same floors. The error still alarms.
        metrics.add(Metric.ARCHIVE_ERRORS, MetricUnit.Count, 1)
        logger.exception("sweep failed; the next scheduled sweep starts where this one did")
        return {"action": SWEEP_ACTION, "error": describe_error(exc)}
    summary = {
        "action": SWEEP_ACTION,
        "listed": result.report.listed,
        "recovered": len(result.recovered),
        "verdicts": _verdicts(result.report.results),
        "windows": {kind.value: start for kind, start in result.kinds.items()},
        "retried": _verdicts(result.retried),
        "kinds": {
            kind.value: _kind_summary(kind, result)
            for kind in kinds
            if kind in result.kinds or kind in result.failed_kinds
        },
    }
    errors = {kind.value: why for kind, why in result.failed_kinds.items()}
    errors |= dict.fromkeys(unknown, f"not a job kind this version archives ({_KIND_CHOICES})")
    if errors:
        summary["errors"] = errors
    logger.info("sweep finished", extra=summary)
    return summary


def _kind_summary(kind: JobKind, result: SweepReport) -> dict[str, Any]:
    if kind in result.failed_kinds:
        return {"error": result.failed_kinds[kind]}
    return {
        "window": result.kinds[kind],
        "verdicts": _verdicts(r for r in result.report.results if r.job.kind is kind),
    }


def _verdicts(results: Iterable[JobResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in results:
        counts[job.verdict] = counts.get(job.verdict, 0) + 1
    return counts


_KIND_CHOICES: Final = ", ".join(kind.value for kind in JobKind)


def _requested_kinds(value: Any, known: Iterable[JobKind]) -> tuple[tuple[JobKind, ...], list[str]]:
    """The kinds a sweep request names that this version archives, in either spelling
    (``TRANSCRIPTION``, ``call-analytics``: as jobKinds takes them), and the names it does
    not know. Every kind when the request names none (a schedule made before the stack
    named them)."""
    known = tuple(known)
    if not isinstance(value, list):
        return known, []
    asked: set[JobKind] = set()
    unknown: list[str] = []
    for name in value:
        try:
            kind = parse_kind(str(name))
        except ValueError:
            unknown.append(str(name))
            continue
        if kind in known:
            asked.add(kind)
        else:
            unknown.append(str(name))
    return tuple(k for k in known if k in asked), unknown
