"""Copying a run's outputs into the archive: side by side, each retried on its own.

Each output is copied by the cheapest path its link allows (a server-side CopyObject from
the team's bucket, or a stream from a presigned link), restarted with backoff after a
transient fault, and restarted with fresh links after a 403/expiry. One output's failure
never stops the others: the caller gets every result and decides what the run is.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from archiver.contract import JOB
from archiver.deadline import Deadline
from archiver.errors import (
    JobNotFoundError,
    LinkExpiredError,
    OutOfTimeError,
    PermanentOutputError,
    RetryableArchiveError,
    TransientOutputError,
)
from archiver.logic.plan import link_of, plan_outputs
from archiver.logic.records import job_json, object_metadata, object_tags
from archiver.models.jobs import JobDescription
from archiver.models.outputs import PlannedOutput, StoredObject
from archiver.observability import logger
from archiver.settings import Settings
from archiver.sources.https import LinkFetcher
from archiver.sources.links import is_presigned, s3_location
from archiver.store.archive_bucket import ArchiveBucket


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for the retries that botocore cannot do for us (whole-output restarts)."""

    max_attempts: int = 5  # per output, for 5xx / resets / short reads
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_link_refreshes: int = 3  # fresh Get…Job links per output
    busy_poll: float = 0.2  # waiting for a concurrent delivery of the same run


@dataclass
class CopyReport:
    """What one pass over a run's outputs achieved."""

    stored: dict[str, StoredObject] = field(default_factory=dict)
    #: Outputs that will not be copied however often we try, with the reason.
    errors: dict[str, str] = field(default_factory=dict)
    #: Outputs that failed now but may succeed later (the event is retried).
    retryable: dict[str, str] = field(default_factory=dict)
    link_refreshes: int = 0


class _Links:
    """The job's current description, refreshed at most once per expiry wave.

    Parallel outputs whose links expire together share one Get…Job call.
    """

    def __init__(self, job: JobDescription, describe: Callable[[], JobDescription]) -> None:
        self._job = job
        self._describe = describe
        self._generation = 0
        self._lock = threading.Lock()
        self.refreshes = 0

    def current(self) -> tuple[int, JobDescription]:
        with self._lock:
            return self._generation, self._job

    def refresh(self, seen: int) -> tuple[int, JobDescription]:
        with self._lock:
            if self._generation == seen:
                self._job = self._describe()
                self._generation += 1
                self.refreshes += 1
            return self._generation, self._job


class OutputCopier:
    def __init__(
        self,
        settings: Settings,
        bucket: ArchiveBucket,
        fetcher: LinkFetcher,
        *,
        retry: RetryPolicy,
        max_parallel_outputs: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._bucket = bucket
        self._fetcher = fetcher
        self._retry = retry
        self._parallel = max_parallel_outputs
        self._sleep = sleep

    def copy(
        self,
        job: JobDescription,
        folder: str,
        done: Mapping[str, StoredObject],
        deadline: Deadline,
        describe: Callable[[], JobDescription],
        report: CopyReport,
    ) -> None:
        """Copy what the run still lacks (``done`` is kept) into ``report``.

        ``report.stored`` is filled as outputs land, so it is complete even when this raises
        an unexpected error (the caller records what did land before re-raising).
        """
        links = _Links(job, describe)
        planned = plan_outputs(job, archive_unredacted=self._settings.archive_unredacted)
        report.stored.update({p.name: done[p.name] for p in planned if p.name in done})
        todo = [p for p in planned if p.name not in report.stored]
        metadata = object_metadata(job)
        # job.json goes up beside the outputs (links carry no query string in it, so the
        # first description gives the same bytes as any refreshed one).
        tasks: list[tuple[str, Callable[[], StoredObject]]] = [
            (p.name, partial(self._copy_one, p, folder, metadata, links, deadline)) for p in todo
        ]
        tasks.append((JOB, partial(self._write_job_json, job, folder, done.get(JOB))))
        if len(tasks) == 1:
            results = [_outcome(tasks[0][1])]  # nothing to copy but job.json: no pool
        else:
            workers = min(self._parallel + 1, len(tasks))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="output") as pool:
                futures = [pool.submit(task) for _, task in tasks]
                results = [_outcome(f.result) for f in futures]
        report.link_refreshes = links.refreshes
        unexpected: BaseException | None = None
        for (name, _), result in zip(tasks, results, strict=True):
            if isinstance(result, StoredObject):
                report.stored[name] = result
            elif isinstance(result, PermanentOutputError):
                report.errors[name] = result.reason
            elif isinstance(result, RetryableArchiveError):
                report.retryable[name] = str(result)
            else:
                unexpected = unexpected or result
        if unexpected is not None:
            raise unexpected

    def _copy_one(
        self,
        planned: PlannedOutput,
        folder: str,
        metadata: dict[str, str],
        links: _Links,
        deadline: Deadline,
    ) -> StoredObject:
        generation, job = links.current()
        link = planned.link
        key = folder + planned.name
        attempts = refreshes = 0
        while True:
            if not link:
                raise PermanentOutputError(
                    "link is missing or null in the job description (service-bucket outputs "
                    "are deleted for accounts opted out of AI-service data use)"
                )
            if deadline.expired():
                raise OutOfTimeError("out of time before the copy started")
            try:
                return self._copy_link(job, planned.name, link, key, metadata, deadline)
            except LinkExpiredError as exc:
                refreshes += 1
                if refreshes > self._retry.max_link_refreshes:
                    raise PermanentOutputError(
                        f"{exc.reason} (still refused after {refreshes - 1} fresh links)"
                    ) from None
                logger.info(
                    "link expired or refused; fetching fresh links",
                    extra={"job_name": job.name, "output": planned.name, "reason": exc.reason},
                )
                try:
                    generation, job = links.refresh(generation)
                except JobNotFoundError as gone:
                    raise PermanentOutputError(f"{exc.reason}; then: {gone}") from None
                link = link_of(
                    job, planned.name, archive_unredacted=self._settings.archive_unredacted
                )
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
                        "job_name": job.name,
                        "output": planned.name,
                        "reason": exc.reason,
                        "attempt": attempts,
                    },
                )
                self._sleep(delay)

    def _copy_link(
        self,
        job: JobDescription,
        name: str,
        link: str,
        key: str,
        metadata: dict[str, str],
        deadline: Deadline,
    ) -> StoredObject:
        content_type = PlannedOutput(name, link).content_type
        source = None if is_presigned(link) else s3_location(link)
        tags = object_tags(job, name)
        if source is not None:
            return self._bucket.copy_from(
                name, source, key, content_type, metadata, self._settings.max_output_bytes, tags
            )
        with self._fetcher.open(
            link,
            max_bytes=self._settings.max_output_bytes,
            deadline=deadline,
        ) as opened:
            return self._bucket.upload_stream(
                name, key, opened.reader, content_type, metadata, tags
            )

    def _write_job_json(
        self, job: JobDescription, folder: str, prior: StoredObject | None
    ) -> StoredObject:
        body = job_json(job)
        if prior is not None and prior.sha256_hex == hashlib.sha256(body).hexdigest():
            return prior  # the identical description is archived already
        return self._bucket.put_bytes(
            JOB, folder + JOB, body, "application/json", object_metadata(job), object_tags(job, JOB)
        )


def _outcome(copy: Callable[[], StoredObject]) -> StoredObject | Exception:
    """An output's copy, or the error it ended with (so the others' results are kept)."""
    try:
        return copy()
    except Exception as exc:  # sorted, and re-raised if unexpected, by the caller
        return exc
