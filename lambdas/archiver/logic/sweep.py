"""The sweep: archive every finished run the table does not hold, whatever became of its
event (EventBridge delivers on a best-effort basis; a rule can be disabled for an hour).

Each sweep lists finished jobs newest first (paced under the List APIs' 5 requests/s) back
to where the last sweep left off, less an overlap, and archives each run the table does
not hold as ARCHIVED or PURGED through the function's own archiving code. Where it left
off (the *floor*) is the oldest creation time that may still hide an unswept run: the
oldest job still QUEUED or IN_PROGRESS when the sweep started, the oldest job this sweep
could not finish, or else the newest job it saw. Jobs that run for hours are therefore
swept once they end, and a sweep right after another lists the same window and finds
nothing to copy or write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from archiver.contract import INCOMPLETE, SWEEP_ACTION, JobKind, Metric
from archiver.deadline import Deadline
from archiver.logic.archive import Archiver
from archiver.logic.backfill import (
    FINISHED,
    Backfill,
    BackfillReport,
    JobResult,
    Verdict,
    list_finished_jobs,
)
from archiver.models.jobs import ListedJob
from archiver.observability import MetricsSink, NoMetrics, logger
from archiver.sources.transcribe import LIST_RATE, RateLimiter, TranscribeJobs
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord
from archiver.timefmt import iso_ms, parse_iso

#: How far back the first sweep (no floor yet) reaches.
FIRST_SWEEP: Final = timedelta(hours=24)
#: The default overlap: the stack's default schedule period.
DEFAULT_OVERLAP: Final = timedelta(minutes=15)
_UNFINISHED: Final = ("QUEUED", "IN_PROGRESS")
#: Verdicts after which the run is in the table for good (or was never ours to take).
_DONE: Final[frozenset[Verdict]] = frozenset(
    {"ALREADY_ARCHIVED", "SKIPPED", "ARCHIVED", "INCOMPLETE", "DUPLICATE"}
)


def skip_settled(item: HistoryRecord, now: float) -> Verdict | None:
    """The sweep's rule: leave what is settled, being worked on, or permanently missing."""
    if item.settled:
        return "ALREADY_ARCHIVED"
    if item.lease_is_live(now):
        return "SKIPPED"  # another invocation is archiving it right now
    if item.archive_status == INCOMPLETE and not item.retry_archive:
        return "SKIPPED"  # recorded INCOMPLETE for a reason retrying cannot cure
    return None


@dataclass
class SweepReport:
    kinds: dict[JobKind, str] = field(default_factory=dict)  # kind -> window start (ISO)
    report: BackfillReport = field(default_factory=BackfillReport)
    #: Runs found only by the sweep (the table held nothing: their event was lost).
    recovered: list[JobResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.report.failed


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
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``archiver``: None for a dry run (list what would be archived, write nothing)."""
        self._jobs = jobs
        self._table = table
        self._archiver = archiver
        self._kinds = tuple(kinds or jobs.kinds())
        self._overlap = overlap
        self._metrics = metrics or NoMetrics()
        self._limiter = limiter or RateLimiter(LIST_RATE)
        self._clock = clock

    def run(
        self,
        *,
        since: datetime | None = None,
        deadline: Deadline | None = None,
        on_result: Callable[[JobResult], None] | None = None,
    ) -> SweepReport:
        sweep = SweepReport()
        for kind in self._kinds:
            started = self._clock()
            stored = self._table.sweep_floor(kind)
            if since is not None:
                window = since
            elif stored is not None:
                window = parse_iso(stored) - self._overlap
            else:
                window = started - FIRST_SWEEP
            sweep.kinds[kind] = iso_ms(window)
            # Unfinished jobs first: one that finishes meanwhile is then in the listing below.
            unfinished = self._oldest_unfinished(kind)
            listed = list_finished_jobs(
                self._jobs, statuses=FINISHED, kinds=(kind,), since=window, limiter=self._limiter
            )
            backfill = Backfill(self._table, self._archiver, skip=skip_settled)
            report = backfill.run(listed, deadline=deadline, on_result=on_result)
            sweep.report.listed += report.listed
            sweep.report.results.extend(report.results)
            self._count_recovered(report, sweep)
            if self._archiver is not None:
                floor = _floor(listed, report, unfinished, stored)
                if floor is not None and floor != stored:
                    self._table.set_sweep_floor(kind, floor, iso_ms(started))
        return sweep

    def _oldest_unfinished(self, kind: JobKind) -> datetime | None:
        oldest: datetime | None = None
        for status in _UNFINISHED:
            for job in self._jobs.list_jobs(kind, status, since=None, limiter=self._limiter):
                oldest = job.created if oldest is None else min(oldest, job.created)
        return oldest

    def _count_recovered(self, report: BackfillReport, sweep: SweepReport) -> None:
        for result in report.results:
            if result.recovered and result.verdict in ("ARCHIVED", "INCOMPLETE"):
                sweep.recovered.append(result)
                self._metrics.add(Metric.JOBS_RECOVERED_BY_SWEEP, MetricUnit.Count, 1)
                logger.warning(
                    "run archived by the sweep: no event had archived it (a lost event?)",
                    extra={
                        "job_name": result.job.name,
                        "created_at": result.job.created_at,
                        "job_kind": result.job.kind.value,
                        "archive_status": result.verdict,
                    },
                )


def _floor(
    listed: list[ListedJob],
    report: BackfillReport,
    unfinished: datetime | None,
    stored: str | None,
) -> str | None:
    """The oldest creation time that may still hide an unswept run (see the module doc)."""
    candidates = [r.job.created for r in report.results if r.verdict not in _DONE]
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
    """Run the sweep the stack's schedule asked for; returns the function's answer."""
    minutes = request.get("overlapMinutes", DEFAULT_OVERLAP.total_seconds() / 60)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or minutes <= 0:
        minutes = DEFAULT_OVERLAP.total_seconds() / 60
    sweep = Sweep(
        archiver.jobs,
        archiver.table,
        archiver,
        overlap=timedelta(minutes=float(minutes)),
        metrics=metrics,
    )
    try:
        result = sweep.run(deadline=deadline)
    except Exception as exc:
        # Never raise: a failed sweep is not worth a Lambda retry or a DLQ message, the next
        # scheduled one starts from the same watermark. The error still alarms.
        metrics.add(Metric.ARCHIVE_ERRORS, MetricUnit.Count, 1)
        logger.exception("sweep failed; the next scheduled sweep starts where this one did")
        return {"action": SWEEP_ACTION, "error": exc.__class__.__name__}
    counts: dict[str, int] = {}
    for job in result.report.results:
        counts[job.verdict] = counts.get(job.verdict, 0) + 1
    summary = {
        "action": SWEEP_ACTION,
        "listed": result.report.listed,
        "recovered": len(result.recovered),
        "verdicts": counts,
        "windows": {kind.value: start for kind, start in result.kinds.items()},
    }
    logger.info("sweep finished", extra=summary)
    if result.failed:
        failed = [f"{r.job.name}: {r.reason}" for r in result.report.with_verdict("FAILED")]
        logger.warning("sweep left runs for the next sweep", extra={"failed": failed[:20]})
    return summary
