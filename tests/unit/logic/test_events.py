"""Bad events are logged, counted and ignored; good ones reach the archiver."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from archiver.contract import JobKind, Metric
from archiver.logic.archive import ArchiveResult
from archiver.logic.events import handle_event
from archiver.models.events import Origin
from archiver.observability import RecordingMetrics

from local_aws.transcribe.content import FIXTURES_DIR

EVENTS = FIXTURES_DIR / "events"


def good_event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "798d0a3a-e2ed-897c-9637-dbcf090a482b",
        "detail-type": "Transcribe Job State Change",
        "source": "aws.transcribe",
        "account": "111122223333",
        "time": "2026-11-23T10:16:40Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"TranscriptionJobName": "call-1", "TranscriptionJobStatus": "COMPLETED"}
        | detail,
    }


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def analytics_event(**detail: Any) -> dict[str, Any]:
    """AWS's documented Call Analytics example, with real values for its placeholders."""
    event = fixture("docs-call-analytics-job-state-change.json")
    event["id"] = "4f1c5b0e-9a55-4d1e-8d7e-0123456789ab"
    event["time"] = "2026-11-23T10:16:40Z"
    event["detail"] = {"JobName": "call-1", "JobStatus": "COMPLETED"} | detail
    return event


class FakeArchiver:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def archive_job(self, job_name: str, **kwargs: Any) -> ArchiveResult:
        self.calls.append({"job_name": job_name} | kwargs)
        return ArchiveResult(job_name, "ARCHIVED", "2026-11-23T10:15:02.123Z", "s3://b/p/")


@pytest.fixture
def sink() -> RecordingMetrics:
    return RecordingMetrics()


def handle(event: Any, archiver: Any, sink: RecordingMetrics) -> dict[str, Any]:
    return handle_event(event, archiver, deadline=None, metrics=sink).as_response()


BAD_EVENTS: dict[str, Any] = {
    "wrong source": good_event() | {"source": "aws.s3"},
    # AWS's documented templates carry placeholders ("timestamp", "status").
    "call analytics docs template": fixture("docs-call-analytics-job-state-change.json"),
    "call analytics IN_PROGRESS": analytics_event(JobStatus="IN_PROGRESS"),
    "call analytics no status": analytics_event() | {"detail": {"JobName": "call-1"}},
    "call analytics no name": analytics_event() | {"detail": {"JobStatus": "COMPLETED"}},
    "call analytics path in name": analytics_event(JobName="../call-1"),
    "call analytics name too long": analytics_event(JobName="a" * 201),
    "call analytics transcription detail": analytics_event()
    | {"detail": {"TranscriptionJobName": "call-1", "TranscriptionJobStatus": "COMPLETED"}},
    "call analytics wrong source": analytics_event() | {"source": "aws.s3"},
    "transcription detail-type, analytics detail": analytics_event()
    | {"detail-type": "Transcribe Job State Change"},
    "vocabulary event": fixture("docs-vocabulary-state-change.json"),
    "post-call analytics event": fixture("real-call-analytics-post-call-job-state-change.json"),
    "post-call analytics docs event": fixture(
        "docs-call-analytics-post-call-job-state-change-completed.json"
    ),
    "docs template (placeholder time)": fixture("docs-transcribe-job-state-change.json"),
    "status IN_PROGRESS": good_event(TranscriptionJobStatus="IN_PROGRESS"),
    "no job name": {**good_event(), "detail": {"TranscriptionJobStatus": "FAILED"}},
    "path in job name": good_event(TranscriptionJobName="../../etc/passwd"),
    "space in job name": good_event(TranscriptionJobName="call 1"),
    "job name too long": good_event(TranscriptionJobName="a" * 201),
    "empty job name": good_event(TranscriptionJobName=""),
    "no detail": {k: v for k, v in good_event().items() if k != "detail"},
    "detail is a string": good_event() | {"detail": "COMPLETED"},
    "not an object": ["aws.transcribe"],
    "null": None,
    "empty object": {},
}


