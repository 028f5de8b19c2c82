"""The product's interface in one place: names and shapes that must never drift apart.

The function, the CLI, the stack (``infra/`` imports this module) and the local AWS used by
the demo and the tests all read these values from here. Plain data, no AWS imports, so it
costs nothing at import time. ``docs/contract.md`` explains each in prose.
"""

from __future__ import annotations

import enum
from typing import Any, Final

# -- job kinds ------------------------------------------------------------------------------


class JobKind(enum.StrEnum):
    """Which Transcribe API a job run belongs to (the history item's ``JobKind``)."""

    TRANSCRIPTION = "TRANSCRIPTION"
    CALL_ANALYTICS = "CALL_ANALYTICS"
    #: Amazon Transcribe Medical (``StartMedicalTranscriptionJob``).
    MEDICAL = "MEDICAL"
    #: AWS HealthScribe (``StartMedicalScribeJob``): a transcript and a clinical note.
    MEDICAL_SCRIBE = "MEDICAL_SCRIBE"

    @property
    def option(self) -> str:
        """How the CLI spells the kind (``--kind``): ``transcription``, ``call-analytics``,
        ``medical``, ``medical-scribe``."""
        return self.value.lower().replace("_", "-")


#: Job statuses an archived run can have (the events fire only for these two).
FINISHED_STATUSES: Final = ("COMPLETED", "FAILED")

# -- history table -------------------------------------------------------------------------

PARTITION_KEY: Final = "JobName"
SORT_KEY: Final = "CreatedAt"
INDEX_BY_STATUS: Final = "ByStatus"
INDEX_BY_LANGUAGE: Final = "ByLanguage"
#: Global secondary indexes: name -> (partition key, sort key), all attributes projected.
INDEXES: Final[dict[str, tuple[str, str]]] = {
    INDEX_BY_STATUS: ("JobStatus", "CompletedAt"),
    INDEX_BY_LANGUAGE: ("LanguageCode", "CompletedAt"),
}
#: The attribute both indexes sort on.
COMPLETED_AT: Final = "CompletedAt"

#: Reserved partitions of the sweep's bookkeeping ('#' is never part of a job name; their
#: items have no JobStatus or LanguageCode, so no index and no history question sees them):
#: each job kind's floor, and a marker per run that is not settled yet.
SWEEP_PARTITION: Final = "#sweep"
UNSETTLED_PARTITION: Final = "#unsettled"
#: When each purged run completed, and how it ended (the tombstone keeps neither): so that a
#: purged run answers for its own late event only, never a newer run's.
PURGED_PARTITION: Final = "#purged"

#: ``ArchiveStatus`` values.
ARCHIVED: Final = "ARCHIVED"
INCOMPLETE: Final = "INCOMPLETE"
PURGED: Final = "PURGED"


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """boto3 ``create_table`` arguments equal to the table the stack declares."""
    attributes = {PARTITION_KEY, SORT_KEY} | {k for pair in INDEXES.values() for k in pair}
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, (pk, sk) in INDEXES.items()
        ],
    }


# -- events ---------------------------------------------------------------------------------

EVENT_SOURCE: Final = "aws.transcribe"
TRANSCRIPTION_DETAIL_TYPE: Final = "Transcribe Job State Change"
CALL_ANALYTICS_DETAIL_TYPE: Final = "Call Analytics Job State Change"

#: The EventBridge pattern of the archiver's rule on the default bus.
TRANSCRIPTION_EVENT_PATTERN: Final[dict[str, Any]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [TRANSCRIPTION_DETAIL_TYPE],
    "detail": {"TranscriptionJobStatus": list(FINISHED_STATUSES)},
}
#: Batch Call Analytics jobs; ``Call Analytics Post Call Job State Change`` (streaming
#: sessions, no batch job to describe) is deliberately not matched.
CALL_ANALYTICS_EVENT_PATTERN: Final[dict[str, Any]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [CALL_ANALYTICS_DETAIL_TYPE],
    "detail": {"JobStatus": list(FINISHED_STATUSES)},
}
#: Every pattern the stack subscribes to, one rule each. Medical and HealthScribe jobs have no
#: documented event of their own: the sweep finds them (and a ``Transcribe Job State Change``
#: naming a Medical job is archived as one, see ``logic/archive.py``).
EVENT_PATTERNS: Final[dict[JobKind, dict[str, Any]]] = {
    JobKind.TRANSCRIPTION: TRANSCRIPTION_EVENT_PATTERN,
    JobKind.CALL_ANALYTICS: CALL_ANALYTICS_EVENT_PATTERN,
}

#: What the stack's schedule sends the function to start a sweep (docs/contract.md, "sweep");
#: ``overlapMinutes`` is the schedule's period.
SWEEP_ACTION: Final = "sweep"

# -- delivery: the event queue between the rule(s) and the function ------------------------

#: Messages per batch the event source mapping hands the function, handled side by side.
#: With the default maximum concurrency of 5: at most 10 archivers at once against
#: GetTranscriptionJob's 30 requests/s, and two large runs' buffers fit in 512 MB.
QUEUE_BATCH_SIZE: Final = 2
#: Receives of one message before SQS moves it to the queue's dead-letter queue.
QUEUE_MAX_RECEIVE_COUNT: Final = 5

# -- archive layout -------------------------------------------------------------------------

