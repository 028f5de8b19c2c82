"""Which outputs a job run should have (logic/plan.py)."""

from __future__ import annotations

from archiver.contract import REDACTED, SRT, TRANSCRIPT, VTT
from archiver.logic.plan import plan_outputs
from archiver.models.outputs import PlannedOutput

from tests.unit.factories import SIGNED, job


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
    failed = job(
        TranscriptionJobStatus="FAILED", FailureReason="Unsupported media format", Transcript=...
    )
    assert plan_outputs(failed, archive_unredacted=True) == []
