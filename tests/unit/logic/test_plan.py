"""Which outputs a job run should have (logic/plan.py)."""

from __future__ import annotations

import pytest
from archiver.contract import CLINICAL_DOCUMENT, REDACTED, SRT, TRANSCRIPT, VTT
from archiver.logic.plan import plan_outputs
from archiver.models.outputs import PlannedOutput

from tests.unit.factories import SIGNED, analytics_job, job, medical_job, scribe_job


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


# -- Call Analytics -------------------------------------------------------------------------


def test_given_a_redacted_call_analytics_job_when_planned_then_transcripts_and_audio_expected() -> (
    None
):
    planned = plan_outputs(analytics_job(), archive_unredacted=True)
    assert [(p.name, p.content_type) for p in planned] == [
        (TRANSCRIPT, "application/json"),
        (REDACTED, "application/json"),
        ("redacted-media.wav", "audio/wav"),
    ]
    assert all(p.link and p.link.endswith(SIGNED) for p in planned)


@pytest.mark.parametrize(
    ("link", "media_format", "name", "content_type"),
    [
        ("s3://team/out/redacted-media/call-1.flac", "flac", "redacted-media.flac", "audio/flac"),
        (
            "https://s3.amazonaws.com/b/x/call-1.MP3" + SIGNED,
            "mp3",
            "redacted-media.mp3",
            "audio/mpeg",
        ),
        ("https://s3.amazonaws.com/b/call-1.ogg", "ogg", "redacted-media.ogg", "audio/ogg"),
        ("https://s3.amazonaws.com/b/call-1.webm", "webm", "redacted-media.webm", "audio/webm"),
        ("https://s3.amazonaws.com/b/call-1.mp4", "mp4", "redacted-media.mp4", "audio/mp4"),
        ("https://s3.amazonaws.com/b/call-1.m4a", "mp4", "redacted-media.m4a", "audio/mp4"),
        # The link's own file name wins over the format the job was started with.
        ("https://s3.amazonaws.com/b/call-1.wav", "mp3", "redacted-media.wav", "audio/wav"),
        # No usable extension: the job's format, else a neutral one.
        ("https://s3.amazonaws.com/b/call-1", "flac", "redacted-media.flac", "audio/flac"),
        (
            "https://s3.amazonaws.com/b/call-1.w%2Fav",
            None,
            "redacted-media.bin",
            "application/octet-stream",
        ),
        (
            "https://s3.amazonaws.com/b/call-1.x",
            "midi",
            "redacted-media.x",
            "application/octet-stream",
        ),
    ],
)
def test_given_redacted_audio_when_planned_then_its_name_and_type_come_from_the_link(
    link: str, media_format: str | None, name: str, content_type: str
) -> None:
    planned = plan_outputs(
        analytics_job(
            MediaFormat=media_format or ...,
            Media={"MediaFileUri": "s3://media/call-1", "RedactedMediaFileUri": link},
        ),
        archive_unredacted=True,
    )
    assert planned[-1] == PlannedOutput(name, link)
    assert planned[-1].content_type == content_type


def test_given_call_analytics_without_redaction_when_planned_then_only_the_transcript() -> None:
    plain = analytics_job(
        Settings={},
        Media={"MediaFileUri": "s3://media/call-1.wav"},
        Transcript={"TranscriptFileUri": "https://s3.amazonaws.com/b/call-1.json"},
    )
    assert [p.name for p in plan_outputs(plain, archive_unredacted=False)] == [TRANSCRIPT]


def test_given_archive_unredacted_false_when_call_analytics_planned_then_unredacted_skipped() -> (
    None
):
    planned = plan_outputs(analytics_job(), archive_unredacted=False)
    assert [p.name for p in planned] == [REDACTED, "redacted-media.wav"]


def test_given_redacted_only_call_analytics_when_planned_then_no_unredacted_transcript() -> None:
    redacted_only = analytics_job(
        Settings={"ContentRedaction": {"RedactionType": "PII", "RedactionOutput": "redacted"}},
        Transcript={"RedactedTranscriptFileUri": "https://s3.amazonaws.com/b/r.json"},
    )
    planned = plan_outputs(redacted_only, archive_unredacted=True)
    assert [p.name for p in planned] == [REDACTED, "redacted-media.wav"]


def test_given_null_call_analytics_links_when_planned_then_they_are_expected_without_a_link() -> (
    None
):
    opted_out = analytics_job(
        Transcript={"TranscriptFileUri": None, "RedactedTranscriptFileUri": None},
        Media={"MediaFileUri": "s3://media/call-1.wav", "RedactedMediaFileUri": None},
    )
    assert plan_outputs(opted_out, archive_unredacted=True) == [
        PlannedOutput(TRANSCRIPT, None),
        PlannedOutput(REDACTED, None),
        PlannedOutput("redacted-media.wav", None),
    ]
    # botocore drops a null member: the audio of a redacted run is expected all the same.
    no_audio_link = analytics_job(Media={"MediaFileUri": "s3://media/call-1.wav"})
    assert plan_outputs(no_audio_link, archive_unredacted=True)[-1] == PlannedOutput(
        "redacted-media.wav", None
    )


def test_given_a_failed_call_analytics_job_when_planned_then_nothing_but_job_json() -> None:
    failed = analytics_job(
        CallAnalyticsJobStatus="FAILED", FailureReason="Unsupported media format", Transcript=...
    )
    assert plan_outputs(failed, archive_unredacted=True) == []


# -- Medical and HealthScribe ----------------------------------------------------------------


@pytest.mark.parametrize("archive_unredacted", [True, False])
def test_given_a_medical_job_when_planned_then_its_transcript_whatever_the_redaction_setting(
    archive_unredacted: bool,
) -> None:
    # PHI identification labels the transcript; nothing is redacted, so nothing is skipped.
    assert plan_outputs(medical_job(), archive_unredacted=archive_unredacted) == [
        PlannedOutput(TRANSCRIPT, "https://s3.us-east-1.amazonaws.com/team/medical/visit-1.json")
    ]


def test_given_a_healthscribe_job_when_planned_then_transcript_and_clinical_note() -> None:
    planned = plan_outputs(scribe_job(), archive_unredacted=False)
    assert planned == [
        PlannedOutput(TRANSCRIPT, "s3://team/visit-1/transcript.json"),
        PlannedOutput(CLINICAL_DOCUMENT, "s3://team/visit-1/summary.json"),
    ]
    assert planned[1].content_type == "application/json"


def test_given_missing_medical_links_when_planned_then_they_are_expected_without_a_link() -> None:
    assert plan_outputs(medical_job(Transcript=...), archive_unredacted=True) == [
        PlannedOutput(TRANSCRIPT, None)
    ]
    assert plan_outputs(
        scribe_job(MedicalScribeOutput={"TranscriptFileUri": "s3://team/v/transcript.json"}),
        archive_unredacted=True,
    ) == [
        PlannedOutput(TRANSCRIPT, "s3://team/v/transcript.json"),
        PlannedOutput(CLINICAL_DOCUMENT, None),
    ]


def test_given_failed_medical_kinds_when_planned_then_nothing_but_job_json() -> None:
    failed_medical = medical_job(TranscriptionJobStatus="FAILED", Transcript=...)
    failed_scribe = scribe_job(MedicalScribeJobStatus="FAILED", MedicalScribeOutput=...)
    assert plan_outputs(failed_medical, archive_unredacted=True) == []
    assert plan_outputs(failed_scribe, archive_unredacted=True) == []
