"""The double's vocabulary: job statuses, output names, service constants, time helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Literal, get_args

#: ``redacted_media``: a Call Analytics job's redacted audio; ``clinical_document``: a
#: HealthScribe job's clinical note.
OutputName = Literal["transcript", "redacted", "vtt", "srt", "redacted_media", "clinical_document"]
OUTPUTS: Final[tuple[OutputName, ...]] = get_args(OutputName)
#: The job kinds the double serves, spelled as the archiver's CLI spells them.
JobType = Literal["transcription", "call-analytics", "medical", "medical-scribe"]
JobStatus = Literal["QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"]
JOB_STATUSES: Final[tuple[JobStatus, ...]] = get_args(JobStatus)
#: Statuses a job ends in; state-change events fire for these only.
ENDED: Final[tuple[JobStatus, ...]] = ("COMPLETED", "FAILED")
Redaction = Literal["redacted", "redacted_and_unredacted"]
LinkStyle = Literal["regional", "global"]

DEFAULT_REGION: Final = "us-east-1"
#: moto's default account, so ARNs and buckets line up with the embedded AWS.
DEFAULT_ACCOUNT: Final = "123456789012"
#: The documented FailureReason values (get_transcription_job reference).
FAILURE_REASONS: Final = (
    "Unsupported media format",
    "The media format provided does not match the detected media format",
    "Invalid sample rate for audio file",
    "The sample rate provided does not match the detected sample rate",
    "Invalid file size: file size too large",
    "Invalid number of channels: number of channels too large",
)
JOB_NOT_FOUND_MESSAGE: Final = (
    "The requested job couldn't be found. Check the job name and try your request again."
)
#: S3 refuses presigned URLs valid for longer than a week.
MAX_PRESIGN_EXPIRES: Final = 604800
#: Job names the API accepts (1-200 characters of these).
JOB_NAME: Final = re.compile(r"^[0-9a-zA-Z._-]+$")
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "transcript": "application/json",
    "redacted": "application/json",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "clinical_document": "application/json",
}
#: What S3 serves redacted audio as, by the file's extension (the media format).
MEDIA_CONTENT_TYPES: Final[Mapping[str, str]] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "amr": "audio/amr",
}


class Default(Enum):
    """Sentinel for "choose what the real service would" (distinct from None = omit)."""

    TOKEN = 0


DEFAULT: Final = Default.TOKEN


def iso(ms: int) -> str:
    """Epoch milliseconds as the second-resolution UTC time events and S3 errors carry."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("use timezone-aware datetimes (UTC), e.g. datetime(..., tzinfo=UTC)")
    return round(value.timestamp() * 1000)


def decode_times(job: dict[str, Any]) -> dict[str, Any]:
    """The job as botocore would hand it over: epoch numbers become aware datetimes."""
    for key in ("CreationTime", "StartTime", "CompletionTime"):
        if key in job:
            job[key] = datetime.fromtimestamp(job[key], UTC)
    return job
