"""Job descriptions as GetTranscriptionJob returns them, for tests that need no AWS."""

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
