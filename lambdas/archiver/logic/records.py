"""What the archive says about a run: its history record, job.json and object metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from archiver.contract import (
    ARCHIVED,
    INCOMPLETE,
    JOB,
    TAG_ARCHIVE_OBJECT,
    TAG_JOB_REDACTED,
    JobKind,
)
from archiver.models.jobs import JobDescription
from archiver.models.outputs import StoredObject
from archiver.sources.links import strip_query
from archiver.store.record import HistoryRecord
from archiver.timefmt import iso_ms


def job_json(job: JobDescription) -> bytes:
    """The run's description as archived: ISO 8601 UTC datetimes, no query strings."""
    return json.dumps(_clean(job.raw), indent=2, sort_keys=True, ensure_ascii=False).encode()


def object_metadata(job: JobDescription) -> dict[str, str]:
    """User metadata every archived object of the run carries."""
    metadata = {"job-name": job.name, "job-status": job.status}
    language = job.raw.get("LanguageCode")
    if language:
        metadata["language-code"] = str(language)
    return metadata


def object_tags(job: JobDescription, name: str) -> dict[str, str]:
    """The S3 tags of one archived object, which retention rules target (docs/contract.md)."""
    return {
        TAG_ARCHIVE_OBJECT: name,
        TAG_JOB_REDACTED: "true" if job_redacted(job) else "false",
    }


def job_redacted(job: JobDescription) -> bool:
    """Whether the job ran with content redaction (Call Analytics keeps it among Settings)."""
    return bool(_redaction(job))


def _redaction(job: JobDescription) -> Any:
    if job.kind is JobKind.CALL_ANALYTICS:
        return (job.raw.get("Settings") or {}).get("ContentRedaction")
    return job.raw.get("ContentRedaction")


def build_record(
    job: JobDescription,
    archive_uri: str,
    stored: Mapping[str, StoredObject],
    errors: Mapping[str, str],
) -> HistoryRecord:
    """The history item for a job run (docs/contract.md, "History table")."""
    raw = job.raw
    subtitles = raw.get("Subtitles") or {}
    settings = raw.get("Settings") or {}
    # Call Analytics keeps redaction among its settings; the item has it in one place.
    redaction = _redaction(job)
    skipped = (raw.get("CallAnalyticsJobDetails") or {}).get("Skipped")
    # Only a Medical job's own members: a generic name like Type means nothing elsewhere.
    medical = raw if job.kind is JobKind.MEDICAL else {}
    return HistoryRecord(
        job_name=job.name,
        created_at=job.created_at,
        job_kind=job.kind,
        job_status=job.status,
        archive_status=ARCHIVED if not errors and JOB in stored else INCOMPLETE,
        archive_error="; ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or None,
        started_at=_iso_or_none(job.started),
        completed_at=_iso_or_none(job.completed),
        archived_at=iso_ms(datetime.now(UTC)),
        language_code=raw.get("LanguageCode"),
        language_codes=[c["LanguageCode"] for c in raw.get("LanguageCodes") or []] or None,
        identified_language_score=raw.get("IdentifiedLanguageScore"),
        media_file_uri=(raw.get("Media") or {}).get("MediaFileUri"),
        media_format=raw.get("MediaFormat"),
        media_sample_rate_hertz=raw.get("MediaSampleRateHertz"),
        failure_reason=raw.get("FailureReason"),
        settings=dict(settings) or None,
        content_redaction=redaction or None,
        subtitle_formats=list(subtitles.get("Formats") or []) or None,
        channel_definitions=list(raw.get("ChannelDefinitions") or []) or None,
        analytics_skipped=list(skipped or []) or None,
        specialty=medical.get("Specialty"),
        type=medical.get("Type"),
        content_identification_type=medical.get("ContentIdentificationType"),
        tags={t["Key"]: t.get("Value", "") for t in raw.get("Tags") or []} or None,
        archive_uri=archive_uri,
        outputs=dict(sorted(stored.items())),
    )


def _clean(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return strip_query(value)
    return value


def _iso_or_none(value: Any) -> str | None:
    return iso_ms(value) if isinstance(value, datetime) else None