@pytest.mark.parametrize("name", sorted(BAD_EVENTS))
def test_given_a_bad_event_when_handled_then_it_is_rejected_counted_and_not_raised(
    name: str, sink: RecordingMetrics
) -> None:
    archiver: Any = FakeArchiver()
    result = handle(BAD_EVENTS[name], archiver, sink)
    assert result["outcome"] == "REJECTED"
    assert result["reasons"]
    assert archiver.calls == []
    assert sink.totals == {Metric.EVENTS_REJECTED: 1}


def test_given_a_completed_event_when_handled_then_the_run_is_archived_with_event_facts(
    sink: RecordingMetrics,
) -> None:
    archiver: Any = FakeArchiver()
    result = handle(good_event(), archiver, sink)
    assert result["outcome"] == "ARCHIVED"
    assert archiver.calls == [
        {
            "job_name": "call-1",
            "kind": JobKind.TRANSCRIPTION,
            "event_time": datetime(2026, 11, 23, 10, 16, 40, tzinfo=UTC),
            "event_status": "COMPLETED",
            "event_id": good_event()["id"],
            "deadline": None,
        }
    ]
    assert Metric.EVENTS_REJECTED not in sink.totals


def test_given_a_200_character_dotted_name_when_handled_then_it_is_accepted(
    sink: RecordingMetrics,
) -> None:
    archiver: Any = FakeArchiver()
    name = "A.b_c-9" * 28 + "abcd"
    assert len(name) == 200
    handle(good_event(TranscriptionJobName=name, TranscriptionJobStatus="FAILED"), archiver, sink)
    assert archiver.calls[0]["job_name"] == name


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED"])
def test_given_a_call_analytics_event_when_handled_then_its_run_is_archived_as_that_kind(
    status: str, sink: RecordingMetrics
) -> None:
    archiver: Any = FakeArchiver()
    detail: dict[str, Any] = {"JobStatus": status}
    if status == "FAILED":
        detail["FailureReason"] = "Unsupported media format"
    result = handle(analytics_event(**detail), archiver, sink)
    assert result["outcome"] == "ARCHIVED"
    assert archiver.calls == [
        {
            "job_name": "call-1",
            "kind": JobKind.CALL_ANALYTICS,
            "event_time": datetime(2026, 11, 23, 10, 16, 40, tzinfo=UTC),
            "event_status": status,
            "event_id": analytics_event(**detail)["id"],
            "deadline": None,
        }
    ]
    assert Metric.EVENTS_REJECTED not in sink.totals


def test_given_a_generative_summary_event_when_handled_then_skipped_features_do_not_reject(
    sink: RecordingMetrics,
) -> None:
    archiver: Any = FakeArchiver()
    event = analytics_event(
        AnalyticsJobDetails={
            "Skipped": [
                {
                    "Feature": "GENERATIVE_SUMMARIZATION",
                    "ReasonCode": "INSUFFICIENT_CONVERSATION_CONTENT",
                    "Message": "The conversation is too short.",
                }
            ]
        }
    )
    assert handle(event, archiver, sink)["outcome"] == "ARCHIVED"
    assert archiver.calls[0]["kind"] is JobKind.CALL_ANALYTICS


def test_given_an_analytics_event_naming_call_analytics_job_name_then_it_is_accepted(
    sink: RecordingMetrics,
) -> None:
    """One documentation page spells the field CallAnalyticsJobName; AWS's example events
    and working consumers use JobName. Either names the job."""
    archiver: Any = FakeArchiver()
    event = analytics_event() | {
        "detail": {"CallAnalyticsJobName": "call-9", "JobStatus": "FAILED"}
    }
    assert handle(event, archiver, sink)["outcome"] == "ARCHIVED"
    assert (archiver.calls[0]["job_name"], archiver.calls[0]["event_status"]) == (
        "call-9",
        "FAILED",
    )


