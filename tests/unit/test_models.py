"""What a job run should produce, and how it is recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from archiver.contract import REDACTED, SRT, TRANSCRIPT, VTT
from archiver.logic.archive import build_record, job_json
from archiver.models import PlannedOutput, plan_outputs
from archiver.store.archive_bucket import StoredObject

T0 = datetime(2026, 11, 23, 10, 15, 2, 123000, tzinfo=UTC)
SIGNED = "?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok"


def job(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "TranscriptionJobName": "call-1",
        "TranscriptionJobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "CreationTime": T0,
        "StartTime": T0,
        "CompletionTime": T0,
        "Transcript": {"TranscriptFileUri": "https://s3.amazonaws.com/b/call-1.json" + SIGNED},
    }
    return base | extra


def test_given_a_plain_job_when_planned_then_only_the_transcript_is_expected() -> None:
    assert plan_outputs(job(), archive_unredacted=True) == [
        PlannedOutput(TRANSCRIPT, "https://s3.amazonaws.com/b/call-1.json" + SIGNED)
    ]


def test_given_redaction_and_subtitles_when_planned_then_every_output_is_expected() -> None:
    planned = plan_outputs(
        job(
            ContentRedaction={"RedactionType": "PII", "RedactionOutput": "redacted_and_unredacted"},
            Transcript={
                "TranscriptFileUri": "https://s3.amazonaws.com/b/t.json",
                "RedactedTranscriptFileUri": "https://s3.amazonaws.com/b/redacted-t.json",
            },
            Subtitles={
                "Formats": ["vtt", "srt"],
                "SubtitleFileUris": [
                    "https://s3.amazonaws.com/b/t.srt" + SIGNED,
                    "https://s3.amazonaws.com/b/t.vtt" + SIGNED,
                ],
            },
        ),
        archive_unredacted=True,
    )
    by_name = {p.name: p.link for p in planned}
    assert list(by_name) == [TRANSCRIPT, REDACTED, VTT, SRT]
    assert ".vtt?" in (by_name[VTT] or "")
    assert ".srt?" in (by_name[SRT] or "")


def test_given_archive_unredacted_false_when_redacted_job_planned_then_unredacted_is_skipped() -> (
    None
):
    redacted_job = job(
        ContentRedaction={"RedactionType": "PII", "RedactionOutput": "redacted_and_unredacted"},
        Transcript={
            "TranscriptFileUri": "https://s3.amazonaws.com/b/t.json",
            "RedactedTranscriptFileUri": "https://s3.amazonaws.com/b/redacted-t.json",
        },
    )
    assert [p.name for p in plan_outputs(redacted_job, archive_unredacted=False)] == [REDACTED]
    assert [p.name for p in plan_outputs(job(), archive_unredacted=False)] == [TRANSCRIPT]


def test_given_null_or_missing_links_when_planned_then_they_are_expected_without_a_link() -> None:
    planned = plan_outputs(
        job(Transcript={"TranscriptFileUri": None}, Subtitles={"Formats": ["srt"]}),
        archive_unredacted=True,
    )
    assert planned == [PlannedOutput(TRANSCRIPT, None), PlannedOutput(SRT, None)]


def test_given_a_failed_job_when_planned_then_nothing_but_job_json_is_expected() -> None:
    failed = job(TranscriptionJobStatus="FAILED", FailureReason="Unsupported media format")
    failed.pop("Transcript")
    assert plan_outputs(failed, archive_unredacted=True) == []


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
    record = build_record(full, "2026-11-23T10:15:02.123Z", "s3://a/p/", stored, {})
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

    incomplete = build_record(full, "x", "s3://a/p/", stored, {"subtitles.srt": "link is null"})
    assert incomplete["ArchiveStatus"] == "INCOMPLETE"
    assert incomplete["ArchiveError"] == "subtitles.srt: link is null"
