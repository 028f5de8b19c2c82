"""The double's Transcribe Medical and AWS HealthScribe jobs as botocore and the wire see them:
Get, List and Delete of each kind, checked against botocore's service model; outputs in the
team's bucket; FAILED jobs; names shared with other kinds; the event question."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3
from botocore.exceptions import ClientError

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import JOB_NOT_FOUND_MESSAGE, FakeTranscribe
from local_aws.transcribe.content import content_sha256, fixture_bytes
from tests.local_aws.helpers import TRANSCRIBE_MODEL, assert_matches_shape, raw_api

pytestmark = pytest.mark.integration

TEAM = "team-medical-out"


def get_medical(transcribe: Any, name: str) -> dict[str, Any]:
    job: dict[str, Any] = transcribe.get_medical_transcription_job(
        MedicalTranscriptionJobName=name
    )["MedicalTranscriptionJob"]
    return job


def get_scribe(transcribe: Any, name: str) -> dict[str, Any]:
    job: dict[str, Any] = transcribe.get_medical_scribe_job(MedicalScribeJobName=name)[
        "MedicalScribeJob"
    ]
    return job


def test_given_a_medical_job_when_botocore_gets_it_then_every_field_parses(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    created = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    fake_transcribe.add_medical_job(
        "visit-1",
        output_bucket=TEAM,
        content_identification="PHI",
        type="DICTATION",
        tags={"Clinic": "North"},
        creation_time=created,
        completion_time=created + timedelta(minutes=3),
    )

    job = get_medical(transcribe, "visit-1")

    assert job["MedicalTranscriptionJobName"] == "visit-1"
    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert (job["LanguageCode"], job["MediaFormat"], job["MediaSampleRateHertz"]) == (
        "en-US",
        "wav",
        16000,
    )
    assert (job["Specialty"], job["Type"], job["ContentIdentificationType"]) == (
        "PRIMARYCARE",
        "DICTATION",
        "PHI",
    )
    assert job["Tags"] == [{"Key": "Clinic", "Value": "North"}]
    assert job["CreationTime"] == created
    assert job["CompletionTime"] == created + timedelta(minutes=3)
    # Always the team's bucket, at medical/<job>.json by default, as an https S3 link.
    link = job["Transcript"]["TranscriptFileUri"]
    assert link == f"https://s3.us-east-1.amazonaws.com/{TEAM}/medical/visit-1.json"
    stored = embedded_aws.client("s3").get_object(Bucket=TEAM, Key="medical/visit-1.json")
    assert stored["Body"].read() == fixture_bytes("standard-minimal.json")
    assert stored["ContentType"] == "application/json"
    assert fake_transcribe.output_location("visit-1", "transcript") == (
        TEAM,
        "medical/visit-1.json",
    )


def test_given_a_healthscribe_job_when_botocore_gets_it_then_outputs_are_in_the_team_bucket(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_medical_scribe_job(
        "visit-2",
        output_bucket=TEAM,
        output_folder="scribe/",
        team_link_scheme="s3",
        note_template="SIRP",
        tags={"Clinic": "South"},
    )

    job = get_scribe(transcribe, "visit-2")

    assert job["MedicalScribeJobStatus"] == "COMPLETED"
    assert job["ChannelDefinitions"] == [
        {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
        {"ChannelId": 1, "ParticipantRole": "PATIENT"},
    ]
    assert job["Settings"] == {
        "ChannelIdentification": True,
        "ClinicalNoteGenerationSettings": {"NoteTemplate": "SIRP"},
    }
    assert job["MedicalScribeOutput"] == {
        "TranscriptFileUri": f"s3://{TEAM}/scribe/visit-2/transcript.json",
        "ClinicalDocumentUri": f"s3://{TEAM}/scribe/visit-2/summary.json",
    }
    assert job["Tags"] == [{"Key": "Clinic", "Value": "South"}]
    s3 = embedded_aws.client("s3")
    transcript = s3.get_object(Bucket=TEAM, Key="scribe/visit-2/transcript.json")["Body"].read()
    note = s3.get_object(Bucket=TEAM, Key="scribe/visit-2/summary.json")["Body"].read()
    assert json.loads(transcript)["Conversation"]["JobName"] == "visit-2"
    assert json.loads(note)["ClinicalDocumentation"]["Sections"][0]["SectionName"]
    assert content_sha256(note) == fake_transcribe.output_sha256("visit-2", "clinical_document")


def test_given_both_medical_kinds_on_the_wire_then_their_keys_are_in_the_api_model(
    fake_transcribe: FakeTranscribe, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_medical_job("wire-visit", output_bucket=TEAM, content_identification="PHI")
    fake_transcribe.add_medical_job("wire-failed", output_bucket=TEAM, status="FAILED")
    fake_transcribe.add_medical_scribe_job(
        "wire-visit", output_bucket=TEAM, null_outputs=["clinical_document"], note_template="DAP"
    )
    fake_transcribe.add_medical_scribe_job("wire-failed", output_bucket=TEAM, status="FAILED")
    operations = TRANSCRIBE_MODEL.operation_model
    calls: list[tuple[str, dict[str, Any]]] = [
        ("GetMedicalTranscriptionJob", {"MedicalTranscriptionJobName": "wire-visit"}),
        ("GetMedicalTranscriptionJob", {"MedicalTranscriptionJobName": "wire-failed"}),
        ("ListMedicalTranscriptionJobs", {"MaxResults": 100}),
        ("GetMedicalScribeJob", {"MedicalScribeJobName": "wire-visit"}),
        ("GetMedicalScribeJob", {"MedicalScribeJobName": "wire-failed"}),
        ("ListMedicalScribeJobs", {"MaxResults": 100, "Status": "FAILED"}),
    ]
    bodies = {}
    for op, request in calls:
        status, body, response = raw_api(http, fake_transcribe, op, request)
        assert status == 200, body
        assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
        assert_matches_shape(body, operations(op).output_shape)
        bodies[op, json.dumps(request)] = body

    visit = bodies["GetMedicalTranscriptionJob", '{"MedicalTranscriptionJobName": "wire-visit"}']
    assert list(visit["MedicalTranscriptionJob"])[:7] == [
        "MedicalTranscriptionJobName",
        "TranscriptionJobStatus",
        "LanguageCode",
        "MediaSampleRateHertz",
        "MediaFormat",
        "Media",
        "Transcript",
    ]
    scribe = bodies["GetMedicalScribeJob", '{"MedicalScribeJobName": "wire-visit"}']
    assert scribe["MedicalScribeJob"]["MedicalScribeOutput"]["ClinicalDocumentUri"] is None
    failed = bodies["GetMedicalScribeJob", '{"MedicalScribeJobName": "wire-failed"}']
    assert failed["MedicalScribeJob"]["FailureReason"]
    assert "MedicalScribeOutput" not in failed["MedicalScribeJob"]
    listed = bodies["ListMedicalTranscriptionJobs", '{"MaxResults": 100}']
    by_name = {
        s["MedicalTranscriptionJobName"]: s for s in listed["MedicalTranscriptionJobSummaries"]
    }
    assert by_name["wire-visit"]["OutputLocationType"] == "CUSTOMER_BUCKET"
    assert by_name["wire-visit"]["ContentIdentificationType"] == "PHI"
    assert by_name["wire-failed"]["FailureReason"]
    scribes = bodies["ListMedicalScribeJobs", '{"MaxResults": 100, "Status": "FAILED"}']
    assert [s["MedicalScribeJobName"] for s in scribes["MedicalScribeJobSummaries"]] == [
        "wire-failed"
    ]


def test_given_a_failed_medical_job_then_it_has_a_reason_no_link_and_no_sample_rate(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_medical_job(
        "failed-visit",
        output_bucket=TEAM,
        status="FAILED",
        failure_reason="Unsupported media format",
    )
    job = get_medical(transcribe, "failed-visit")
    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"] == "Unsupported media format"
    assert "Transcript" not in job and "MediaSampleRateHertz" not in job


def test_given_medical_lists_then_pages_newest_first_and_the_5_per_second_quota_holds(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(7):
        fake_transcribe.add_medical_job(
            f"listed-{i}", output_bucket=TEAM, creation_time=base + timedelta(i)
        )
    fake_transcribe.add_job("listed-0")  # a transcription job of the same name

    first = transcribe.list_medical_transcription_jobs(Status="COMPLETED", MaxResults=5)
    second = transcribe.list_medical_transcription_jobs(
        Status="COMPLETED", MaxResults=5, NextToken=first["NextToken"]
    )
    names = [s["MedicalTranscriptionJobName"] for s in first["MedicalTranscriptionJobSummaries"]]
    names += [s["MedicalTranscriptionJobName"] for s in second["MedicalTranscriptionJobSummaries"]]
    assert names == [f"listed-{i}" for i in reversed(range(7))]
    assert "NextToken" not in second

    raw = fake_transcribe.client(retries={"total_max_attempts": 1, "mode": "standard"})
    codes = []
    for _ in range(8):
        try:
            raw.list_medical_scribe_jobs(MaxResults=1)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert "LimitExceededException" in codes


def test_given_a_deleted_or_unknown_medical_job_then_bad_request_couldnt_be_found(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    for add in (fake_transcribe.add_medical_job, fake_transcribe.add_medical_scribe_job):
        add("doomed-visit", output_bucket=TEAM)
    fake_transcribe.add_job("doomed-visit")
    transcribe.delete_medical_transcription_job(MedicalTranscriptionJobName="doomed-visit")
    transcribe.delete_medical_scribe_job(MedicalScribeJobName="doomed-visit")
    for get in (get_medical, get_scribe):
        for name in ("doomed-visit", "never-was"):
            with pytest.raises(ClientError) as raised:
                get(transcribe, name)
            assert raised.value.response["Error"] == {
                "Code": "BadRequestException",
                "Message": JOB_NOT_FOUND_MESSAGE,
            }
    with pytest.raises(ClientError, match="couldn't be found"):
        transcribe.delete_medical_scribe_job(MedicalScribeJobName="doomed-visit")
    # The transcription job of that name lives on.
    assert transcribe.get_transcription_job(TranscriptionJobName="doomed-visit")


def test_given_medical_kinds_then_completing_works_and_only_medical_has_an_event(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_medical_job("busy", output_bucket=TEAM, status="IN_PROGRESS")
    fake_transcribe.add_medical_scribe_job("busy", output_bucket=TEAM, status="QUEUED")
    with pytest.raises(ValueError, match="pass kind="):
        fake_transcribe.describe("busy")
    assert "Transcript" not in get_medical(transcribe, "busy")

    fake_transcribe.complete_job("busy", kind="medical")
    fake_transcribe.complete_job("busy", kind="medical-scribe", status="FAILED")

    assert get_medical(transcribe, "busy")["Transcript"]["TranscriptFileUri"].endswith(
        "/medical/busy.json"
    )
    assert get_scribe(transcribe, "busy")["MedicalScribeJobStatus"] == "FAILED"
    # No event is documented for either; a Medical job's would be a Transcribe Job State
    # Change naming it (the case the archiver handles), HealthScribe's none at all.
    event = fake_transcribe.event_for("busy", kind="medical")
    assert event["detail-type"] == "Transcribe Job State Change"
    assert event["detail"] == {
        "TranscriptionJobName": "busy",
        "TranscriptionJobStatus": "COMPLETED",
    }
    with pytest.raises(ValueError, match="HealthScribe"):
        fake_transcribe.event_for("busy", kind="medical-scribe")
    assert fake_transcribe.jobs("medical") == ["busy"] == fake_transcribe.jobs("medical-scribe")


def test_given_no_output_bucket_then_a_medical_job_is_refused() -> None:
    with FakeTranscribe() as fake, pytest.raises(ValueError, match="s3_client"):
        fake.add_medical_job("nowhere", output_bucket=TEAM)
