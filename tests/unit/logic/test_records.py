"""What the archive says about a run: its record and job.json (logic/records.py)."""

from __future__ import annotations

import json

from archiver.logic.records import build_record, job_json
from archiver.models.outputs import StoredObject

from tests.unit.factories import SIGNED, job


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
