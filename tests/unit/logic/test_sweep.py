"""The sweep's rules, fast: a Transcribe of plain Python, the real history table (in-process
moto), and an archiver that does what each test says. What a user would see is the table:
the floor each kind stores, the items, the markers; and the answer and the metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.contract import ARCHIVED, INCOMPLETE, JobKind, Metric
from archiver.deadline import Deadline
from archiver.errors import JobNotFinishedError, RetryableArchiveError
from archiver.logic.archive import ArchiveResult
from archiver.logic.sweep import (
    FIRST_SWEEP,
    LONGEST_LEASE,
    Sweep,
    implausible_lease,
    scheduled_sweep,
    skip_settled,
)
from archiver.models.jobs import ListedJob
from archiver.observability import RecordingMetrics
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord
from archiver.timefmt import iso_ms

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
TX, CA = JobKind.TRANSCRIPTION, JobKind.CALL_ANALYTICS


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


@dataclass
class FakeJobs:
    """What Transcribe lists: jobs per kind and status, newest first."""

    jobs: dict[JobKind, list[ListedJob]] = field(default_factory=dict)
    broken: dict[JobKind, Exception] = field(default_factory=dict)
    listed: list[tuple[JobKind, str]] = field(default_factory=list)

    def add(self, kind: JobKind, name: str, created: datetime, status: str = "COMPLETED") -> None:
        completed = created + timedelta(seconds=30) if status in ("COMPLETED", "FAILED") else None
        self.jobs.setdefault(kind, []).append(ListedJob(kind, name, status, created, completed))

    def kinds(self) -> tuple[JobKind, ...]:
        return (TX, CA)

    def list_jobs(
        self, kind: JobKind, status: str, *, since: datetime | None, limiter: Any
    ) -> Iterator[ListedJob]:
        self.listed.append((kind, status))
        if kind in self.broken:
            raise self.broken[kind]
        found = [j for j in self.jobs.get(kind, []) if j.status == status]
        for job in sorted(found, key=lambda j: j.created, reverse=True):
            if since is None or job.created >= since:
                yield job


class FakeArchiver:
    """Archives a run by writing its item, or fails as told (``failing``)."""

    def __init__(self, table: HistoryTable) -> None:
        self.table = table
        self.failing: set[str] = set()
        self.gone: set[str] = set()
        self.archived: list[str] = []
        self.retried: list[str] = []

    def archive_listed(self, job: ListedJob, *, deadline: Any = None) -> ArchiveResult:
        return self._archive(job.kind, job.name, job.created_at, job.status)

    def retry_run(self, held: HistoryRecord, *, deadline: Any = None) -> ArchiveResult:
        self.retried.append(held.job_name)
        if held.job_name in self.gone:
            record = HistoryRecord(
                held.job_name,
                held.created_at,
                job_kind=held.kind,
                archive_status=INCOMPLETE,
                archive_error="the run no longer exists",
                retry_archive=False,
            )
            self.table._put(record)
            return ArchiveResult(held.job_name, "INCOMPLETE", held.created_at, record=record)
        return self._archive(held.kind, held.job_name, held.created_at, held.job_status or "")

    def _archive(self, kind: JobKind, name: str, key: str, status: str) -> ArchiveResult:
        if name in self.failing:
            raise RetryableArchiveError(f"{name}: will retry: transcript.json: HTTP 500")
        record = HistoryRecord(name, key, job_kind=kind, job_status=status, archive_status=ARCHIVED)
        self.table._put(record)
        self.archived.append(name)
        return ArchiveResult(name, "ARCHIVED", key, record=record)


@pytest.fixture
def table(aws: dict[str, Any]) -> HistoryTable:
    return HistoryTable(aws["dynamodb"], aws["table"])


@pytest.fixture
def jobs() -> FakeJobs:
    return FakeJobs()


@pytest.fixture
def archiver(table: HistoryTable) -> FakeArchiver:
    return FakeArchiver(table)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


def sweep(
    jobs: FakeJobs,
    table: HistoryTable,
    archiver: FakeArchiver | None,
    metrics: RecordingMetrics | None = None,
    *,
    kinds: tuple[JobKind, ...] = (TX,),
    now: datetime = NOW,
    since: datetime | None = None,
) -> Any:
    runner = Sweep(
        jobs,  # type: ignore[arg-type]
        table,
        archiver,  # type: ignore[arg-type]
        kinds=kinds,
        metrics=metrics,
        clock=lambda: now,
    )
    return runner.run(since=since)


def item(
    table: HistoryTable, name: str, created: datetime, kind: JobKind = TX, **fields: Any
) -> HistoryRecord:
    record = HistoryRecord(name, iso_ms(created), job_kind=kind, job_status="COMPLETED", **fields)
    table._put(record)
    return record


# -- the floor ----------------------------------------------------------------------------


def test_given_every_listed_run_archived_then_the_floor_is_the_newest_run(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    for n, minutes in enumerate((50, 30, 10)):
        jobs.add(TX, f"job-{n}", at(minutes))

    report = sweep(jobs, table, archiver)

    assert sorted(archiver.archived) == ["job-0", "job-1", "job-2"]
    assert table.sweep_floor(TX) == iso_ms(at(10))
    assert report.kinds[TX] == iso_ms(NOW - FIRST_SWEEP)  # the first sweep's reach


def test_given_a_stored_floor_then_the_window_starts_one_overlap_before_it(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(60)), read=None, swept_at="x")
    jobs.add(TX, "inside-overlap", at(70))
    jobs.add(TX, "before-window", at(80))

    report = sweep(jobs, table, archiver)

    assert report.kinds[TX] == iso_ms(at(75))
    assert archiver.archived == ["inside-overlap"]


def test_given_a_job_still_running_then_the_floor_waits_at_its_creation(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    jobs.add(TX, "long", at(120), status="IN_PROGRESS")
    jobs.add(TX, "queued", at(90), status="QUEUED")
    jobs.add(TX, "done", at(5))

    sweep(jobs, table, archiver)

    assert table.sweep_floor(TX) == iso_ms(at(120))


@pytest.mark.parametrize(
    ("name", "fields", "holds"),
    [
        ("leased", {"archive_status": INCOMPLETE, "retry_archive": True}, True),
        ("for-good", {"archive_status": INCOMPLETE, "retry_archive": False}, False),
        ("archived", {"archive_status": ARCHIVED}, False),
    ],
)
def test_given_a_run_held_in_the_table_then_only_an_unsettled_one_holds_the_floor(
    jobs: FakeJobs,
    table: HistoryTable,
    archiver: FakeArchiver,
    name: str,
    fields: dict[str, Any],
    holds: bool,
) -> None:
    jobs.add(TX, name, at(40))
    jobs.add(TX, "newer", at(10))
    lease: dict[str, Any] = {"lease_owner": "another", "lease_expires_at": time.time() + 600}
    item(table, name, at(40), **fields, **(lease if name == "leased" else {}))

    report = sweep(jobs, table, archiver)

    assert name not in archiver.archived  # never taken from its holder, never redone
    assert table.sweep_floor(TX) == iso_ms(at(40) if holds else at(10))
    verdict = {r.job.name: r.verdict for r in report.report.results}[name]
    assert (
        verdict == {"leased": "BUSY", "for-good": "SKIPPED", "archived": "ALREADY_ARCHIVED"}[name]
    )


def test_given_a_run_that_fails_then_it_holds_the_floor_and_is_counted(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver, metrics: RecordingMetrics
) -> None:
    jobs.add(TX, "failing", at(40))
    jobs.add(TX, "fine", at(10))
    archiver.failing.add("failing")

    report = sweep(jobs, table, archiver, metrics)

    assert table.sweep_floor(TX) == iso_ms(at(40))
    assert report.failed
    assert metrics.totals.get(Metric.SWEEP_RUNS_FAILED) == 1
    assert metrics.totals.get(Metric.JOBS_RECOVERED_BY_SWEEP) == 1  # "fine": no event had


def test_given_a_floor_when_nothing_is_listed_then_it_stays(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(60)), read=None, swept_at="x")
    sweep(jobs, table, archiver)
    assert table.sweep_floor(TX) == iso_ms(at(60))


def test_given_an_operators_narrow_since_then_the_floor_never_moves_forward(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(300)), read=None, swept_at="x")
    jobs.add(TX, "recent", at(5))

    sweep(jobs, table, archiver, since=at(10))

    assert archiver.archived == ["recent"]
    assert table.sweep_floor(TX) == iso_ms(at(300))


def test_given_an_operators_narrow_since_and_no_floor_then_none_is_stored(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    jobs.add(TX, "recent", at(5))
    sweep(jobs, table, archiver, since=at(10))
    assert table.sweep_floor(TX) is None


def test_given_an_operators_narrow_since_that_finds_a_failing_run_then_it_lowers_the_floor(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(5)), read=None, swept_at="x")
    jobs.add(TX, "failing", at(8))
    archiver.failing.add("failing")

    sweep(jobs, table, archiver, since=at(10))

    assert table.sweep_floor(TX) == iso_ms(at(8))


def test_given_an_operators_wide_since_then_the_floor_may_move_forward(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(60)), read=None, swept_at="x")
    jobs.add(TX, "old", at(600))
    jobs.add(TX, "new", at(5))

    sweep(jobs, table, archiver, since=at(24 * 60))

    assert table.sweep_floor(TX) == iso_ms(at(5))


def test_given_a_dry_run_then_nothing_is_written(jobs: FakeJobs, table: HistoryTable) -> None:
    jobs.add(TX, "pending", at(5))
    report = sweep(jobs, table, None)
    assert [r.verdict for r in report.report.results] == ["PENDING"]
    assert table.sweep_floor(TX) is None
    assert table.runs("pending") == []


# -- one kind's outage -------------------------------------------------------------------


def test_given_one_kinds_listing_fails_then_the_others_are_swept_and_its_floor_is_kept(
    jobs: FakeJobs,
    table: HistoryTable,
    archiver: FakeArchiver,
    metrics: RecordingMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(60)), read=None, swept_at="x")
    jobs.add(TX, "tx", at(5))
    jobs.add(CA, "ca", at(5))
    jobs.broken[TX] = RuntimeError("ListTranscriptionJobs:\n<html>throttled</html>")

    report = sweep(jobs, table, archiver, metrics, kinds=(TX, CA))

    assert archiver.archived == ["ca"]
    assert table.sweep_floor(TX) == iso_ms(at(60))
    assert table.sweep_floor(CA) == iso_ms(at(5))
    assert list(report.failed_kinds) == [TX]
    assert "\n" not in report.failed_kinds[TX]
    assert "<html>" not in report.failed_kinds[TX]
    assert report.failed
    assert metrics.totals.get(Metric.SWEEP_KINDS_FAILED) == 1
    (logged_failure,) = logged(caplog, "job kind not swept; its floor is kept")
    assert logged_failure.job_kind == TX.value
    assert logged_failure.error == report.failed_kinds[TX]
    assert logged_failure.exc_info is not None  # the traceback, for whoever investigates
    assert logged_failure.exc_info[1] is jobs.broken[TX]


# -- the table as the second net ------------------------------------------------------------


def test_given_a_marked_unsettled_run_below_the_floor_then_it_is_retried_until_settled(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    table.set_sweep_floor(TX, iso_ms(at(10)), read=None, swept_at="x")
    old = item(table, "old", at(600), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("old", old.created_at, TX, "dead-owner")
    archiver.failing.add("old")

    first = sweep(jobs, table, archiver)
    assert [r.verdict for r in first.retried] == ["FAILED"]
    assert [m.job_name for m in table.unsettled()] == ["old"]  # still marked

    archiver.failing.clear()
    second = sweep(jobs, table, archiver)
    assert [r.verdict for r in second.retried] == ["ARCHIVED"]
    assert archiver.retried == ["old", "old"]


def test_given_a_marked_run_that_settled_then_its_marker_is_dropped_without_a_retry(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    done = item(table, "done", at(60), archive_status=ARCHIVED)
    table.mark_unsettled("done", done.created_at, TX, "owner")
    gone = item(table, "expired", at(60))
    table.mark_unsettled("expired", gone.created_at, TX, "owner")
    table._db.delete_item(
        TableName=table.name,
        Key={"JobName": {"S": "expired"}, "CreatedAt": {"S": gone.created_at}},
    )

    report = sweep(jobs, table, archiver)

    assert report.retried == []
    assert archiver.retried == []
    assert list(table.unsettled()) == []


def test_given_a_marked_run_someone_is_archiving_then_it_is_left_to_them(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    busy = item(
        table,
        "busy",
        at(60),
        archive_status=INCOMPLETE,
        retry_archive=True,
        lease_owner="live",
        lease_expires_at=time.time() + 600,
    )
    table.mark_unsettled("busy", busy.created_at, TX, "live")

    report = sweep(jobs, table, archiver)

    assert [r.verdict for r in report.retried] == ["BUSY"]
    assert archiver.retried == []


def test_given_a_marked_run_of_a_kind_not_swept_then_it_is_left_alone(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    other = item(table, "call", at(60), kind=CA, archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("call", other.created_at, CA, "owner")

    report = sweep(jobs, table, archiver, kinds=(TX,))

    assert report.retried == []
    assert len(list(table.unsettled())) == 1


def test_given_a_marked_run_in_a_dry_run_then_it_is_reported_pending_and_kept(
    jobs: FakeJobs, table: HistoryTable
) -> None:
    run = item(table, "pending", at(60), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("pending", run.created_at, TX, "owner")

    report = sweep(jobs, table, None)

    assert [r.verdict for r in report.retried] == ["PENDING"]
    assert len(list(table.unsettled())) == 1


def test_given_a_run_the_listing_just_tried_then_its_marker_is_not_tried_twice(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    jobs.add(TX, "twice", at(5))
    run = item(table, "twice", at(5), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("twice", run.created_at, TX, "owner")
    archiver.failing.add("twice")

    report = sweep(jobs, table, archiver)

    assert [r.verdict for r in report.report.results] == ["FAILED"]
    assert report.retried == []


# -- the skip rule and the scheduled entry point ------------------------------------------------


def test_skip_rule_tells_settled_busy_for_good_and_retryable_apart() -> None:
    now = time.time()
    base = HistoryRecord("j", iso_ms(NOW))
    assert skip_settled(_with(base, archive_status=ARCHIVED), now) == "ALREADY_ARCHIVED"
    assert skip_settled(_with(base, archive_status="PURGED"), now) == "ALREADY_ARCHIVED"
    live = _with(base, archive_status=INCOMPLETE, retry_archive=True, lease_expires_at=now + 5)
    assert skip_settled(live, now) == "BUSY"
    assert skip_settled(_with(live, lease_expires_at=now - 5), now) is None
    assert skip_settled(_with(base, archive_status=INCOMPLETE, retry_archive=False), now) == (
        "SKIPPED"
    )


def _with(record: HistoryRecord, **fields: Any) -> HistoryRecord:
    plain = record.to_plain(internal=True)
    made = HistoryRecord.from_plain(plain)
    for name, value in fields.items():
        setattr(made, name, value)
    return made


class _Archiver:
    """What scheduled_sweep needs of the function's archiver."""

    def __init__(self, jobs: FakeJobs, table: HistoryTable) -> None:
        self.jobs, self.table = jobs, table
        self.inner = FakeArchiver(table)

    def archive_listed(self, job: ListedJob, **kw: Any) -> ArchiveResult:
        return self.inner.archive_listed(job, **kw)

    def retry_run(self, held: HistoryRecord, **kw: Any) -> ArchiveResult:
        return self.inner.retry_run(held, **kw)


