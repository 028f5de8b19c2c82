"""Archiving one job run: event -> job -> outputs -> archive -> record.

The same code serves the Lambda function, `backfill` and `replay`.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from archiver.aws import AwsClients
from archiver.contract import JOB
from archiver.errors import (
    ArchiverError,
    JobNotFoundError,
    LinkExpiredError,
    PermanentOutputError,
    RetryableArchiveError,
    TransientOutputError,
)
from archiver.models import PlannedOutput, plan_outputs
from archiver.observability import MetricNames, MetricsSink, NoMetrics, logger
from archiver.settings import Settings
from archiver.sources.https import LinkFetcher
from archiver.sources.links import LinkGuard, is_presigned, s3_location, strip_query
from archiver.store.archive_bucket import ArchiveBucket, StoredObject
from archiver.store.history_table import ARCHIVED, INCOMPLETE, Claim, HistoryTable
from archiver.timefmt import folder_stamp, iso_ms

Outcome = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE", "NOT_FINISHED"]

#: How far apart an event's time and an archived run's completion may be for the event to
#: count as a late duplicate of that run when Transcribe no longer knows the job.
_SAME_RUN_WINDOW = timedelta(minutes=10)
_NOT_FOUND_CODES = {"NotFoundException"}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for the retries that botocore cannot do for us (whole-output restarts)."""

    max_attempts: int = 5  # per output, for 5xx / resets / short reads
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_link_refreshes: int = 3  # fresh GetTranscriptionJob links per output
    busy_poll: float = 0.2  # waiting for a concurrent delivery of the same run


@dataclass
class Deadline:
    """When to stop trying, well before Lambda's own timeout."""

    at: float  # time.monotonic() value

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_context(cls, context: Any, *, reserve: float = 60.0) -> Deadline:
        """Leave ``reserve`` seconds (at most a fifth of what is left) to record and raise."""
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return cls.after(remaining - min(reserve, remaining / 5))

    def remaining(self) -> float:
        return self.at - time.monotonic()


@dataclass
class ArchiveResult:
    job_name: str
    outcome: Outcome
    created_at: str | None = None
    archive_uri: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None


