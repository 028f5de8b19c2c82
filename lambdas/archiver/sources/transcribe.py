"""Amazon Transcribe as a source of job descriptions and listings.

The only module that calls Transcribe. It turns the API's answers into
:class:`~archiver.models.jobs.JobDescription` / :class:`~archiver.models.jobs.ListedJob`
and its "job not found" errors into :class:`~archiver.errors.JobNotFoundError`. Throttling
and 5xx are retried by botocore (adaptive mode, see ``archiver.aws``); listings also pace
themselves under the List APIs' 5 requests/s quota.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from archiver.contract import JobKind
from archiver.errors import JobNotFoundError
from archiver.models.jobs import JobDescription, ListedJob
from archiver.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_transcribe import TranscribeServiceClient

#: The List…Jobs APIs' quota (requests per second).
LIST_RATE: Final = 5.0
#: The List APIs' largest page; their default is 5.
PAGE_SIZE: Final = 100
_NOT_FOUND_CODES: Final = frozenset({"NotFoundException"})
#: A kind's API refusing this caller: the stack does not grant the kind.
_REFUSED_CODES: Final = frozenset({"AccessDeniedException", "AccessDenied"})


@dataclass(frozen=True)
class _Api:
    """How one job kind is spelled in the Transcribe API."""

    get: str  # client method describing one job
    name_param: str  # its job-name parameter
    job_key: str  # the response member holding the job
    name_key: str  # the job's name and status members
    status_key: str
    list: str  # client method listing jobs
    summaries_key: str
    delete: str  # client method deleting a job (purge --also-transcribe only)


_APIS: Final = {
    JobKind.TRANSCRIPTION: _Api(
        get="get_transcription_job",
        name_param="TranscriptionJobName",
        job_key="TranscriptionJob",
        name_key="TranscriptionJobName",
        status_key="TranscriptionJobStatus",
        list="list_transcription_jobs",
        summaries_key="TranscriptionJobSummaries",
        delete="delete_transcription_job",
    ),
    JobKind.CALL_ANALYTICS: _Api(
        get="get_call_analytics_job",
        name_param="CallAnalyticsJobName",
        job_key="CallAnalyticsJob",
        name_key="CallAnalyticsJobName",
        status_key="CallAnalyticsJobStatus",
        list="list_call_analytics_jobs",
        summaries_key="CallAnalyticsJobSummaries",
        delete="delete_call_analytics_job",
    ),
    # Transcribe Medical: the status member is spelled as for transcription jobs.
    JobKind.MEDICAL: _Api(
        get="get_medical_transcription_job",
        name_param="MedicalTranscriptionJobName",
        job_key="MedicalTranscriptionJob",
        name_key="MedicalTranscriptionJobName",
        status_key="TranscriptionJobStatus",
        list="list_medical_transcription_jobs",
        summaries_key="MedicalTranscriptionJobSummaries",
        delete="delete_medical_transcription_job",
    ),
    # AWS HealthScribe.
    JobKind.MEDICAL_SCRIBE: _Api(
        get="get_medical_scribe_job",
        name_param="MedicalScribeJobName",
        job_key="MedicalScribeJob",
        name_key="MedicalScribeJobName",
        status_key="MedicalScribeJobStatus",
        list="list_medical_scribe_jobs",
        summaries_key="MedicalScribeJobSummaries",
        delete="delete_medical_scribe_job",
    ),
}


def describe_raw(kind: JobKind, job: Mapping[str, Any]) -> JobDescription:
    """A JobDescription from the job object of a ``Get…Job`` answer."""
    api = _APIS[kind]
    raw = dict(job)
    for key in ("CreationTime", "StartTime", "CompletionTime"):
        if isinstance(raw.get(key), datetime):
            raw[key] = raw[key].astimezone(UTC)
    return JobDescription(
        kind=kind,
        name=raw[api.name_key],
        status=raw[api.status_key],
        created=raw["CreationTime"],
        started=raw.get("StartTime"),
        completed=raw.get("CompletionTime"),
        raw=raw,
    )


class RateLimiter:
    """At most ``rate`` calls of :meth:`wait` per second, evenly spaced."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


class TranscribeJobs:
    """Describes and lists job runs of every kind the archiver handles."""

    def __init__(self, client: TranscribeServiceClient) -> None:
        self._client = client

    @staticmethod
    def kinds() -> tuple[JobKind, ...]:
        return tuple(_APIS)

    def describe(self, kind: JobKind, job_name: str) -> JobDescription:
        """The job's current description; raises JobNotFoundError if Transcribe lost it."""
        api = _APIS[kind]
        try:
            response = getattr(self._client, api.get)(**{api.name_param: job_name})
        except ClientError as exc:
            if _not_found(exc):
                message = exc.response.get("Error", {}).get("Message", "")
                raise JobNotFoundError(message or "job not found") from None
            raise
        return describe_raw(kind, response[api.job_key])

    def find(self, kind: JobKind, job_name: str) -> JobDescription | None:
        """The job's current description, or None where ``kind``'s API does not know it.

        For a best-effort look at another kind (an event that may name a Medical job): a
        refusal of the kind's API (the stack grants only some kinds) also answers None, with
        a warning, rather than failing the event for good.
        """
        try:
            return self.describe(kind, job_name)
        except JobNotFoundError:
            return None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in _REFUSED_CODES:
                raise
            logger.warning(
                "Transcribe refused to describe the job; taken as unknown to this kind",
                extra={"job_name": job_name, "job_kind": kind.value, "error_code": code},
            )
            return None

    def delete(self, kind: JobKind, job_name: str) -> None:
        """Delete the job at Transcribe (its record there, not our archive)."""
        api = _APIS[kind]
        try:
            getattr(self._client, api.delete)(**{api.name_param: job_name})
        except ClientError as exc:
            if _not_found(exc):
                return  # gone already: what was asked for
            raise

    def list_jobs(
        self,
        kind: JobKind,
        status: str,
        *,
        since: datetime | None,
        limiter: RateLimiter,
    ) -> Iterator[ListedJob]:
        """Jobs of ``kind`` with ``status`` (QUEUED, IN_PROGRESS, COMPLETED or FAILED)
        created at or after ``since``, newest first.

        The service lists newest CreationTime first, but does not document that order: each
        job is filtered on its own CreationTime, and paging stops early only while the pages
        seen so far have kept that order.
        """
        api = _APIS[kind]
        kwargs: dict[str, Any] = {"Status": status, "MaxResults": PAGE_SIZE}
        newest_first = True
        previous: datetime | None = None
        while True:
            limiter.wait()
            page = getattr(self._client, api.list)(**kwargs)
            reached_older = False
            for summary in page.get(api.summaries_key, []):
                created = summary.get("CreationTime")
                listed_status = summary.get(api.status_key)
                if created is None or listed_status != status:
                    continue
                if previous is not None and created > previous:
                    newest_first = False
                previous = created
                if since is not None and created < since:
                    reached_older = True
                    continue
                yield ListedJob(
                    kind,
                    summary[api.name_key],
                    listed_status,
                    created,
                    summary.get("CompletionTime"),
                )
            token = page.get("NextToken")
            if not token or (reached_older and newest_first):
                return
            kwargs["NextToken"] = token


def _not_found(exc: ClientError) -> bool:
    """Transcribe's two ways of saying a job does not exist (docs/transcribe-facts.md)."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    return code in _NOT_FOUND_CODES or (
        code == "BadRequestException" and "couldn't be found" in message
    )
