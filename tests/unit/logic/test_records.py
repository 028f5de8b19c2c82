"""What the archive says about a run: its record and job.json (logic/records.py)."""

from __future__ import annotations

import json

from archiver.logic.records import build_record, job_json, object_metadata, object_tags
from archiver.models.outputs import StoredObject
from archiver.store.record import HistoryRecord

from tests.unit.factories import SIGNED, analytics_job, job, medical_job, scribe_job


def test_given_a_job_when_described_then_job_json_has_iso_times_and_no_query_strings() -> None:
    body = job_json(
        job(
            Subtitles={
                "Formats": ["vtt"],
                "SubtitleFileUris": ["https://s3.amazonaws.com/b/x.vtt" + SIGNED],
            }
        )
    )
    data = json.loads(body)
    assert data["CreationTime"] == "2026-11-23T10:15:02.123Z"
    assert data["Transcript"]["TranscriptFileUri"] == "https://s3.amazonaws.com/b/call-1.json"
    assert data["Subtitles"]["SubtitleFileUris"] == ["https://s3.amazonaws.com/b/x.vtt"]
    assert b"Signature" not in body and b"Security-Token" not in body
    assert job_json(job()) == job_json(job())  # deterministic: duplicates write equal bytes


def test_given_a_full_job_when_recorded_then_item_has_the_contract_attributes() -> None:
    full = job(
        MediaFormat="wav",
        MediaSampleRateHertz=8000,
        Media={"MediaFileUri": "s3://media/call-1.wav"},
        LanguageCodes=[
            {"LanguageCode": "en-US", "DurationInSeconds": 12.5},
            {"LanguageCode": "es-US", "DurationInSeconds": 3.0},
        ],
        IdentifiedLanguageScore=0.93,
        Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        ContentRedaction={"RedactionType": "PII", "RedactionOutput": "redacted"},
        Subtitles={"Formats": ["vtt", "srt"], "SubtitleFileUris": []},
        Tags=[{"Key": "Department", "Value": "Sales"}],
    )
    stored = {
        "job.json": StoredObject("job.json", "s3://a/p/job.json", 10, "ab" * 32, "application/json")
    }
    record = build_record(full, "s3://a/p/", stored, {}).to_plain()
    assert record["CreatedAt"] == "2026-11-23T10:15:02.123Z"
    assert record["JobKind"] == "TRANSCRIPTION"
    assert record["ArchiveStatus"] == "ARCHIVED"
    assert record["LanguageCodes"] == ["en-US", "es-US"]
    assert record["Tags"] == {"Department": "Sales"}
    assert record["SubtitleFormats"] == ["vtt", "srt"]
    assert record["MediaSampleRateHertz"] == 8000
    assert record["CompletedAt"] == "2026-11-23T10:15:02.123Z"
    assert record["Outputs"]["job.json"] == {
        "S3Uri": "s3://a/p/job.json",
        "Bytes": 10,
        "Sha256": "ab" * 32,
        "ContentType": "application/json",
    }
    assert "ArchiveError" not in record and "FailureReason" not in record

    incomplete = build_record(full, "s3://a/p/", stored, {"subtitles.srt": "link is null"})
    assert incomplete.archive_status == "INCOMPLETE"
    assert incomplete.archive_error == "subtitles.srt: link is null"


