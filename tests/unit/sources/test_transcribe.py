"""Transcribe as a source: pacing, listing, and job descriptions (sources/transcribe.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from archiver.contract import JobKind
from archiver.errors import JobNotFoundError
from archiver.logic.backfill import list_finished_jobs
from archiver.sources.transcribe import RateLimiter, TranscribeJobs
from botocore.exceptions import ClientError
from botocore.stub import Stubber

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVENT = {
    "version": "0",
    "id": "5f6b3c2a-0000-4000-8000-000000000001",
    "detail-type": "Transcribe Job State Change",
    "source": "aws.transcribe",
    "account": "123456789012",
    "time": "2026-11-23T10:16:40Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"TranscriptionJobName": "call-1", "TranscriptionJobStatus": "COMPLETED"},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_given_a_rate_of_5_per_second_when_11_calls_wait_then_they_span_2_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(11):
        limiter.wait()
        times.append(clock.now)
    assert times[-1] - times[0] == pytest.approx(2.0)
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(times))


# -- listing ------------------------------------------------------------------------------


def summary(name: str, created: datetime, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "TranscriptionJobName": name,
        "CreationTime": created,
        "CompletionTime": created + timedelta(minutes=1),
        "TranscriptionJobStatus": status,
    }


@pytest.fixture
def transcribe() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "transcribe",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_wait() -> RateLimiter:
    clock = FakeClock()
    return RateLimiter(1000.0, clock=clock, sleep=clock.sleep)


def test_given_newest_first_pages_when_listing_since_then_paging_stops_at_older_jobs(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    page1 = [summary("new-1", T0), summary("new-2", T0 - timedelta(hours=1))]
    page2 = [summary("new-3", T0 - timedelta(hours=2)), summary("old", T0 - timedelta(days=3))]
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page1, "NextToken": "t1"},
        {"Status": "COMPLETED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page2, "NextToken": "t2"},  # a third page is never read
        {"Status": "COMPLETED", "MaxResults": 100, "NextToken": "t1"},
    )

    jobs = list_finished_jobs(
        TranscribeJobs(client),
        statuses=["COMPLETED"],
        kinds=[JobKind.TRANSCRIPTION],
        since=T0 - timedelta(days=1),
        limiter=no_wait(),
    )

    assert [j.name for j in jobs] == ["new-1", "new-2", "new-3"]
    assert jobs[0].created_at == "2026-11-23T12:00:00.000Z"


def test_given_pages_out_of_order_when_listing_since_then_every_page_is_read_and_filtered(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    page1 = [  # not newest first
        summary("old", T0 - timedelta(days=3), "FAILED"),
        summary("new-1", T0, "FAILED"),
    ]
    page2 = [summary("new-2", T0 - timedelta(hours=1), "FAILED")]
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page1, "NextToken": "t1"},
        {"Status": "FAILED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page2},
        {"Status": "FAILED", "MaxResults": 100, "NextToken": "t1"},
    )

    jobs = list_finished_jobs(
        TranscribeJobs(client),
        statuses=["FAILED"],
        kinds=[JobKind.TRANSCRIPTION],
        since=T0 - timedelta(days=1),
        limiter=no_wait(),
    )

    assert [j.name for j in jobs] == ["new-1", "new-2"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("BadRequestException", "The requested job couldn't be found. Check the job name."),
        ("NotFoundException", "no such job"),
    ],
)
def test_given_a_job_transcribe_lost_when_described_then_job_not_found_is_raised(
    transcribe: tuple[Any, Stubber], code: str, message: str
) -> None:
    client, stubber = transcribe
    stubber.add_client_error(
        "get_transcription_job", service_error_code=code, service_message=message
    )
    with pytest.raises(JobNotFoundError):
        TranscribeJobs(client).describe(JobKind.TRANSCRIPTION, "gone")


def test_given_another_bad_request_when_described_then_the_aws_error_is_raised(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_client_error(
        "get_transcription_job",
        service_error_code="BadRequestException",
        service_message="1 validation error",
    )
    with pytest.raises(Exception, match="validation error") as raised:
        TranscribeJobs(client).describe(JobKind.TRANSCRIPTION, "x")
    assert not isinstance(raised.value, JobNotFoundError)


def test_given_a_description_then_times_are_utc_and_the_common_fields_typed(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    local = datetime(2026, 11, 23, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    stubber.add_response(
        "get_transcription_job",
        {
            "TranscriptionJob": {
                "TranscriptionJobName": "call-1",
                "TranscriptionJobStatus": "COMPLETED",
                "CreationTime": local,
                "CompletionTime": local + timedelta(minutes=2),
            }
        },
        {"TranscriptionJobName": "call-1"},
    )
    job = TranscribeJobs(client).describe(JobKind.TRANSCRIPTION, "call-1")
    assert (job.kind, job.name, job.status, job.finished) == (
        JobKind.TRANSCRIPTION,
        "call-1",
        "COMPLETED",
        True,
    )
    assert job.created == T0 and job.created.tzinfo == UTC
    assert job.started is None
    assert job.created_at == "2026-11-23T12:00:00.000Z"


# -- Call Analytics -----------------------------------------------------------------------


def analytics_summary(name: str, created: datetime, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "CallAnalyticsJobName": name,
        "CreationTime": created,
        "CompletionTime": created + timedelta(minutes=1),
        "LanguageCode": "en-US",
        "CallAnalyticsJobStatus": status,
    }


def test_given_every_kind_when_listing_without_kinds_then_each_api_is_read_and_jobs_merged(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": [summary("shared", T0 - timedelta(hours=2), "FAILED")]},
        {"Status": "FAILED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_call_analytics_jobs",
        {
            "CallAnalyticsJobSummaries": [
                analytics_summary("shared", T0, "FAILED"),
                analytics_summary("call-2", T0 - timedelta(hours=1), "FAILED"),
            ],
            "NextToken": "c1",
        },
        {"Status": "FAILED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_call_analytics_jobs",
        {"CallAnalyticsJobSummaries": [analytics_summary("old", T0 - timedelta(days=3), "FAILED")]},
        {"Status": "FAILED", "MaxResults": 100, "NextToken": "c1"},
    )

    stubber.add_response(
        "list_medical_transcription_jobs",
        {
            "MedicalTranscriptionJobSummaries": [
                {
                    "MedicalTranscriptionJobName": "shared",
                    "CreationTime": T0 - timedelta(minutes=30),
                    "TranscriptionJobStatus": "FAILED",
                    "Specialty": "PRIMARYCARE",
                    "Type": "DICTATION",
                }
            ]
        },
        {"Status": "FAILED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_medical_scribe_jobs",
        {
            "MedicalScribeJobSummaries": [
                {
                    "MedicalScribeJobName": "shared",
                    "CreationTime": T0 - timedelta(minutes=45),
                    "MedicalScribeJobStatus": "FAILED",
                }
            ]
        },
        {"Status": "FAILED", "MaxResults": 100},
    )

    jobs = list_finished_jobs(
        TranscribeJobs(client), statuses=["FAILED"], since=T0 - timedelta(days=1), limiter=no_wait()
    )

    # One name, four jobs: each kind's run is listed on its own.
    assert [(j.kind, j.name) for j in jobs] == [
        (JobKind.CALL_ANALYTICS, "shared"),
        (JobKind.MEDICAL, "shared"),
        (JobKind.MEDICAL_SCRIBE, "shared"),
        (JobKind.CALL_ANALYTICS, "call-2"),
        (JobKind.TRANSCRIPTION, "shared"),
    ]
    assert TranscribeJobs.kinds() == (
        JobKind.TRANSCRIPTION,
        JobKind.CALL_ANALYTICS,
        JobKind.MEDICAL,
        JobKind.MEDICAL_SCRIBE,
    )


def test_given_a_call_analytics_job_when_described_then_its_own_api_answers(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_response(
        "get_call_analytics_job",
        {
            "CallAnalyticsJob": {
                "CallAnalyticsJobName": "call-1",
                "CallAnalyticsJobStatus": "IN_PROGRESS",
                "CreationTime": T0,
                "StartTime": T0 + timedelta(seconds=1),
                "ChannelDefinitions": [
                    {"ChannelId": 0, "ParticipantRole": "AGENT"},
                    {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
                ],
            }
        },
        {"CallAnalyticsJobName": "call-1"},
    )
    job = TranscribeJobs(client).describe(JobKind.CALL_ANALYTICS, "call-1")
    assert (job.kind, job.name, job.status, job.finished) == (
        JobKind.CALL_ANALYTICS,
        "call-1",
        "IN_PROGRESS",
        False,
    )
    assert job.started == T0 + timedelta(seconds=1)
    assert job.raw["ChannelDefinitions"][1]["ParticipantRole"] == "CUSTOMER"


def test_given_a_call_analytics_job_transcribe_lost_when_described_then_not_found(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_client_error(
        "get_call_analytics_job",
        service_error_code="BadRequestException",
        service_message="The requested job couldn't be found. Check the job name and try again.",
    )
    with pytest.raises(JobNotFoundError):
        TranscribeJobs(client).describe(JobKind.CALL_ANALYTICS, "gone")


# -- Medical and HealthScribe ---------------------------------------------------------------


def test_given_a_medical_job_when_described_then_its_own_api_and_field_names_answer(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_response(
        "get_medical_transcription_job",
        {
            "MedicalTranscriptionJob": {
                "MedicalTranscriptionJobName": "visit-1",
                "TranscriptionJobStatus": "COMPLETED",
                "CreationTime": T0,
                "CompletionTime": T0 + timedelta(minutes=2),
                "Transcript": {"TranscriptFileUri": "s3://team/medical/visit-1.json"},
                "Specialty": "PRIMARYCARE",
                "Type": "DICTATION",
                "ContentIdentificationType": "PHI",
            }
        },
        {"MedicalTranscriptionJobName": "visit-1"},
    )
    job = TranscribeJobs(client).describe(JobKind.MEDICAL, "visit-1")
    assert (job.kind, job.name, job.status, job.finished) == (
        JobKind.MEDICAL,
        "visit-1",
        "COMPLETED",
        True,
    )
    assert job.completed == T0 + timedelta(minutes=2)
    assert job.raw["Type"] == "DICTATION"


def test_given_a_healthscribe_job_when_described_then_its_own_api_and_field_names_answer(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_response(
        "get_medical_scribe_job",
        {
            "MedicalScribeJob": {
                "MedicalScribeJobName": "visit-1",
                "MedicalScribeJobStatus": "QUEUED",
                "CreationTime": T0,
            }
        },
        {"MedicalScribeJobName": "visit-1"},
    )
    job = TranscribeJobs(client).describe(JobKind.MEDICAL_SCRIBE, "visit-1")
    assert (job.kind, job.name, job.status, job.finished) == (
        JobKind.MEDICAL_SCRIBE,
        "visit-1",
        "QUEUED",
        False,
    )


@pytest.mark.parametrize(
    ("kind", "operation", "member"),
    [
        (JobKind.MEDICAL, "delete_medical_transcription_job", "MedicalTranscriptionJobName"),
        (JobKind.MEDICAL_SCRIBE, "delete_medical_scribe_job", "MedicalScribeJobName"),
    ],
)
def test_given_a_medical_kind_when_deleted_then_its_own_delete_is_called_and_gone_is_fine(
    transcribe: tuple[Any, Stubber], kind: JobKind, operation: str, member: str
) -> None:
    client, stubber = transcribe
    stubber.add_response(operation, {}, {member: "visit-1"})
    stubber.add_client_error(
        operation,
        service_error_code="BadRequestException",
        service_message="The requested job couldn't be found. Check the job name and try again.",
    )
    jobs = TranscribeJobs(client)
    jobs.delete(kind, "visit-1")
    jobs.delete(kind, "visit-1")  # gone already: what was asked for


def test_given_find_then_unknown_and_refused_are_none_and_other_faults_raise(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    stubber.add_client_error(
        "get_medical_transcription_job",
        service_error_code="BadRequestException",
        service_message="The requested job couldn't be found. Check the job name and try again.",
    )
    stubber.add_client_error(
        "get_medical_transcription_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform transcribe:GetMedicalTranscriptionJob",
    )
    stubber.add_client_error(
        "get_medical_transcription_job",
        service_error_code="InternalFailureException",
        http_status_code=500,
    )
    jobs = TranscribeJobs(client)
    assert jobs.find(JobKind.MEDICAL, "visit-1") is None
    assert jobs.find(JobKind.MEDICAL, "visit-1") is None
    with pytest.raises(ClientError, match="InternalFailureException"):
        jobs.find(JobKind.MEDICAL, "visit-1")
