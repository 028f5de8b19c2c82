"""The shapes that the stack and the local embedded AWS must agree on.

Plain data, no CDK imports: the stack builds its resources from these, and the local demo
and integration tests create the very same table and EventBridge rule on moto from them, so
the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Final

#: History table keys (see CONTRACT.md, "History table").
PARTITION_KEY: Final = "JobName"
SORT_KEY: Final = "CreatedAt"

#: Global secondary indexes: name -> (partition key, sort key). All attributes projected,
#: because history queries print whole items.
GSIS: Final[dict[str, tuple[str, str]]] = {
    "ByStatus": ("JobStatus", "CompletedAt"),
    "ByLanguage": ("LanguageCode", "CompletedAt"),
}

#: The EventBridge pattern of the archiver's rule on the default bus.
EVENT_PATTERN: Final[dict[str, Any]] = {
    "source": ["aws.transcribe"],
    "detail-type": ["Transcribe Job State Change"],
    "detail": {"TranscriptionJobStatus": ["COMPLETED", "FAILED"]},
}

#: Namespace of every metric the archiver emits (Powertools Metrics).
METRICS_NAMESPACE: Final = "TranscribeArchiver"


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """boto3 ``create_table`` arguments equal to the table the stack declares."""
    attributes = {PARTITION_KEY, SORT_KEY} | {k for pair in GSIS.values() for k in pair}
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
            for name, (pk, sk) in GSIS.items()
        ],
    }


#: Metric names the archiver emits under METRICS_NAMESPACE; alarms and the dashboard use
#: them. The runtime spells the same names (a unit test keeps the two in step).
METRIC_JOBS_ARCHIVED: Final = "JobsArchived"
METRIC_JOBS_INCOMPLETE: Final = "JobsIncomplete"
METRIC_JOBS_FAILED_AT_TRANSCRIBE: Final = "JobsFailedAtTranscribe"
METRIC_ARCHIVE_ERRORS: Final = "ArchiveErrors"
METRIC_BYTES_ARCHIVED: Final = "BytesArchived"
METRIC_ARCHIVE_LATENCY: Final = "SecondsFromCompletionToArchived"
METRIC_LINKS_REFRESHED: Final = "LinksRefreshed"
METRIC_EVENTS_REJECTED: Final = "EventsRejected"
METRIC_DUPLICATES_SKIPPED: Final = "DuplicatesSkipped"
#: Powertools' "service" dimension every metric carries.
METRICS_SERVICE: Final = "transcribe-archiver"