def function_archiver(jobs: FakeJobs, table: HistoryTable) -> Any:
    return _Archiver(jobs, table)


def test_given_the_schedules_kinds_then_only_those_are_swept_and_each_is_reported(
    jobs: FakeJobs, table: HistoryTable, metrics: RecordingMetrics
) -> None:
    jobs.add(TX, "tx", datetime.now(UTC) - timedelta(minutes=5))
    jobs.add(CA, "ca", datetime.now(UTC) - timedelta(minutes=5))

    answer = scheduled_sweep(
        {"action": "sweep", "overlapMinutes": 15, "kinds": ["TRANSCRIPTION", "PODCAST"]},
        function_archiver(jobs, table),
        deadline=None,
        metrics=metrics,
    )

    assert list(answer["kinds"]) == ["TRANSCRIPTION"]
    assert answer["verdicts"] == {"ARCHIVED": 1}
    assert all(kind is TX for kind, _ in jobs.listed)
    # A kind nobody archives (a typo in a hand-edited schedule) is said, and alarms.
    assert list(answer["errors"]) == ["PODCAST"]
    assert metrics.totals.get(Metric.SWEEP_KINDS_FAILED) == 1


def test_given_the_schedules_kinds_in_the_clis_spelling_then_they_are_swept(
    jobs: FakeJobs, table: HistoryTable, metrics: RecordingMetrics
) -> None:
    jobs.add(CA, "ca", datetime.now(UTC) - timedelta(minutes=5))

    answer = scheduled_sweep(
        {"action": "sweep", "kinds": ["call-analytics"]},
        function_archiver(jobs, table),
        deadline=None,
        metrics=metrics,
    )

    assert list(answer["kinds"]) == ["CALL_ANALYTICS"]
    assert answer["verdicts"] == {"ARCHIVED": 1}
    assert "errors" not in answer


