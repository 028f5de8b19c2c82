"""What the archive says about a run: its record and job.json (logic/records.py)."""

from __future__ import annotations

import json

from archiver.logic.records import build_record, job_json
from archiver.models.outputs import StoredObject

from tests.unit.factories import SIGNED, analytics_job, job


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