TRANSCRIPT: Final = "transcript.json"
REDACTED: Final = "redacted-transcript.json"
VTT: Final = "subtitles.vtt"
SRT: Final = "subtitles.srt"
JOB: Final = "job.json"
#: A HealthScribe run's clinical note (``MedicalScribeOutput.ClinicalDocumentUri``).
CLINICAL_DOCUMENT: Final = "clinical-document.json"
#: A Call Analytics run's redacted audio: ``redacted-media.{ext}``, ext from the link.
REDACTED_MEDIA_STEM: Final = "redacted-media"
CONTENT_TYPES: Final[dict[str, str]] = {
    TRANSCRIPT: "application/json",
    REDACTED: "application/json",
    VTT: "text/vtt",
    SRT: "application/x-subrip",
    JOB: "application/json",
    CLINICAL_DOCUMENT: "application/json",
}
#: Content-Type of redacted audio by file extension (Call Analytics' media formats).
MEDIA_CONTENT_TYPES: Final[dict[str, str]] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "amr": "audio/amr",
}
#: Extension of redacted audio whose link names no usable one.
UNKNOWN_MEDIA_EXTENSION: Final = "bin"


def content_type_of(name: str) -> str:
    """The Content-Type an archive object of this name is stored with."""
    if name in CONTENT_TYPES:
        return CONTENT_TYPES[name]
    stem, _, extension = name.rpartition(".")
    if stem == REDACTED_MEDIA_STEM:
        return MEDIA_CONTENT_TYPES.get(extension, "application/octet-stream")
    raise KeyError(f"{name!r} is not an archive object name")


#: S3 object tags every archived object carries, for lifecycle rules to target.
TAG_ARCHIVE_OBJECT: Final = "archive-object"  # the object's name, e.g. transcript.json
TAG_JOB_REDACTED: Final = "job-redacted"  # "true" when the job ran with content redaction

#: The history items' DynamoDB TTL attribute (epoch seconds), when retention is configured.
TTL_ATTRIBUTE: Final = "ExpiresAt"

# -- runtime configuration (the function's environment) -------------------------------------

ENV_ARCHIVE_BUCKET: Final = "ARCHIVE_BUCKET"
ENV_ARCHIVE_PREFIX: Final = "ARCHIVE_PREFIX"
ENV_JOBS_TABLE: Final = "JOBS_TABLE"
ENV_ARCHIVE_UNREDACTED: Final = "ARCHIVE_UNREDACTED"
ENV_ALLOWED_SOURCE_HOSTS: Final = "ALLOWED_SOURCE_HOSTS"
ENV_MAX_OUTPUT_BYTES: Final = "MAX_OUTPUT_BYTES"
ENV_CALL_ANALYTICS_PREFIX: Final = "CALL_ANALYTICS_PREFIX"
#: Optional: key prefixes of Medical and HealthScribe runs (defaults below).
ENV_MEDICAL_PREFIX: Final = "MEDICAL_PREFIX"
ENV_MEDICAL_SCRIBE_PREFIX: Final = "MEDICAL_SCRIBE_PREFIX"
#: Optional: days a history item is kept (DynamoDB TTL); unset keeps items forever.
ENV_HISTORY_RETENTION_DAYS: Final = "HISTORY_RETENTION_DAYS"

#: The stack output holding, as a JSON object, the function's archiving settings (the
#: variables below that say where and what it archives): the CLI archives the same way.
SETTINGS_OUTPUT: Final = "ArchiverSettings"

DEFAULT_ARCHIVE_PREFIX: Final = "transcripts/"
DEFAULT_CALL_ANALYTICS_PREFIX: Final = "call-analytics/"
DEFAULT_MEDICAL_PREFIX: Final = "medical/"
DEFAULT_MEDICAL_SCRIBE_PREFIX: Final = "medical-scribe/"
#: Outputs larger than this are not copied (S3's single CopyObject limit; the record says so).
DEFAULT_MAX_OUTPUT_BYTES: Final = 5 * 1024**3

# -- metrics --------------------------------------------------------------------------------

METRICS_NAMESPACE: Final = "TranscribeArchiver"
#: Powertools' ``service`` dimension, which every metric carries.
METRICS_SERVICE: Final = "transcribe-archiver"


class Metric(enum.StrEnum):
    """Every metric the archiver emits; alarms and the dashboard use the same names."""

    JOBS_ARCHIVED = "JobsArchived"
    JOBS_INCOMPLETE = "JobsIncomplete"
    JOBS_FAILED_AT_TRANSCRIBE = "JobsFailedAtTranscribe"
    ARCHIVE_ERRORS = "ArchiveErrors"
    BYTES_ARCHIVED = "BytesArchived"
    ARCHIVE_LATENCY = "SecondsFromCompletionToArchived"
    LINKS_REFRESHED = "LinksRefreshed"
    EVENTS_REJECTED = "EventsRejected"
    DUPLICATES_SKIPPED = "DuplicatesSkipped"
    JOBS_RECOVERED_BY_SWEEP = "JobsRecoveredBySweep"
    #: A job kind whose listing failed in a sweep (its floor stays; the other kinds go on).
    SWEEP_KINDS_FAILED = "SweepKindsFailed"
    #: A run the sweep tried and could not settle this time (it stays for the next sweep).
    SWEEP_RUNS_FAILED = "SweepRunsFailed"