def test_given_a_kind_that_fails_then_the_answer_names_it_in_one_line(
    jobs: FakeJobs, table: HistoryTable, metrics: RecordingMetrics
) -> None:
    jobs.broken[CA] = RuntimeError("no Call Analytics here")

    answer = scheduled_sweep(
        {"action": "sweep"},
        function_archiver(jobs, table),
        deadline=None,
        metrics=metrics,
    )

    assert answer["errors"] == {"CALL_ANALYTICS": "RuntimeError: no Call Analytics here"}
    assert answer["kinds"]["CALL_ANALYTICS"] == {"error": "RuntimeError: no Call Analytics here"}
    assert "window" in answer["kinds"]["TRANSCRIPTION"]


def test_given_the_table_cannot_be_read_then_the_sweep_answers_the_error_and_alarms(
    jobs: FakeJobs, aws: dict[str, Any], metrics: RecordingMetrics
) -> None:
    missing = HistoryTable(aws["dynamodb"], "no-such-table")

    answer = scheduled_sweep(
        {"action": "sweep", "kinds": []},
        function_archiver(jobs, missing),
        deadline=None,
        metrics=metrics,
    )

    assert answer["error"].startswith("Query failed: HTTP 400: ResourceNotFoundException")
    assert metrics.totals.get(Metric.ARCHIVE_ERRORS) == 1


