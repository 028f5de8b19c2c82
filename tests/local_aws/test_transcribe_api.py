"""The double's JSON API as botocore and the wire see it: Get, List, Delete, errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from botocore.exceptions import ClientError

from local_aws.transcribe import JOB_NOT_FOUND_MESSAGE, FakeTranscribe
from tests.local_aws.helpers import (
    QUERY_ORDER,
    TRANSCRIBE_MODEL,
    assert_matches_shape,
    link_params,
    raw_api,
    transcript_uri,
    xml_error,
)

pytestmark = pytest.mark.integration


def test_given_a_service_bucket_job_when_botocore_gets_it_then_every_field_parses(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    created = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    fake_transcribe.add_job(
        "plain-job",
        creation_time=created,
        start_time=created + timedelta(seconds=1),
        completion_time=created + timedelta(seconds=61, milliseconds=456),
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    )

    job = transcribe.get_transcription_job(TranscriptionJobName="plain-job")["TranscriptionJob"]

    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert job["LanguageCode"] == "en-US"
    assert job["MediaFormat"] == "mp3"
    assert job["MediaSampleRateHertz"] == 44100
    assert job["Media"]["MediaFileUri"].startswith("s3://")
    assert job["CreationTime"] == created  # millisecond precision survives the wire
    assert job["StartTime"] == created + timedelta(seconds=1)
    assert job["CompletionTime"] == created + timedelta(seconds=61, milliseconds=456)
    assert job["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    assert "FailureReason" not in job
    link = urlsplit(job["Transcript"]["TranscriptFileUri"])
    assert link.netloc == fake_transcribe.link_host
    assert re.fullmatch(
        r"/aws-transcribe-us-east-1-prod/123456789012/plain-job/[0-9a-f]{32}/asrOutput\.json",
        link.path,
    )
    assert [pair.split("=")[0] for pair in link.query.split("&")] == QUERY_ORDER
    params = link_params(job["Transcript"]["TranscriptFileUri"])
    assert params["X-Amz-Expires"] == "900"
    assert params["X-Amz-Credential"].startswith("ASIA")
    assert params["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert re.fullmatch(r"\d{8}T\d{6}Z", params["X-Amz-Date"])
    assert re.fullmatch(r"[0-9a-f]{64}", params["X-Amz-Signature"])

    status, raw, response = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "plain-job"}
    )
    assert status == 200
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-RequestId"]
    assert raw["TranscriptionJob"]["CreationTime"] == pytest.approx(created.timestamp())
    assert list(raw["TranscriptionJob"])[:8] == [
        "TranscriptionJobName",
        "TranscriptionJobStatus",
        "LanguageCode",
        "MediaSampleRateHertz",
        "MediaFormat",
        "Media",
        "Transcript",
        "StartTime",
    ]
    assert_matches_shape(raw, TRANSCRIBE_MODEL.operation_model("GetTranscriptionJob").output_shape)


def test_given_botocore_when_it_talks_to_transcribe_then_it_uses_aws_json_1_1(
    transcribe: Any,
) -> None:
    # The double speaks awsJson1_1. The model also offers smithy-rpc-v2-cbor; if a botocore
    # upgrade ever prefers it, this fails first and points at the reason.
    assert transcribe.meta.service_model.resolved_protocol == "json"


def test_given_no_such_job_when_getting_it_then_bad_request_with_the_real_message(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    with pytest.raises(transcribe.exceptions.BadRequestException) as raised:
        transcribe.get_transcription_job(TranscriptionJobName="never-existed")

    error = raised.value.response
    assert error["Error"]["Message"] == JOB_NOT_FOUND_MESSAGE
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    status, body, _ = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "never-existed"}
    )
    assert (status, body) == (
        400,
        {"__type": "BadRequestException", "Message": JOB_NOT_FOUND_MESSAGE},
    )


def test_given_bad_requests_when_calling_the_api_then_it_answers_like_aws(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    unsigned = http.request(
        "POST",
        fake_transcribe.endpoint_url + "/",
        body=b"{}",
        headers={"X-Amz-Target": "Transcribe.ListTranscriptionJobs"},
    )
    with pytest.raises(ClientError) as invalid_name:
        transcribe.get_transcription_job(TranscriptionJobName="has space")
    with pytest.raises(ClientError) as too_many:
        transcribe.list_transcription_jobs(MaxResults=101)  # botocore checks only the minimum
    with pytest.raises(ValueError, match="invalid job name"):
        fake_transcribe.add_job("has space")

    assert unsigned.status == 400
    assert json.loads(unsigned.data)["__type"] == "MissingAuthenticationTokenException"
    assert invalid_name.value.response["Error"]["Code"] == "ValidationException"
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 100" in too_many.value.response["Error"]["Message"]


def test_given_250_jobs_when_listing_100_per_page_then_three_pages_newest_first(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.set_rate_limits(None)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(250):
        fake_transcribe.add_job(
            f"bulk-{i:03d}",
            status="FAILED" if i % 10 == 0 else "COMPLETED",
            creation_time=base + timedelta(minutes=i),
        )

    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 100} | ({"NextToken": token} if token else {})
        page = transcribe.list_transcription_jobs(**kwargs)
        pages.append(page["TranscriptionJobSummaries"])
        token = page.get("NextToken")
        if token is None:
            break
    failed = transcribe.list_transcription_jobs(Status="FAILED", MaxResults=100)
    default_page = transcribe.list_transcription_jobs()
    by_name = transcribe.list_transcription_jobs(JobNameContains="BULK-24", MaxResults=100)

    assert [len(p) for p in pages] == [100, 100, 50]
    names = [s["TranscriptionJobName"] for p in pages for s in p]
    assert names == [f"bulk-{i:03d}" for i in reversed(range(250))]
    created = [s["CreationTime"] for p in pages for s in p]
    assert created == sorted(created, reverse=True)
    assert failed["Status"] == "FAILED"
    assert len(failed["TranscriptionJobSummaries"]) == 25
    assert {s["TranscriptionJobStatus"] for s in failed["TranscriptionJobSummaries"]} == {"FAILED"}
    assert len(default_page["TranscriptionJobSummaries"]) == 5  # the documented default
    assert len(by_name["TranscriptionJobSummaries"]) == 10  # case-insensitive, 240-249
    status, raw, _ = raw_api(http, fake_transcribe, "ListTranscriptionJobs", {"MaxResults": 3})
    assert status == 200
    assert len(raw["TranscriptionJobSummaries"]) == 3
    assert_matches_shape(
        raw, TRANSCRIBE_MODEL.operation_model("ListTranscriptionJobs").output_shape
    )


def test_given_a_deleted_job_when_reused_then_old_links_die_and_the_run_is_new(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    first = fake_transcribe.add_job("reused")
    old_link = first["Transcript"]["TranscriptFileUri"]

    transcribe.delete_transcription_job(TranscriptionJobName="reused")

    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.get_transcription_job(TranscriptionJobName="reused")
    gone = http.request("GET", old_link)
    assert gone.status == 404
    assert xml_error(gone.data)["Code"] == "NoSuchKey"
    second = fake_transcribe.add_job("reused")
    assert second["CreationTime"] >= first["CreationTime"] + timedelta(seconds=1)
    new_link = transcript_uri(transcribe, "reused")
    assert urlsplit(new_link).path != urlsplit(old_link).path
    assert http.request("GET", new_link).status == 200
    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.delete_transcription_job(TranscriptionJobName="not-there")
