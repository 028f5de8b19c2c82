"""The typed history record owns the item's shape and its DynamoDB form."""

from __future__ import annotations

from archiver.contract import JobKind
from archiver.models.outputs import StoredObject
from archiver.store.record import HistoryRecord

STORED = StoredObject("job.json", "s3://b/p/job.json", 10, "ab" * 32, "application/json")


def full_record() -> HistoryRecord:
    return HistoryRecord(
        job_name="call-1",
        created_at="2026-11-23T10:15:02.123Z",
        job_kind=JobKind.TRANSCRIPTION,
        job_status="COMPLETED",
        archive_status="ARCHIVED",
        completed_at="2026-11-23T10:16:40.000Z",
        language_codes=["en-US", "es-US"],
        identified_language_score=0.93,
        media_sample_rate_hertz=8000,
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        tags={"Department": "Sales"},
        outputs={"job.json": STORED},
        lease_owner="owner-a",
        lease_expires_at=1234.5,
    )


def test_given_a_record_when_written_and_read_then_every_attribute_survives() -> None:
    record = full_record()
    again = HistoryRecord.from_item(record.to_item())
    assert again == record
    assert isinstance(again.identified_language_score, float)
    assert isinstance(again.media_sample_rate_hertz, int)


def test_given_a_record_when_shown_then_contract_names_are_used_and_the_lease_is_hidden() -> None:
    plain = full_record().to_plain()
    assert plain["JobName"] == "call-1"
    assert plain["JobKind"] == "TRANSCRIPTION"
    assert plain["MediaSampleRateHertz"] == 8000
    assert plain["Outputs"] == {"job.json": STORED.as_record()}
    assert "LeaseOwner" not in plain and "LeaseExpiresAt" not in plain
    assert "LanguageCode" not in plain  # None values are left out, never stored as NULL
    assert full_record().to_item()["LeaseOwner"] == {"S": "owner-a"}


def test_given_an_item_written_before_job_kinds_then_it_reads_as_a_transcription_run() -> None:
    old = HistoryRecord.from_plain(
        {"JobName": "old", "CreatedAt": "2025-01-01T00:00:00.000Z", "ArchiveStatus": "ARCHIVED"}
    )
    assert old.job_kind is None
    assert old.kind is JobKind.TRANSCRIPTION
    assert "JobKind" not in old.to_plain()  # reading does not invent an attribute
