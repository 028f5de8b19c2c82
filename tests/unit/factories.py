"""Job descriptions as GetTranscriptionJob, GetCallAnalyticsJob, GetMedicalTranscriptionJob
and GetMedicalScribeJob return them, for tests that need no AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archiver.contract import JobKind
from archiver.models.jobs import JobDescription
from archiver.sources.transcribe import describe_raw

T0 = datetime(2026, 11, 23, 10, 15, 2, 123000, tzinfo=UTC)
SIGNED = "?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok"


def job(**extra: Any) -> JobDescription:
    base: dict[str, Any] = {
        "TranscriptionJobName": "call-1",
        "TranscriptionJobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "CreationTime": T0,
        "StartTime": T0,
        "CompletionTime": T0,
        "Transcript": {"TranscriptFileUri": "https://s3.amazonaws.com/b/call-1.json" + SIGNED},
    }
    return describe_raw(
        JobKind.TRANSCRIPTION, {k: v for k, v in (base | extra).items() if v != ...}
    )


def analytics_job(**extra: Any) -> JobDescription:
    """A completed Call Analytics job with PII redaction of transcript and audio."""
    base: dict[str, Any] = {
        "CallAnalyticsJobName": "call-1",
        "CallAnalyticsJobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "MediaSampleRateHertz": 8000,
        "MediaFormat": "wav",
        "Media": {
            "MediaFileUri": "s3://media/call-1.wav",
            "RedactedMediaFileUri": "https://s3.amazonaws.com/b/redacted-call-1.wav" + SIGNED,
        },
        "Transcript": {
            "TranscriptFileUri": "https://s3.amazonaws.com/b/call-1.json" + SIGNED,
            "RedactedTranscriptFileUri": "https://s3.amazonaws.com/b/redacted-call-1.json" + SIGNED,
        },
        "CreationTime": T0,
        "StartTime": T0,
        "CompletionTime": T0,
        "Settings": {
            "ContentRedaction": {
                "RedactionType": "PII",
                "RedactionOutput": "redacted_and_unredacted",
            }
        },
        "ChannelDefinitions": [
            {"ChannelId": 0, "ParticipantRole": "AGENT"},
            {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
        ],
    }
    return describe_raw(
        JobKind.CALL_ANALYTICS, {k: v for k, v in (base | extra).items() if v != ...}
    )


def medical_job(**extra: Any) -> JobDescription:
    """A completed Transcribe Medical job whose transcript is in the team's bucket."""
    base: dict[str, Any] = {
        "MedicalTranscriptionJobName": "visit-1",
        "TranscriptionJobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "MediaSampleRateHertz": 16000,
        "MediaFormat": "wav",
        "Media": {"MediaFileUri": "s3://media/visit-1.wav"},
        "Transcript": {
            "TranscriptFileUri": "https://s3.us-east-1.amazonaws.com/team/medical/visit-1.json"
        },
        "CreationTime": T0,
        "StartTime": T0,
        "CompletionTime": T0,
        "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        "ContentIdentificationType": "PHI",
        "Specialty": "PRIMARYCARE",
        "Type": "CONVERSATION",
        "Tags": [{"Key": "Clinic", "Value": "North"}],
    }
    return describe_raw(JobKind.MEDICAL, {k: v for k, v in (base | extra).items() if v != ...})


def scribe_job(**extra: Any) -> JobDescription:
    """A completed AWS HealthScribe job: transcript and clinical note in the team's bucket."""
    base: dict[str, Any] = {
        "MedicalScribeJobName": "visit-1",
        "MedicalScribeJobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "Media": {"MediaFileUri": "s3://media/visit-1.wav"},
        "MedicalScribeOutput": {
            "TranscriptFileUri": "s3://team/visit-1/transcript.json",
            "ClinicalDocumentUri": "s3://team/visit-1/summary.json",
        },
        "CreationTime": T0,
        "StartTime": T0,
        "CompletionTime": T0,
        "Settings": {
            "ChannelIdentification": True,
            "ClinicalNoteGenerationSettings": {"NoteTemplate": "GIRPP"},
        },
        "DataAccessRoleArn": "arn:aws:iam::111122223333:role/HealthScribe",
        "ChannelDefinitions": [
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
        "Tags": [{"Key": "Clinic", "Value": "South"}],
    }
    return describe_raw(
        JobKind.MEDICAL_SCRIBE, {k: v for k, v in (base | extra).items() if v != ...}
    )
