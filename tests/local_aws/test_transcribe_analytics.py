"""The double's Call Analytics jobs as botocore and the wire see them: GetCallAnalyticsJob,
ListCallAnalyticsJobs, their links (service bucket, team bucket, null), FAILED jobs, faults,
quotas and the EventBridge event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
import urllib3
from botocore.exceptions import ClientError

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import JOB_NOT_FOUND_MESSAGE, FakeTranscribe, Fault, GeneratedContent
from local_aws.transcribe.content import (
    FIXTURES_DIR,
    call_audio_size,
    content_sha256,
    fixture_bytes,
)
from tests.conftest import serving
from tests.local_aws.helpers import (
    QUERY_ORDER,
    TRANSCRIBE_MODEL,
    assert_matches_shape,
    link_params,
    raw_api,
    xml_error,
)

pytestmark = pytest.mark.integration

CA: Final = "call-analytics"
REDACTED = "call-analytics-redacted-pii.json"


def get(transcribe: Any, name: str) -> dict[str, Any]:
    job: dict[str, Any] = transcribe.get_call_analytics_job(CallAnalyticsJobName=name)[
        "CallAnalyticsJob"
    ]
    return job


def test_given_a_redacted_call_when_botocore_gets_it_then_every_field_parses(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    created = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    fake_transcribe.add_call_analytics_job(
        "call-1",
        redaction="redacted_and_unredacted",
        pii_entity_types=["NAME", "PHONE"],
        language_options=["en-US", "es-US"],
        summarization=True,
        tags={"Queue": "Billing"},
        creation_time=created,
        completion_time=created + timedelta(minutes=5),
    )

    job = get(transcribe, "call-1")

    assert job["CallAnalyticsJobStatus"] == "COMPLETED"
    assert job["ChannelDefinitions"] == [
        {"ChannelId": 0, "ParticipantRole": "AGENT"},
        {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
    ]
    assert (job["MediaFormat"], job["MediaSampleRateHertz"]) == ("wav", 8000)
    assert "LanguageCode" not in job  # language identification: LanguageOptions instead
    assert job["IdentifiedLanguageScore"] == 0.96875
    assert job["Settings"] == {
        "ContentRedaction": {
            "RedactionType": "PII",
            "RedactionOutput": "redacted_and_unredacted",
            "PiiEntityTypes": ["NAME", "PHONE"],
        },
        "LanguageOptions": ["en-US", "es-US"],
        "Summarization": {"GenerateAbstractiveSummary": True},
    }
    assert job["Tags"] == [{"Key": "Queue", "Value": "Billing"}]
    assert job["DataAccessRoleArn"].startswith("arn:aws:iam::123456789012:role/")
    assert job["CreationTime"] == created
    links = {
        "transcript": job["Transcript"]["TranscriptFileUri"],
        "redacted": job["Transcript"]["RedactedTranscriptFileUri"],
        "redacted_media": job["Media"]["RedactedMediaFileUri"],
    }
    for output, link in links.items():
        parts = urlsplit(link)
        assert parts.netloc == fake_transcribe.link_host
        assert [pair.split("=")[0] for pair in parts.query.split("&")] == QUERY_ORDER
        assert link_params(link)["X-Amz-Expires"] == "900"
        response = http.request("GET", link)
        assert response.status == 200, output
        assert response.headers["Content-Type"] == (
            "audio/wav" if output == "redacted_media" else "application/json"
        )
    assert re.fullmatch(
        r"/aws-transcribe-us-east-1-prod/123456789012/call-1/[0-9a-f]{32}/"
        r"redacted-media/call-1\.wav",
        urlsplit(links["redacted_media"]).path,
    )
    # The real redacted transcript, an unredacted one derived from it, WAV-sized audio.
    assert http.request("GET", links["redacted"]).data == fixture_bytes(REDACTED)
    unredacted = json.loads(http.request("GET", links["transcript"]).data)
    assert unredacted["ContentMetadata"]["Output"] == "Raw"
    assert len(unredacted["Transcript"]) == 49 and len(unredacted["Participants"]) == 2
    audio = http.request("GET", links["redacted_media"], preload_content=False)
    assert int(audio.headers["Content-Length"]) == call_audio_size() == 44 + 279_060 * 32
    audio.release_conn()


def test_given_a_call_on_the_wire_then_its_keys_are_in_the_api_model(
    fake_transcribe: FakeTranscribe, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_call_analytics_job(
        "wire-call",
        redaction="redacted",
        null_outputs=["redacted_media"],
        skipped=[{"Feature": "GENERATIVE_SUMMARIZATION", "ReasonCode": "FAILED_SAFETY_GUIDELINES"}],
        summarization=True,
    )
    fake_transcribe.add_call_analytics_job("wire-failed", status="FAILED")
    operations = TRANSCRIBE_MODEL.operation_model

    status, body, _ = raw_api(
        http, fake_transcribe, "GetCallAnalyticsJob", {"CallAnalyticsJobName": "wire-call"}
    )
    assert status == 200
    assert_matches_shape(body, operations("GetCallAnalyticsJob").output_shape)
    assert body["CallAnalyticsJob"]["Media"]["RedactedMediaFileUri"] is None
    assert list(body["CallAnalyticsJob"]) == sorted(body["CallAnalyticsJob"])

    status, body, _ = raw_api(http, fake_transcribe, "ListCallAnalyticsJobs", {"MaxResults": 100})
    assert status == 200
    assert_matches_shape(body, operations("ListCallAnalyticsJobs").output_shape)
    by_name = {s["CallAnalyticsJobName"]: s for s in body["CallAnalyticsJobSummaries"]}
    assert by_name["wire-failed"]["FailureReason"]
    assert by_name["wire-call"]["CallAnalyticsJobDetails"]["Skipped"][0]["ReasonCode"] == (
        "FAILED_SAFETY_GUIDELINES"
    )


def test_given_a_failed_call_then_it_has_a_reason_and_no_links(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_call_analytics_job("failed-call", status="FAILED", redaction="redacted")
    job = get(transcribe, "failed-call")
    assert job["CallAnalyticsJobStatus"] == "FAILED"
    assert job["FailureReason"] == "Unsupported media format"
    assert "Transcript" not in job and "RedactedMediaFileUri" not in job["Media"]
    assert "MediaSampleRateHertz" not in job


def test_given_missing_outputs_then_their_links_are_absent(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_call_analytics_job(
        "partial-call", redaction="redacted", missing_outputs=["redacted_media"]
    )
    job = get(transcribe, "partial-call")
    assert "RedactedMediaFileUri" not in job["Media"]
    assert list(job["Transcript"]) == ["RedactedTranscriptFileUri"]


def test_given_a_service_link_when_its_time_has_passed_then_s3_says_it_expired(
    embedded_aws: EmbeddedAWS, http: urllib3.PoolManager
) -> None:
    now = [1_800_000_000.0]
    double = FakeTranscribe(region=embedded_aws.region, link_expires=60, clock=lambda: now[0])
    with serving(double) as fake:
        fake.add_call_analytics_job("aging-call", redaction="redacted")
        link = get(fake.client(), "aging-call")["Media"]["RedactedMediaFileUri"]
        now[0] += 61
        expired = http.request("GET", link)
        fresh = get(fake.client(), "aging-call")["Media"]["RedactedMediaFileUri"]
        again = http.request("HEAD", fresh)
    assert expired.status == 403
    assert xml_error(expired.data)["Message"] == "Request has expired"
    assert again.status == 200 and fresh != link


@pytest.mark.parametrize("scheme", ["s3", "https"])
def test_given_an_output_location_then_outputs_are_written_to_the_team_bucket(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, transcribe: Any, scheme: str
) -> None:
    bucket = f"team-analytics-{scheme}"
    audio = GeneratedContent(300_000, seed=2)
    fake_transcribe.add_call_analytics_job(
        "team-call",
        redaction="redacted_and_unredacted",
        media_format="mp3",
        output_location=f"s3://{bucket}/out",
        team_link_scheme=scheme,
        outputs={"redacted_media": audio},
    )
    job = get(transcribe, "team-call")
    s3 = embedded_aws.client("s3")
    keys = {
        "transcript": "out/analytics/team-call.json",
        "redacted": "out/redacted-analytics/team-call.json",
        "redacted_media": "out/redacted-media/team-call.mp3",
    }
    base = f"s3://{bucket}/" if scheme == "s3" else f"https://s3.us-east-1.amazonaws.com/{bucket}/"
    assert job["Transcript"] == {
        "TranscriptFileUri": base + keys["transcript"],
        "RedactedTranscriptFileUri": base + keys["redacted"],
    }
    assert job["Media"]["RedactedMediaFileUri"] == base + keys["redacted_media"]
    media = s3.get_object(Bucket=bucket, Key=keys["redacted_media"])
    assert media["ContentType"] == "audio/mpeg"
    assert media["ContentLength"] == 300_000
    for output, key in keys.items():
        assert fake_transcribe.output_location("team-call", output) == (bucket, key)  # type: ignore[arg-type]
    assert content_sha256(audio) == fake_transcribe.output_sha256("team-call", "redacted_media")


def test_given_list_calls_then_pages_status_and_the_5_per_second_quota_hold(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(7):
        fake_transcribe.add_call_analytics_job(f"listed-{i}", creation_time=base + timedelta(i))
    fake_transcribe.add_call_analytics_job("listed-failed", status="FAILED")
    fake_transcribe.add_job("listed-0")  # a transcription job of the same name

    first = transcribe.list_call_analytics_jobs(Status="COMPLETED", MaxResults=5)
    second = transcribe.list_call_analytics_jobs(
        Status="COMPLETED", MaxResults=5, NextToken=first["NextToken"]
    )
    names = [s["CallAnalyticsJobName"] for s in first["CallAnalyticsJobSummaries"]]
    names += [s["CallAnalyticsJobName"] for s in second["CallAnalyticsJobSummaries"]]
    assert names == [f"listed-{i}" for i in reversed(range(7))]
    assert "NextToken" not in second

    fake_transcribe.clear_requests()
    raw = fake_transcribe.client(retries={"total_max_attempts": 1, "mode": "standard"})
    codes = []
    for _ in range(8):
        try:
            raw.list_call_analytics_jobs(MaxResults=1)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert "LimitExceededException" in codes


def test_given_an_unknown_or_deleted_call_then_bad_request_couldnt_be_found(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_call_analytics_job("doomed-call")
    fake_transcribe.add_job("doomed-call")
    transcribe.delete_call_analytics_job(CallAnalyticsJobName="doomed-call")
    for name in ("doomed-call", "never-was"):
        with pytest.raises(ClientError) as raised:
            get(transcribe, name)
        assert raised.value.response["Error"] == {
            "Code": "BadRequestException",
            "Message": JOB_NOT_FOUND_MESSAGE,
        }
    # The transcription job of that name lives on.
    assert transcribe.get_transcription_job(TranscriptionJobName="doomed-call")


def test_given_link_and_api_faults_then_they_apply_to_call_analytics_outputs(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_call_analytics_job("faulty-call", redaction="redacted")
    fake_transcribe.inject("faulty-call", "redacted_media", [Fault.status(503), Fault.expired()])
    fake_transcribe.fail_api_next("GetCallAnalyticsJob", 1, "not_found")
    with pytest.raises(ClientError, match="couldn't be found"):
        get(transcribe, "faulty-call")
    link = get(transcribe, "faulty-call")["Media"]["RedactedMediaFileUri"]
    statuses = [http.request("GET", link, preload_content=False) for _ in range(3)]
    assert [r.status for r in statuses] == [503, 403, 200]
    for response in statuses:
        response.release_conn()
    assert fake_transcribe.link_requests("faulty-call", "redacted_media") == 3


def test_given_a_finished_call_then_its_event_is_the_documented_one(
    fake_transcribe: FakeTranscribe,
) -> None:
    documented = json.loads(
        (FIXTURES_DIR / "events/docs-call-analytics-job-state-change.json").read_text()
    )
    fake_transcribe.add_call_analytics_job(
        "event-call", status="FAILED", failure_reason="Invalid file size: file size too large"
    )
    event = fake_transcribe.event_for("event-call")
    assert list(event) == list(documented)
    assert {k: event[k] for k in ("detail-type", "source", "resources", "version")} == {
        k: documented[k] for k in ("detail-type", "source", "resources", "version")
    }
    assert event["detail"] == {
        "JobName": "event-call",
        "JobStatus": "FAILED",
        "FailureReason": "Invalid file size: file size too large",
    }
    completed = get(fake_transcribe.client(), "event-call")["CompletionTime"]
    assert event["time"] == completed.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_given_a_name_both_kinds_use_then_the_kind_must_be_named(
    fake_transcribe: FakeTranscribe,
) -> None:
    fake_transcribe.add_job("both")
    fake_transcribe.add_call_analytics_job("both", status="IN_PROGRESS")
    with pytest.raises(ValueError, match="pass kind="):
        fake_transcribe.event_for("both")
    assert fake_transcribe.event_for("both", kind="transcription")["detail-type"] == (
        "Transcribe Job State Change"
    )
    with pytest.raises(ValueError, match="has not ended"):
        fake_transcribe.event_for("both", kind=CA)
    finished = fake_transcribe.complete_job("both", kind=CA)
    assert finished["CallAnalyticsJobStatus"] == "COMPLETED"
    assert fake_transcribe.event_for("both", kind=CA)["detail"]["JobStatus"] == "COMPLETED"
    assert fake_transcribe.jobs(CA) == ["both"] == fake_transcribe.jobs()
