"""Job descriptions as GetTranscriptionJob and GetCallAnalyticsJob return them, for tests
that need no AWS."""

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