class _Links:
    """The job's current description, refreshed at most once per expiry wave.

    Parallel outputs whose links expire together share one GetTranscriptionJob call.
    """

    def __init__(self, job: dict[str, Any], describe: Callable[[], dict[str, Any]]) -> None:
        self._job = job
        self._describe = describe
        self._generation = 0
        self._lock = threading.Lock()
        self.refreshes = 0

    def current(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            return self._generation, self._job

    def refresh(self, seen: int) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._generation == seen:
                self._job = self._describe()
                self._generation += 1
                self.refreshes += 1
            return self._generation, self._job


class Archiver:
    """Copies a job run's outputs into the archive and records the run."""

    def __init__(
        self,
        settings: Settings,
        aws: AwsClients,
        *,
        fetcher: LinkFetcher | None = None,
        metrics: MetricsSink | None = None,
        retry: RetryPolicy | None = None,
        max_parallel_outputs: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self._fetcher = fetcher or LinkFetcher(LinkGuard(settings.allowed_source_hosts))
        self._metrics = metrics or NoMetrics()
        self._retry = retry or RetryPolicy()
        self._parallel = max_parallel_outputs
        self._sleep = sleep
        self.bucket = ArchiveBucket(aws.s3, settings.archive_bucket)
        self.table = HistoryTable(aws.dynamodb, settings.jobs_table)

    # -- the whole run -------------------------------------------------------------------

    def archive_job(
        self,
        job_name: str,
        *,
        event_time: datetime | None = None,
        event_status: str | None = None,
        deadline: Deadline | None = None,
    ) -> ArchiveResult:
        """Archive the run of ``job_name`` that an event (or a listing) reported.

        Returns what happened. Raises RetryableArchiveError when the run could not be
        finished now but might be later (so Lambda retries it, then parks it in the DLQ).
        """
        deadline = deadline or Deadline.after(14 * 60)
        try:
            job = self._describe(job_name)
        except JobNotFoundError as exc:
            return self._record_missing(job_name, event_time, event_status, str(exc))
        created = job["CreationTime"]
        if event_time is not None and created > event_time + timedelta(seconds=1):
            # The name was reused: the run the event reported was deleted before we came.
            return self._record_missing(
                job_name,
                event_time,
                event_status,
                f"the reported run no longer exists; the name now belongs to a run created "
                f"{iso_ms(created)}",
            )
        if job["TranscriptionJobStatus"] not in ("COMPLETED", "FAILED"):
            logger.warning(
                "job is not finished; nothing to archive yet",
                extra={"job_name": job_name, "job_status": job["TranscriptionJobStatus"]},
            )
            return ArchiveResult(job_name, "NOT_FINISHED")
        return self._archive_run(job, deadline)

    def _archive_run(self, job: dict[str, Any], deadline: Deadline) -> ArchiveResult:
        name = job["TranscriptionJobName"]
        created_at = iso_ms(job["CreationTime"])
        folder = f"{self.settings.archive_prefix}{name}/{folder_stamp(job['CreationTime'])}/"
        owner = uuid.uuid4().hex
        previous = self._take_lease(name, created_at, owner, deadline)
        if previous is not None and previous.get("ArchiveStatus") == ARCHIVED:
            self._metrics.add(MetricNames.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
            logger.info("run already archived; nothing copied", extra={"job_name": name})
            return ArchiveResult(
                name, "DUPLICATE", created_at, previous.get("ArchiveUri"), record=previous
            )
        log_keys = {"job_name": name, "created_at": created_at}
        stored: dict[str, StoredObject] = {}
        try:
            errors, retryable, refreshes = self._copy_outputs(
                job, folder, previous, deadline, stored
            )
        except BaseException as exc:
            # Give the lease back with a visible reason, so that a retry can take over at
            # once and copy only what this attempt did not.
            kept = _stored_outputs(previous) | stored
            try:
                self._finish(job, folder, created_at, owner, kept, {"archive": _safe_reason(exc)})
            except Exception:
                logger.exception("could not record the failed attempt", extra=log_keys)
            raise
        record = self._finish(job, folder, created_at, owner, stored, errors | retryable)
        if refreshes.refreshes:
            self._metrics.add(MetricNames.LINKS_REFRESHED, MetricUnit.Count, refreshes.refreshes)
        if retryable:
            raise RetryableArchiveError(
                f"{name}: will retry: " + "; ".join(f"{k}: {v}" for k, v in retryable.items())
            )
        self._report(job, record, stored, previous)
        logger.info(
            "job run archived" if record["ArchiveStatus"] == ARCHIVED else "job run incomplete",
            extra=log_keys
            | {
                "archive_status": record["ArchiveStatus"],
                "errors": errors,
                "outputs": sorted(stored),
            },
        )
        return ArchiveResult(
            name, record["ArchiveStatus"], created_at, record["ArchiveUri"], errors, record
        )

    # -- leases --------------------------------------------------------------------------

    def _take_lease(
        self, name: str, created_at: str, owner: str, deadline: Deadline
    ) -> dict[str, Any] | None:
        """Claim the run; wait while a concurrent delivery holds it. Returns the prior item."""
        delay = self._retry.busy_poll
        while True:
            now = time.time()
            # The holder cannot outlive its own Lambda timeout; nor can we.
            lease_until = now + max(deadline.remaining(), 0) + 90
            claim, previous = self.table.claim(
                name, created_at, owner, now=now, lease_until=lease_until
            )
            if claim is Claim.CLAIMED:
                return previous
            if claim is Claim.ALREADY_ARCHIVED:
                return previous
            if deadline.remaining() < delay + 5:
                raise RetryableArchiveError(
                    f"{name}: another invocation is still archiving run {created_at}"
                )
            if _lease_is_live(previous, now):
                self._sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
                delay = min(delay * 2, 5.0)
            # else the holder finished (INCOMPLETE) or its lease ran out just now: claim again

    # -- outputs -------------------------------------------------------------------------

    def _copy_outputs(
        self,
        job: dict[str, Any],
        folder: str,
        previous: dict[str, Any] | None,
        deadline: Deadline,
        stored: dict[str, StoredObject],
    ) -> tuple[dict[str, str], dict[str, str], _Links]:
        """Copy what the run still lacks into ``stored`` (filled even if this raises)."""
        name = job["TranscriptionJobName"]
        links = _Links(job, lambda: self._describe(name))
        planned = plan_outputs(job, archive_unredacted=self.settings.archive_unredacted)
        # Outputs archived by an earlier, incomplete attempt are kept, not copied again.
        done = _stored_outputs(previous)
        stored.update({p.name: done[p.name] for p in planned if p.name in done})
        todo = [p for p in planned if p.name not in stored]
        errors: dict[str, str] = {}
        retryable: dict[str, str] = {}
        metadata = _metadata(job)
        # job.json goes up beside the outputs (links carry no query string in it, so the
        # first description gives the same bytes as any refreshed one).
        tasks: list[tuple[str, Callable[[], StoredObject]]] = [
            (p.name, partial(self._copy_one, p, folder, metadata, links, deadline)) for p in todo
        ]
        tasks.append((JOB, partial(self._write_job_json, job, folder, previous)))
        if len(tasks) == 1:
            results = [_outcome(tasks[0][1])]  # nothing to copy but job.json: no pool
        else:
            workers = min(self._parallel + 1, len(tasks))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="output") as pool:
                futures = [pool.submit(task) for _, task in tasks]
                results = [_outcome(f.result) for f in futures]
        unexpected: BaseException | None = None
        for (out_name, _), result in zip(tasks, results, strict=True):
            if isinstance(result, StoredObject):
                stored[out_name] = result
            elif isinstance(result, PermanentOutputError):
                errors[out_name] = result.reason
            elif isinstance(result, RetryableArchiveError):
                retryable[out_name] = str(result)
            else:
                unexpected = unexpected or result
        if unexpected is not None:
            raise unexpected
        return errors, retryable, links

    def _copy_one(
        self,
        planned: PlannedOutput,
        folder: str,
        metadata: dict[str, str],
        links: _Links,
        deadline: Deadline,
    ) -> StoredObject:
        generation, job = links.current()
        job_name = job["TranscriptionJobName"]  # logged explicitly: runs share threads
        link = planned.link
        key = folder + planned.name
        attempts = refreshes = 0
        while True:
            if not link:
                raise PermanentOutputError(
                    "link is missing or null in GetTranscriptionJob (service-bucket outputs "
                    "are deleted for accounts opted out of AI-service data use)"
                )
            if deadline.remaining() <= 0:
                raise RetryableArchiveError("out of time before the copy finished")
            try:
                return self._copy_link(planned.name, link, key, metadata)
            except LinkExpiredError as exc:
                refreshes += 1
                if refreshes > self._retry.max_link_refreshes:
                    raise PermanentOutputError(
                        f"{exc.reason} (still refused after {refreshes - 1} fresh links)"
                    ) from None
                logger.info(
                    "link expired or refused; fetching fresh links",
                    extra={"job_name": job_name, "output": planned.name, "reason": exc.reason},
                )
                try:
                    generation, job = links.refresh(generation)
                except JobNotFoundError as gone:
                    raise PermanentOutputError(f"{exc.reason}; then: {gone}") from None
                link = _link_of(job, planned.name, self.settings.archive_unredacted)
            except TransientOutputError as exc:
                attempts += 1
                if attempts >= self._retry.max_attempts:
                    raise RetryableArchiveError(
                        f"{exc.reason} (gave up after {attempts} attempts)"
                    ) from None
                backoff = min(self._retry.max_delay, self._retry.base_delay * 2**attempts)
                delay = backoff * random.random()  # noqa: S311 - full jitter, not crypto
                if deadline.remaining() < delay + 1:
                    raise RetryableArchiveError(f"{exc.reason} (out of time to retry)") from None
                logger.info(
                    "transient fault; retrying the output",
                    extra={
                        "job_name": job_name,
                        "output": planned.name,
                        "reason": exc.reason,
                        "attempt": attempts,
                    },
                )
                self._sleep(delay)

    def _copy_link(self, name: str, link: str, key: str, metadata: dict[str, str]) -> StoredObject:
        content_type = PlannedOutput(name, link).content_type
        source = None if is_presigned(link) else s3_location(link)
        if source is not None:
            return self.bucket.copy_from(
                name, source, key, content_type, metadata, self.settings.max_output_bytes
            )
        with self._fetcher.open(
            link, max_bytes=self.settings.max_output_bytes, part_size=self.bucket.part_size
        ) as opened:
            try:
                return self.bucket.upload_stream(name, key, opened.reader, content_type, metadata)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if status >= 500:
                    raise TransientOutputError(f"S3 answered {status} while uploading") from None
                raise

    def _write_job_json(
        self, job: dict[str, Any], folder: str, previous: dict[str, Any] | None
    ) -> StoredObject:
        body = job_json(job)
        prior = ((previous or {}).get("Outputs") or {}).get(JOB)
        if prior and prior.get("Sha256") == _sha256_hex(body):
            return _stored_from_record(JOB, prior)  # identical description already archived
        return self.bucket.put_bytes(JOB, folder + JOB, body, "application/json", _metadata(job))

    # -- records -------------------------------------------------------------------------

    def _finish(
        self,
        job: dict[str, Any],
        folder: str,
        created_at: str,
        owner: str,
        stored: dict[str, StoredObject],
        errors: dict[str, str],
    ) -> dict[str, Any]:
        record = build_record(job, created_at, self.bucket.uri(folder), stored, errors)
        if not self.table.complete(record, owner):
            logger.warning(
                "lease lost to another invocation; its record stands",
                extra={"job_name": job["TranscriptionJobName"], "created_at": created_at},
            )
        return record

    def _record_missing(
        self, job_name: str, event_time: datetime | None, event_status: str | None, reason: str
    ) -> ArchiveResult:
        """The event's run is gone from Transcribe: record that, keyed by the event's time."""
        if event_time is None:
            raise JobNotFoundError(reason)
        for run in self.table.runs(job_name):
            completed = run.get("CompletedAt")
            if run.get("ArchiveStatus") == ARCHIVED and completed:
                gap = abs(_parse(completed) - event_time)
                if gap <= _SAME_RUN_WINDOW:
                    self._metrics.add(MetricNames.DUPLICATES_SKIPPED, MetricUnit.Count, 1)
                    logger.info(
                        "job gone from Transcribe, but this run is archived already",
                        extra={"job_name": job_name, "created_at": run["CreatedAt"]},
                    )
                    return ArchiveResult(
                        job_name, "DUPLICATE", run["CreatedAt"], run.get("ArchiveUri"), record=run
                    )
        stamp = iso_ms(event_time)
        record = {
            "JobName": job_name,
            "CreatedAt": stamp,
            "JobStatus": event_status,
            "CompletedAt": stamp,  # the event fires on completion: the best time we have
            "ArchiveStatus": INCOMPLETE,
            "ArchiveError": f"job not found at Transcribe: {reason}",
            "ArchivedAt": iso_ms(datetime.now(UTC)),
        }
        self.table.put_if_absent(record)
        self._metrics.add(MetricNames.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        logger.warning("job not found at Transcribe; recorded INCOMPLETE", extra=record)
        return ArchiveResult(job_name, "INCOMPLETE", stamp, None, {"job": reason}, record)

    def _report(
        self,
        job: dict[str, Any],
        record: dict[str, Any],
        stored: dict[str, StoredObject],
        previous: dict[str, Any] | None,
    ) -> None:
        add = self._metrics.add
        if record["ArchiveStatus"] == ARCHIVED:
            add(MetricNames.JOBS_ARCHIVED, MetricUnit.Count, 1)
            completed = job.get("CompletionTime")
            if completed is not None:
                latency = (datetime.now(UTC) - completed).total_seconds()
                add(MetricNames.ARCHIVE_LATENCY, MetricUnit.Seconds, max(latency, 0.0))
        else:
            add(MetricNames.JOBS_INCOMPLETE, MetricUnit.Count, 1)
        if job["TranscriptionJobStatus"] == "FAILED":
            add(MetricNames.JOBS_FAILED_AT_TRANSCRIBE, MetricUnit.Count, 1)
        done_before = (previous or {}).get("Outputs") or {}
        new_bytes = sum(s.size for n, s in stored.items() if n not in done_before)
        add(MetricNames.BYTES_ARCHIVED, MetricUnit.Bytes, new_bytes)

    # -- Transcribe ----------------------------------------------------------------------

    def _describe(self, job_name: str) -> dict[str, Any]:
        try:
            response = self.aws.transcribe.get_transcription_job(TranscriptionJobName=job_name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in _NOT_FOUND_CODES or (
                code == "BadRequestException" and "couldn't be found" in message
            ):
                raise JobNotFoundError(message or code) from None
            raise
        job: dict[str, Any] = dict(response["TranscriptionJob"])
        for key in ("CreationTime", "StartTime", "CompletionTime"):
            if isinstance(job.get(key), datetime):
                job[key] = job[key].astimezone(UTC)
        return job


# -- pure helpers ------------------------------------------------------------------------


def job_json(job: dict[str, Any]) -> bytes:
    """The run's description as archived: ISO 8601 UTC datetimes, no query strings."""
    return json.dumps(_clean(job), indent=2, sort_keys=True, ensure_ascii=False).encode()


def build_record(
    job: dict[str, Any],
    created_at: str,
    archive_uri: str,
    stored: dict[str, StoredObject],
    errors: dict[str, str],
) -> dict[str, Any]:
    """The history item for a job run (CONTRACT.md, "History table")."""
    status = ARCHIVED if not errors and JOB in stored else INCOMPLETE
    subtitles = job.get("Subtitles") or {}
    record: dict[str, Any] = {
        "JobName": job["TranscriptionJobName"],
        "CreatedAt": created_at,
        "JobStatus": job["TranscriptionJobStatus"],
        "ArchiveStatus": status,
        "ArchiveError": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or None,
        "StartedAt": _iso_or_none(job.get("StartTime")),
        "CompletedAt": _iso_or_none(job.get("CompletionTime")),
        "ArchivedAt": iso_ms(datetime.now(UTC)),
        "LanguageCode": job.get("LanguageCode"),
        "LanguageCodes": [c["LanguageCode"] for c in job.get("LanguageCodes") or []] or None,
        "IdentifiedLanguageScore": job.get("IdentifiedLanguageScore"),
        "MediaFileUri": (job.get("Media") or {}).get("MediaFileUri"),
        "MediaFormat": job.get("MediaFormat"),
        "MediaSampleRateHertz": job.get("MediaSampleRateHertz"),
        "FailureReason": job.get("FailureReason"),
        "Settings": job.get("Settings") or None,
        "ContentRedaction": job.get("ContentRedaction") or None,
        "SubtitleFormats": list(subtitles.get("Formats") or []) or None,
        "Tags": {t["Key"]: t.get("Value", "") for t in job.get("Tags") or []} or None,
        "ArchiveUri": archive_uri,
        "Outputs": {name: s.as_record() for name, s in sorted(stored.items())},
    }
    return {k: v for k, v in record.items() if v is not None}


def _metadata(job: dict[str, Any]) -> dict[str, str]:
    metadata = {
        "job-name": job["TranscriptionJobName"],
        "job-status": job["TranscriptionJobStatus"],
    }
    if job.get("LanguageCode"):
        metadata["language-code"] = job["LanguageCode"]
    return metadata


def _link_of(job: dict[str, Any], name: str, archive_unredacted: bool) -> str | None:
    for planned in plan_outputs(job, archive_unredacted=archive_unredacted):
        if planned.name == name:
            return planned.link
    return None


def _clean(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return strip_query(value)
    return value


def _outcome(copy: Callable[[], StoredObject]) -> StoredObject | Exception:
    """An output's copy, or the error it ended with (so the others' results are kept)."""
    try:
        return copy()
    except Exception as exc:  # sorted, and re-raised if unexpected, by the caller
        return exc


def _lease_is_live(item: dict[str, Any] | None, now: float) -> bool:
    return bool(item) and float((item or {}).get("LeaseExpiresAt", 0)) >= now


def _stored_outputs(item: dict[str, Any] | None) -> dict[str, StoredObject]:
    outputs = (item or {}).get("Outputs") or {}
    return {n: _stored_from_record(n, r) for n, r in outputs.items() if r.get("Sha256")}


def _stored_from_record(name: str, item: dict[str, Any]) -> StoredObject:
    return StoredObject(
        name, item["S3Uri"], int(item["Bytes"]), item["Sha256"], item["ContentType"]
    )


def _sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _iso_or_none(value: Any) -> str | None:
    return iso_ms(value) if isinstance(value, datetime) else None


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _safe_reason(exc: BaseException) -> str:
    if isinstance(exc, ArchiverError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}"