def test_given_a_bad_event_then_each_wrong_field_is_named_with_what_was_expected(
    sink: RecordingMetrics,
) -> None:
    event = good_event(TranscriptionJobName="call 1", TranscriptionJobStatus="IN_PROGRESS") | {
        "source": "aws.s3",
        "time": "timestamp",
    }
    reasons = handle(event, FakeArchiver(), sink)["reasons"]
    assert [r.split(":")[0] for r in reasons] == [
        "source",
        "time",
        "detail.TranscriptionJobName",
        "detail.TranscriptionJobStatus",
    ]
    assert "'aws.transcribe'" in reasons[0]
    assert "COMPLETED, FAILED" in reasons[3]


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"time": "2026-11-23T10:16:40+02:00"}, datetime(2026, 11, 23, 8, 16, 40, tzinfo=UTC)),
        ({"time": "2026-11-23T10:16:40.250Z"}, datetime(2026, 11, 23, 10, 16, 40, 250000, UTC)),
        # Re-driven by other tooling: only source, detail-type, time and detail are needed.
        ({"version": None, "id": None, "account": None, "region": None, "resources": []}, None),
    ],
)
def test_given_an_event_in_another_accepted_form_then_the_run_is_archived_at_its_utc_time(
    sink: RecordingMetrics, envelope: dict[str, Any], expected: datetime | None
) -> None:
    archiver: Any = FakeArchiver()
    assert handle(good_event() | envelope, archiver, sink)["outcome"] == "ARCHIVED"
    assert archiver.calls[0]["event_time"] == (
        expected or datetime(2026, 11, 23, 10, 16, 40, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "envelope",
    [{"id": 7}, {"resources": "arn"}, {"resources": [1]}, {"time": 1795430200}, {"time": None}],
)
def test_given_a_malformed_envelope_field_then_the_event_is_rejected(
    sink: RecordingMetrics, envelope: dict[str, Any]
) -> None:
    archiver: Any = FakeArchiver()
    result = handle(good_event() | envelope, archiver, sink)
    assert result["outcome"] == "REJECTED"
    assert [r.split(":")[0] for r in result["reasons"]] == [next(iter(envelope))]
    assert archiver.calls == []


# -- what the logs and the answer say ----------------------------------------------------------


def records(caplog: pytest.LogCaptureFixture, message: str) -> list[Any]:
    return [r for r in caplog.records if r.getMessage().startswith(message)]


def test_given_a_rejected_event_then_the_log_names_its_reasons_source_type_and_id(
    sink: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    event = good_event(TranscriptionJobStatus="IN_PROGRESS") | {"id": "evt-1"}
    handle(event, FakeArchiver(), sink)
    (record,) = records(caplog, "event rejected: not a transcription or Call Analytics job")
    assert record.getMessage().endswith("state change for COMPLETED or FAILED")
    assert record.levelname == "WARNING"
    assert record.event_source == "aws.transcribe"
    assert record.event_detail_type == "Transcribe Job State Change"
    assert record.event_id == "evt-1"
    assert record.reasons[0].startswith("detail.TranscriptionJobStatus")


def test_given_a_rejected_non_object_then_the_log_has_no_envelope_fields(
    sink: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    handle(["aws.transcribe"], FakeArchiver(), sink)
    (record,) = records(caplog, "event rejected")
    assert (record.event_source, record.event_detail_type, record.event_id) == (None, None, None)


def test_given_an_archived_event_then_the_answer_names_the_run_and_where_it_is(
    sink: RecordingMetrics,
) -> None:
    assert handle(good_event(), FakeArchiver(), sink) == {
        "outcome": "ARCHIVED",
        "jobName": "call-1",
        "createdAt": "2026-11-23T10:15:02.123Z",
        "archiveUri": "s3://b/p/",
        "errors": {},
    }


class FailingArchiver(FakeArchiver):
    def archive_job(self, job_name: str, **kwargs: Any) -> ArchiveResult:
        raise RuntimeError("boom")


def test_given_an_archiver_failure_then_it_is_counted_logged_with_the_job_and_raised(
    sink: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        handle(good_event(), FailingArchiver(), sink)
    assert sink.totals == {Metric.ARCHIVE_ERRORS: 1}
    (record,) = records(caplog, "archiving failed; the event will be retried")
    assert record.levelname == "ERROR"
    assert record.exc_info is not None


@pytest.mark.parametrize(
    ("envelope", "field"),
    [({"account": "999988887777"}, "account"), ({"region": "eu-west-1"}, "region")],
)
def test_given_an_event_of_another_account_or_region_then_it_is_rejected_not_archived(
    sink: RecordingMetrics, envelope: dict[str, str], field: str
) -> None:
    archiver: Any = FakeArchiver()
    origin = Origin(account="111122223333", region="us-east-1")
    result = handle_event(
        good_event() | envelope, archiver, deadline=None, metrics=sink, origin=origin
    ).as_response()
    assert result["outcome"] == "REJECTED"
    assert result["reasons"][0].startswith(f"{field}: the event is from")
    assert archiver.calls == []
    assert sink.totals == {Metric.EVENTS_REJECTED: 1}
    # The same event is this origin's when it says nothing of where it is from.
    neutral = good_event() | {"account": None, "region": None}
    assert handle_event(neutral, archiver, deadline=None, metrics=sink, origin=origin).outcome == (
        "ARCHIVED"
    )


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:lambda:eu-west-1:111122223333:function:archiver", ("111122223333", "eu-west-1")),
        ("arn:aws:lambda:eu-west-1::function:archiver", None),
        ("arn:aws:s3:::bucket", None),
        (None, None),
    ],
)
def test_an_origin_comes_from_the_functions_arn_only(arn: Any, expected: Any) -> None:
    origin = Origin.from_function_arn(arn)
    assert (None if origin is None else (origin.account, origin.region)) == expected


@pytest.mark.parametrize(
    "time", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"]
)
def test_given_an_event_time_no_service_sends_then_it_is_rejected(
    sink: RecordingMetrics, time: str
) -> None:
    result = handle(good_event() | {"time": time}, FakeArchiver(), sink)
    assert result["outcome"] == "REJECTED"
    assert result["reasons"] == [f"time: expected a year from 2000, got {time!r}"]


def test_given_an_archiver_failure_then_its_log_line_names_the_job_and_the_event(
    sink: RecordingMetrics, json_logs: io.StringIO
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        handle(good_event() | {"id": "evt-7"}, FailingArchiver(), sink)
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    (failed,) = [line for line in lines if line["message"].startswith("archiving failed")]
    assert failed["message"] == "archiving failed; the event will be retried, then parked in a DLQ"
    assert (failed["job_name"], failed["event_id"]) == ("call-1", "evt-7")
    assert "RuntimeError: boom" in failed["exception"]


class IncompleteArchiver(FakeArchiver):
    def archive_job(self, job_name: str, **kwargs: Any) -> ArchiveResult:
        errors = {"subtitles.vtt": "HTTP 403: AccessDenied"}
        return ArchiveResult(
            job_name, "INCOMPLETE", "2026-11-23T10:15:02.123Z", "s3://b/p/", errors
        )


def test_given_an_incomplete_run_then_the_answer_says_why(sink: RecordingMetrics) -> None:
    assert handle(good_event(), IncompleteArchiver(), sink) == {
        "outcome": "INCOMPLETE",
        "jobName": "call-1",
        "createdAt": "2026-11-23T10:15:02.123Z",
        "archiveUri": "s3://b/p/",
        "errors": {"subtitles.vtt": "HTTP 403: AccessDenied"},
    }