def test_given_an_unfinished_listed_run_then_it_fails_and_holds_the_floor(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    jobs.add(TX, "odd", at(20))
    jobs.add(TX, "fine", at(5))

    def not_finished(job: ListedJob, **_: Any) -> ArchiveResult:
        if job.name == "odd":
            raise JobNotFinishedError("odd: IN_PROGRESS")
        return FakeArchiver._archive(archiver, job.kind, job.name, job.created_at, job.status)

    archiver.archive_listed = not_finished  # type: ignore[method-assign]

    sweep(jobs, table, archiver)

    assert table.sweep_floor(TX) == iso_ms(at(20))


# -- the answer, the overlap and the logs, exactly ------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[Any]:
    """The log records whose message starts with ``message`` (their extra keys as fields)."""
    return [r for r in caplog.records if r.getMessage().startswith(message)]


def test_given_a_scheduled_sweep_then_its_answer_says_everything_it_did(
    jobs: FakeJobs, table: HistoryTable, metrics: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    jobs.add(TX, "found", now - timedelta(minutes=5))
    held = item(
        table, "marked", now - timedelta(days=3), archive_status=INCOMPLETE, retry_archive=True
    )
    table.mark_unsettled("marked", held.created_at, TX, "dead")
    table.set_sweep_floor(TX, iso_ms(now - timedelta(hours=1)), read=None, swept_at="x")

    answer = scheduled_sweep(
        {"action": "sweep", "overlapMinutes": 30, "kinds": ["TRANSCRIPTION"]},
        function_archiver(jobs, table),
        deadline=None,
        metrics=metrics,
    )

    window = iso_ms(now - timedelta(hours=1, minutes=30))
    assert answer == {
        "action": "sweep",
        "listed": 1,
        "recovered": 1,
        "verdicts": {"ARCHIVED": 1},
        "windows": {"TRANSCRIPTION": window},
        "retried": {"ARCHIVED": 1},
        "kinds": {"TRANSCRIPTION": {"window": window, "verdicts": {"ARCHIVED": 1}}},
    }
    assert metrics.totals == {Metric.JOBS_RECOVERED_BY_SWEEP: 1}
    (finished,) = logged(caplog, "sweep finished")
    assert finished.listed == 1
    (recovered,) = logged(caplog, "run archived by the")
    assert (recovered.job_name, recovered.job_kind) == ("found", "TRANSCRIPTION")
    assert recovered.created_at == iso_ms(now - timedelta(minutes=5))
    assert recovered.archive_status == "ARCHIVED"


@pytest.mark.parametrize(
    ("overlap", "minutes"),
    [(None, 15), (45, 45), (2.5, 2.5), (0, 15), (-5, 15), (True, 15), ("9", 15)],
)
def test_given_the_schedules_overlap_then_a_bad_one_falls_back_to_the_period(
    jobs: FakeJobs, table: HistoryTable, metrics: RecordingMetrics, overlap: Any, minutes: float
) -> None:
    now = datetime.now(UTC)
    table.set_sweep_floor(TX, iso_ms(now - timedelta(hours=2)), read=None, swept_at="x")
    request: dict[str, Any] = {"action": "sweep", "kinds": ["TRANSCRIPTION"]}
    if overlap is not None:
        request["overlapMinutes"] = overlap

    answer = scheduled_sweep(
        request, function_archiver(jobs, table), deadline=None, metrics=metrics
    )

    assert answer["windows"] == {"TRANSCRIPTION": iso_ms(now - timedelta(hours=2, minutes=minutes))}


class BrokenTable(HistoryTable):
    def unsettled(self) -> Iterator[Any]:
        raise RuntimeError("the table is gone")


def test_given_the_sweep_itself_fails_then_the_answer_and_the_log_say_so(
    jobs: FakeJobs, aws: dict[str, Any], metrics: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    broken = BrokenTable(aws["dynamodb"], aws["table"])

    answer = scheduled_sweep(
        {"action": "sweep", "kinds": ["TRANSCRIPTION"]},
        function_archiver(jobs, broken),
        deadline=None,
        metrics=metrics,
    )

    assert answer == {"action": "sweep", "error": "RuntimeError: the table is gone"}
    assert metrics.totals == {Metric.ARCHIVE_ERRORS: 1}
    (record,) = logged(caplog, "sweep failed;")
    assert record.getMessage() == "sweep failed; the next scheduled sweep starts where this one did"
    assert record.exc_info is not None


def test_given_a_kind_that_fails_then_its_log_line_names_it(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver, caplog: pytest.LogCaptureFixture
) -> None:
    jobs.broken[CA] = RuntimeError("down")
    sweep(jobs, table, archiver, kinds=(TX, CA))
    (record,) = logged(caplog, "job kind not swept")
    assert (record.job_kind, record.error) == ("CALL_ANALYTICS", "RuntimeError: down")
    assert record.levelname == "ERROR"


def test_given_a_run_that_fails_then_its_log_line_names_the_run_and_the_reason(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver, caplog: pytest.LogCaptureFixture
) -> None:
    jobs.add(TX, "failing", at(40))
    archiver.failing.add("failing")
    sweep(jobs, table, archiver)
    (record,) = logged(caplog, "sweep could not settle")
    assert (record.job_name, record.created_at, record.job_kind) == (
        "failing",
        iso_ms(at(40)),
        "TRANSCRIPTION",
    )
    assert "HTTP 500" in record.reason


# -- the table's second net: what each marked run's result says ------------------------------------


class RetryRaises(FakeArchiver):
    def __init__(self, table: HistoryTable, error: Exception) -> None:
        super().__init__(table)
        self.error = error

    def retry_run(self, held: HistoryRecord, *, deadline: Any = None) -> ArchiveResult:
        self.retried.append(held.job_name)
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (JobNotFinishedError("x: IN_PROGRESS"), "Transcribe reports the job as not finished"),
        (RetryableArchiveError("busy"), "could not finish now; try again later: busy"),
        (KeyError("odd"), "KeyError: 'odd'"),
    ],
)
def test_given_a_marked_run_whose_retry_fails_then_its_result_says_why(
    jobs: FakeJobs, table: HistoryTable, error: Exception, reason: str
) -> None:
    created = at(600)
    run = item(table, "marked", created, archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("marked", run.created_at, TX, "dead")

    report = sweep(jobs, table, RetryRaises(table, error))

    (result,) = report.retried
    assert (result.verdict, result.reason, result.at_rest) == ("FAILED", reason, False)
    assert (result.job.name, result.job.kind, result.job.created) == ("marked", TX, created)
    assert result.job.status == "COMPLETED"


def test_given_a_marked_run_under_a_shared_key_then_its_result_has_the_runs_own_time(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    created = at(600)
    key = f"{iso_ms(created)}#CALL_ANALYTICS"
    table._put(
        HistoryRecord(
            "shared",
            key,
            job_kind=CA,
            job_status="FAILED",
            archive_status=INCOMPLETE,
            retry_archive=True,
        )
    )
    table.mark_unsettled("shared", key, CA, "dead")

    report = sweep(jobs, table, archiver, kinds=(CA,))

    (result,) = report.retried
    assert (result.verdict, result.job.created, result.job.status) == (
        "ARCHIVED",
        created,
        "FAILED",
    )
    assert result.at_rest


def test_given_a_marked_run_out_of_time_then_it_is_left_for_the_next_sweep(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    run = item(table, "late", at(600), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("late", run.created_at, TX, "dead")

    report = Sweep(jobs, table, archiver, kinds=(TX,)).run(deadline=Deadline.after(19.0))  # type: ignore[arg-type]

    (result,) = report.retried
    assert (result.verdict, result.reason) == ("FAILED", "out of time before this run could start")
    assert archiver.retried == []


def test_given_a_busy_or_pending_marked_run_then_its_result_carries_the_items_reason(
    jobs: FakeJobs, table: HistoryTable
) -> None:
    run = item(
        table,
        "pending",
        at(600),
        archive_status=INCOMPLETE,
        retry_archive=True,
        archive_error="transcript.json: HTTP 500",
    )
    table.mark_unsettled("pending", run.created_at, TX, "dead")
    (result,) = sweep(jobs, table, None).retried
    assert (result.verdict, result.reason) == ("PENDING", "unsettled: transcript.json: HTTP 500")
    assert result.job.name == "pending"

    bare = item(table, "bare", at(500), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("bare", bare.created_at, TX, "dead")
    reasons = {r.job.name: r.reason for r in sweep(jobs, table, None).retried}
    assert reasons["bare"] == "unsettled: no reason"


class RetryIncomplete(FakeArchiver):
    """A retry that ends INCOMPLETE with reasons, retryable or for good (``for_good``)."""

    def __init__(self, table: HistoryTable, *, for_good: bool) -> None:
        super().__init__(table)
        self.for_good = for_good
        self.deadlines: list[Any] = []

    def retry_run(self, held: HistoryRecord, *, deadline: Any = None) -> ArchiveResult:
        self.deadlines.append(deadline)
        record = replace(
            held,
            archive_status=INCOMPLETE,
            archive_error="subtitles.vtt: HTTP 403",
            retry_archive=not self.for_good,
        )
        self.table._put(record)
        errors = {"transcript.json": "HTTP 500", "subtitles.vtt": "HTTP 403"}
        return ArchiveResult(
            held.job_name, "INCOMPLETE", held.created_at, errors=errors, record=record
        )


@pytest.mark.parametrize("for_good", [False, True])
def test_given_a_marked_run_whose_retry_ends_incomplete_then_its_reasons_and_rest_are_reported(
    jobs: FakeJobs, table: HistoryTable, for_good: bool
) -> None:
    run = item(table, "flaky", at(600), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("flaky", run.created_at, TX, "dead")
    archiver = RetryIncomplete(table, for_good=for_good)
    deadline = Deadline.after(600)

    report = Sweep(jobs, table, archiver, kinds=(TX,)).run(deadline=deadline)  # type: ignore[arg-type]

    (result,) = report.retried
    assert (result.verdict, result.reason, result.at_rest) == (
        "INCOMPLETE",
        "subtitles.vtt: HTTP 403; transcript.json: HTTP 500",
        for_good,
    )
    assert archiver.deadlines == [deadline]  # the retry runs within the sweep's own time


def test_given_a_marked_run_with_just_over_20_seconds_left_then_it_is_still_tried(
    jobs: FakeJobs, table: HistoryTable, archiver: FakeArchiver
) -> None:
    run = item(table, "in-time", at(600), archive_status=INCOMPLETE, retry_archive=True)
    table.mark_unsettled("in-time", run.created_at, TX, "dead")

    report = Sweep(jobs, table, archiver, kinds=(TX,)).run(deadline=Deadline.after(20.8))  # type: ignore[arg-type]

    assert [r.verdict for r in report.retried] == ["ARCHIVED"]


@pytest.mark.parametrize(
    ("lease_for", "verdict"), [(600.0, "BUSY"), (LONGEST_LEASE + 3600, "STUCK")]
)
def test_given_a_marked_run_under_a_live_lease_then_it_is_busy_or_stuck_with_the_items_reason(
    jobs: FakeJobs,
    table: HistoryTable,
    archiver: FakeArchiver,
    metrics: RecordingMetrics,
    lease_for: float,
    verdict: str,
) -> None:
    created = at(600)
    run = item(
        table,
        "held",
        created,
        archive_status=INCOMPLETE,
        retry_archive=True,
        archive_error="archiving under way",
        lease_owner="someone",
        lease_expires_at=time.time() + lease_for,
    )
    table.mark_unsettled("held", run.created_at, TX, "someone")

    report = sweep(jobs, table, archiver, metrics)

    (result,) = report.retried
    assert (result.verdict, result.reason) == (verdict, "archiving under way")
    assert (result.job.name, result.job.created, result.job.status) == (
        "held",
        created,
        "COMPLETED",
    )
    assert archiver.retried == []
    assert metrics.totals.get(Metric.SWEEP_RUNS_FAILED, 0) == (1 if verdict == "STUCK" else 0)


def test_given_a_lease_exactly_as_long_as_the_longest_then_it_is_plausible() -> None:
    now = 1_000_000.0
    at_most = HistoryRecord("n", "k", lease_expires_at=now + LONGEST_LEASE)
    beyond = HistoryRecord("n", "k", lease_expires_at=now + LONGEST_LEASE + 0.001)
    assert not implausible_lease(at_most, now)
    assert implausible_lease(beyond, now)
    assert not implausible_lease(HistoryRecord("n", "k"), now)


def test_given_a_marked_run_whose_item_has_no_status_then_its_result_has_none(
    jobs: FakeJobs, table: HistoryTable
) -> None:
    table._put(
        HistoryRecord(
            "bare", iso_ms(at(600)), job_kind=TX, archive_status=INCOMPLETE, retry_archive=True
        )
    )
    table.mark_unsettled("bare", iso_ms(at(600)), TX, "dead")

    (result,) = sweep(jobs, table, None).retried

    assert result.job.status == ""