def test_given_a_call_analytics_job_when_recorded_then_item_has_its_kind_and_attributes() -> None:
    call = analytics_job(
        Tags=[{"Key": "Queue", "Value": "Billing"}],
        IdentifiedLanguageScore=0.98,
        Settings={
            "ContentRedaction": {"RedactionType": "PII", "RedactionOutput": "redacted"},
            "LanguageOptions": ["en-US", "es-US"],
            "Summarization": {"GenerateAbstractiveSummary": True},
        },
        CallAnalyticsJobDetails={
            "Skipped": [
                {
                    "Feature": "GENERATIVE_SUMMARIZATION",
                    "ReasonCode": "INSUFFICIENT_CONVERSATION_CONTENT",
                    "Message": "too short",
                }
            ]
        },
        DataAccessRoleArn="arn:aws:iam::111122223333:role/CallAnalytics",
    )

    record = build_record(call, "s3://a/call-analytics/call-1/x/", {}, {}).to_plain()

    assert record["JobKind"] == "CALL_ANALYTICS"
    assert record["JobName"] == "call-1"
    assert record["JobStatus"] == "COMPLETED"
    assert record["ChannelDefinitions"] == [
        {"ChannelId": 0, "ParticipantRole": "AGENT"},
        {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
    ]
    assert record["AnalyticsSkipped"] == [
        {
            "Feature": "GENERATIVE_SUMMARIZATION",
            "ReasonCode": "INSUFFICIENT_CONVERSATION_CONTENT",
            "Message": "too short",
        }
    ]
    assert record["Tags"] == {"Queue": "Billing"}
    assert record["Settings"]["LanguageOptions"] == ["en-US", "es-US"]
    # Redaction lives among Call Analytics' settings; the item also has it where
    # transcription runs keep it.
    assert record["ContentRedaction"] == {"RedactionType": "PII", "RedactionOutput": "redacted"}
    assert record["MediaFileUri"] == "s3://media/call-1.wav"
    assert record["MediaFormat"] == "wav"
    assert record["MediaSampleRateHertz"] == 8000
    assert record["IdentifiedLanguageScore"] == 0.98
    assert record["StartedAt"] == record["CompletedAt"] == "2026-11-23T10:15:02.123Z"
    assert "SubtitleFormats" not in record


def test_given_a_failed_call_analytics_job_when_recorded_then_reason_kept_and_no_skipped() -> None:
    failed = analytics_job(
        CallAnalyticsJobStatus="FAILED",
        FailureReason="Invalid number of channels: number of channels too large",
        Transcript=...,
        Media={"MediaFileUri": "s3://media/call-1.wav"},
    )
    record = build_record(failed, "s3://a/p/", {}, {}).to_plain()
    assert record["JobStatus"] == "FAILED"
    assert record["FailureReason"].startswith("Invalid number of channels")
    assert "AnalyticsSkipped" not in record


def test_given_a_call_analytics_job_when_described_then_job_json_keeps_no_query_strings() -> None:
    body = job_json(analytics_job())
    data = json.loads(body)
    assert data["CallAnalyticsJobName"] == "call-1"
    assert data["Media"] == {
        "MediaFileUri": "s3://media/call-1.wav",
        "RedactedMediaFileUri": "https://s3.amazonaws.com/b/redacted-call-1.wav",
    }
    assert b"Signature" not in body and b"Security-Token" not in body


# -- Medical and HealthScribe ----------------------------------------------------------------


def test_given_a_medical_job_when_recorded_then_item_keeps_specialty_type_and_phi_label() -> None:
    record = build_record(medical_job(), "s3://a/medical/visit-1/x/", {}, {})
    plain = record.to_plain()

    assert plain["JobKind"] == "MEDICAL"
    assert plain["JobName"] == "visit-1"
    assert plain["JobStatus"] == "COMPLETED"
    assert plain["Specialty"] == "PRIMARYCARE"
    assert plain["Type"] == "CONVERSATION"
    assert plain["ContentIdentificationType"] == "PHI"
    assert plain["Tags"] == {"Clinic": "North"}
    assert plain["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    assert (plain["MediaFormat"], plain["MediaSampleRateHertz"]) == ("wav", 16000)
    assert plain["MediaFileUri"] == "s3://media/visit-1.wav"
    assert "ContentRedaction" not in plain and "ChannelDefinitions" not in plain
    # The attributes survive the table's form both ways.
    assert HistoryRecord.from_item(record.to_item()).to_plain() == plain
    # PHI is labelled, not redacted: the objects are tagged unredacted.
    assert object_tags(medical_job(), "transcript.json")["job-redacted"] == "false"


def test_given_a_healthscribe_job_when_recorded_then_item_keeps_channels_and_tags() -> None:
    plain = build_record(scribe_job(), "s3://a/medical-scribe/visit-1/x/", {}, {}).to_plain()

    assert plain["JobKind"] == "MEDICAL_SCRIBE"
    assert plain["JobStatus"] == "COMPLETED"
    assert plain["ChannelDefinitions"] == [
        {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
        {"ChannelId": 1, "ParticipantRole": "PATIENT"},
    ]
    assert plain["Tags"] == {"Clinic": "South"}
    assert plain["Settings"]["ClinicalNoteGenerationSettings"] == {"NoteTemplate": "GIRPP"}
    assert plain["LanguageCode"] == "en-US"
    for absent in ("Specialty", "Type", "ContentIdentificationType", "ContentRedaction"):
        assert absent not in plain
    assert object_metadata(scribe_job()) == {
        "job-name": "visit-1",
        "job-status": "COMPLETED",
        "language-code": "en-US",
    }


def test_given_another_kind_with_a_type_member_then_no_medical_attribute_is_recorded() -> None:
    # Specialty/Type/ContentIdentificationType are a Medical job's own members only.
    plain = build_record(job(Type="X", Specialty="Y"), "s3://a/p/", {}, {}).to_plain()
    assert "Type" not in plain and "Specialty" not in plain


def test_given_a_healthscribe_job_when_described_then_job_json_is_its_description() -> None:
    data = json.loads(job_json(scribe_job()))
    assert data["MedicalScribeJobName"] == "visit-1"
    assert data["MedicalScribeOutput"]["ClinicalDocumentUri"] == "s3://team/visit-1/summary.json"
    assert data["CompletionTime"] == "2026-11-23T10:15:02.123Z"
