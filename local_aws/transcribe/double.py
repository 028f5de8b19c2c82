"""``FakeTranscribe``: the double's public face (jobs, faults, observability, lifecycle);
what it serves is in the package docstring, how in ``api``, ``serving`` and ``links``."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

from local_aws.http_server import DUMMY_CREDENTIAL, LocalServer
from local_aws.transcribe import analytics, api, links, medical, scribe
from local_aws.transcribe.analytics import AnalyticsSpec, new_analytics_run
from local_aws.transcribe.content import Content, content_sha256
from local_aws.transcribe.faults import DEFAULT_RATE_LIMITS, ApiFaultKind, ApiFaults, Fault, Quotas
from local_aws.transcribe.handler import DoubleServer
from local_aws.transcribe.jobs import (
    JobRun,
    JobSpec,
    TeamBucketWriter,
    check_job_name,
    new_run,
    state_change_event,
)
from local_aws.transcribe.medical import MedicalSpec, new_medical_run
from local_aws.transcribe.model import (
    DEFAULT,
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    ENDED,
    MAX_PRESIGN_EXPIRES,
    OUTPUTS,
    Default,
    JobStatus,
    JobType,
    LinkStyle,
    OutputName,
    Redaction,
    decode_times,
    to_ms,
)
from local_aws.transcribe.recording import RecordedRequest, RequestLog
from local_aws.transcribe.scribe import ScribeSpec, new_scribe_run
from local_aws.transcribe.store import JobStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_transcribe import TranscribeServiceClient


class FakeTranscribe(LocalServer[DoubleServer]):
    """Amazon Transcribe's API and output links on ``127.0.0.1:<free port>``.

    Use as a context manager. ``endpoint_url`` is for boto3 (or the
    ``AWS_ENDPOINT_URL_TRANSCRIBE`` variable, see :meth:`env`); ``link_host`` is what the
    archiver's ``ALLOWED_SOURCE_HOSTS`` must contain for service-bucket links.
    """

    thread_name = "fake-transcribe"

    def __init__(
        self,
        *,
        s3_client: S3Client | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT,
        link_expires: int = 900,
        link_style: LinkStyle = "regional",
        rate_limits: Mapping[str, float | None] | None = DEFAULT_RATE_LIMITS,
        throttle_status: int = 400,
        clock: Callable[[], float] = time.time,
        max_connections: int = 1024,
        idle_timeout: float = 20.0,
        max_logged_requests: int = 200_000,
    ) -> None:
        """
        ``s3_client``: where team-bucket jobs' outputs are written (moto's S3).
        ``link_expires``: X-Amz-Expires of new links (900 like the service; 1 in tests).
        ``link_style``: ``"regional"`` (``.../<job>/<uuid>/asrOutput.json``) or
        ``"global"`` (older jobs: no uuid segment); per job overridable.
        ``rate_limits``: requests/s per operation; ``None`` (or a None value) = unlimited.
        ``throttle_status``: HTTP status of LimitExceededException (400 per the service's
        docs; botocore's newest model says 429 — either is throttling to botocore).
        ``clock``: epoch seconds; drives job times, X-Amz-Date and expiry checks, so
        tests can age links without sleeping.
        ``idle_timeout``: an idle keep-alive connection is closed after this (S3 does ~20 s).
        """
        super().__init__()
        if link_expires < 1 or link_expires > MAX_PRESIGN_EXPIRES:
            raise ValueError(f"link_expires must be 1..{MAX_PRESIGN_EXPIRES}")
        self.region = region
        self.account_id = account_id
        self.link_expires = link_expires
        self.link_style: LinkStyle = link_style
        self.throttle_status = throttle_status
        self.idle_timeout = idle_timeout
        self.transcription_jobs: JobStore[JobRun] = JobStore()
        self.call_analytics_jobs: JobStore[JobRun] = JobStore()
        self.medical_jobs: JobStore[JobRun] = JobStore()
        self.medical_scribe_jobs: JobStore[JobRun] = JobStore()
        self._stores: dict[JobType, JobStore[JobRun]] = {
            "transcription": self.transcription_jobs,
            "call-analytics": self.call_analytics_jobs,
            "medical": self.medical_jobs,
            "medical-scribe": self.medical_scribe_jobs,
        }
        self.api_faults = ApiFaults()
        self.quotas = Quotas(rate_limits)
        self.request_log = RequestLog(max_logged_requests)
        self.signer = links.LinkSigner()
        self._team_buckets = TeamBucketWriter(s3_client) if s3_client is not None else None
        self._clock = clock
        self._fault_lock = threading.Lock()
        self._max_connections = max_connections
        #: Set to enforce IAM on API calls (``local_aws.enforced_aws.EnforcedAWS.authorize``);
        #: None (the default) lets every signed call through.
        self.authorizer: api.Authorizer | None = None

    def _make_server(self) -> DoubleServer:
        return DoubleServer(self, max_connections=self._max_connections)

    @property
    def link_host(self) -> str:
        """``127.0.0.1:<port>``: the host of service-bucket links (for ALLOWED_SOURCE_HOSTS).

        The API and the links share one port; ``endpoint_url`` is the API's.
        """
        return self.host

    @property
    def clock(self) -> Callable[[], float]:
        """Epoch-seconds clock behind job times, X-Amz-Date and expiry checks."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        # Swappable at run time: age links already handed out without sleeping.
        self._clock = clock

    def env(self) -> dict[str, str]:
        """The variable that points boto3's ``transcribe`` clients here."""
        return {"AWS_ENDPOINT_URL_TRANSCRIBE": self.endpoint_url}

    def client(self, **config: Any) -> TranscribeServiceClient:
        """A real boto3 ``transcribe`` client for this double (dummy credentials).

        ``config`` becomes a ``botocore.config.Config`` (e.g. ``retries={...}``).
        """
        config.setdefault("retries", {"mode": "standard", "max_attempts": 3})
        return boto3.session.Session().client(
            "transcribe",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIAL,
            aws_secret_access_key=DUMMY_CREDENTIAL,
            config=Config(**config),
        )

    # -- quotas and API faults -----------------------------------------------------------
    def set_rate_limits(self, limits: Mapping[str, float | None] | None) -> None:
        """Replace the per-operation quotas (requests/s); ``None`` removes them all."""
        self.quotas.set(limits)

    def fail_api_next(self, op: str, n: int = 1, kind: ApiFaultKind = "throttle") -> None:
        """Make the next ``n`` calls of ``op`` fail with ``kind``.

        ``throttle``: LimitExceededException (throttle_status); ``internal``: 500
        InternalFailureException; ``not_found``: BadRequestException "The requested job
        couldn't be found..."; ``not_found_exception``: NotFoundException;
        ``access_denied``: AccessDeniedException; ``html_forbidden``: a proxy's 403 web page.
        """
        self.api_faults.add(op, n, kind)

    # -- jobs ----------------------------------------------------------------------------
    def add_job(
        self,
        name: str,
        *,
        status: JobStatus = "COMPLETED",
        language_code: str | Default | None = DEFAULT,
        outputs: Mapping[OutputName, Content] | None = None,
        output_bucket: str | None = None,
        output_key: str | None = None,
        redaction: Redaction | None = None,
        pii_entity_types: Sequence[str] | None = None,
        subtitle_formats: Sequence[Literal["vtt", "srt"]] = (),
        subtitle_start_index: int = 0,
        tags: Mapping[str, str] | None = None,
        language_codes: Sequence[tuple[str, float]] | None = None,
        identify_language: bool = False,
        identified_language_score: float | None = None,
        language_options: Sequence[str] | None = None,
        failure_reason: str | None = None,
        settings: Mapping[str, Any] | None = None,
        media_uri: str | None = None,
        media_format: str = "mp3",
        media_sample_rate: int | Default | None = DEFAULT,
        creation_time: datetime | None = None,
        start_time: datetime | None = None,
        completion_time: datetime | None = None,
        null_outputs: Iterable[OutputName] = (),
        missing_outputs: Iterable[OutputName] = (),
        link_style: LinkStyle | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a job run; returns it as GetTranscriptionJob would (decoded, fresh links).

        Outputs a COMPLETED job has: ``transcript`` (unless ``redaction="redacted"``, where
        the service writes only the redacted one), ``redacted`` (with redaction), and
        ``vtt``/``srt`` per ``subtitle_formats``. Defaults are real fixtures: transcript
        ``standard-minimal.json`` (``korean-long-float-confidence.json`` for ko-*,
        ``speaker-labels-audio-segments-vocab-mask.json`` when subtitles are on), redacted
        ``call-analytics-redacted-pii.json``, srt ``...vocab-mask.srt``, vtt derived from it.
        ``outputs`` overrides any of them with ``bytes`` or :class:`GeneratedContent`.

        ``language_code``: default ``en-US``, omitted for multi-language jobs (they carry
        ``LanguageCodes`` instead); None omits it. ``media_sample_rate``: default 44100
        for jobs that ran, omitted for FAILED ones. ``null_outputs`` → the link is JSON
        ``null`` (accounts opted out of AI data use); ``missing_outputs`` → absent.
        FAILED jobs get ``failure_reason`` (default: the first documented reason) and no
        links. Times default to "completed now, created 20 s earlier"; a name reused after
        :meth:`delete_job` gets a CreationTime at least one second after the previous run,
        so archive folders (second resolution) never collide.
        """
        check_job_name(name)
        # Every parameter but the name is a JobSpec field of the same name (locals() holds
        # only the parameters here).
        spec = JobSpec(**{k: v for k, v in locals().items() if k not in ("self", "name")})
        return self._add(name, spec)

    def add_call_analytics_job(self, name: str, **spec: Any) -> dict[str, Any]:
        """Create a Call Analytics job run; returns it as GetCallAnalyticsJob would.

        ``spec``: the fields of :class:`~local_aws.transcribe.analytics.AnalyticsSpec`
        (status, redaction, output_location, tags, skipped, channel_definitions, times,
        null/missing outputs, ...). Its outputs are ``transcript``, ``redacted`` and
        ``redacted_media`` (the redacted audio); its name may also be a transcription job's.
        """
        check_job_name(name)
        return self._add(name, AnalyticsSpec(**spec))

    def add_medical_job(self, name: str, **spec: Any) -> dict[str, Any]:
        """Create a Transcribe Medical job run; returns it as GetMedicalTranscriptionJob would.

        ``spec``: the fields of :class:`~local_aws.transcribe.medical.MedicalSpec`;
        ``output_bucket`` is required (Medical writes only to the team's bucket). Its one
        output is ``transcript``; its name may also be another kind's job's.
        """
        check_job_name(name)
        return self._add(name, MedicalSpec(**spec))

    def add_medical_scribe_job(self, name: str, **spec: Any) -> dict[str, Any]:
        """Create an AWS HealthScribe job run; returns it as GetMedicalScribeJob would.

        ``spec``: the fields of :class:`~local_aws.transcribe.scribe.ScribeSpec`;
        ``output_bucket`` is required. Its outputs are ``transcript`` and
        ``clinical_document``; its name may also be another kind's job's.
        """
        check_job_name(name)
        return self._add(name, ScribeSpec(**spec))

    def _add(
        self, name: str, spec: JobSpec | AnalyticsSpec | MedicalSpec | ScribeSpec
    ) -> dict[str, Any]:
        if spec.output_bucket is not None and self._team_buckets is None:
            raise ValueError("team-bucket jobs need FakeTranscribe(s3_client=...)")
        kind = _kind_of(spec)
        store = self._stores[kind]
        times = store.times(
            name,
            spec.status,
            now_ms=round(self._clock() * 1000),
            creation=spec.creation_time,
            start=spec.start_time,
            completion=spec.completion_time,
        )
        place = {"region": self.region, "account_id": self.account_id}
        if isinstance(spec, AnalyticsSpec):
            run = new_analytics_run(name, spec, times=times, link_style=self.link_style, **place)
        elif isinstance(spec, MedicalSpec):
            run = new_medical_run(name, spec, times=times, account_id=self.account_id)
        elif isinstance(spec, ScribeSpec):
            run = new_scribe_run(name, spec, times=times, account_id=self.account_id)
        else:
            run = new_run(name, spec, times=times, link_style=self.link_style, **place)
        if self._team_buckets is not None:
            # The objects exist before the job is visible, as with the real service.
            self._team_buckets.write(run)
        store.insert(run)
        return self.describe(name, kind=kind)

    def complete_job(
        self,
        name: str,
        *,
        status: Literal["COMPLETED", "FAILED"] = "COMPLETED",
        failure_reason: str | None = None,
        kind: JobType | None = None,
    ) -> dict[str, Any]:
        """Finish a QUEUED/IN_PROGRESS job now (its outputs appear, as after a real run)."""
        run = self._run(name, kind)
        if run.status in ENDED:
            raise ValueError(f"job {name!r} already ended ({run.status})")
        self._stores[run.kind].pop(name)
        spec = dataclasses.replace(
            run.spec,
            status=status,
            failure_reason=failure_reason,
            creation_time=datetime.fromtimestamp(run.creation_ms / 1000, UTC),
            start_time=datetime.fromtimestamp((run.start_ms or run.creation_ms) / 1000, UTC),
            completion_time=None,
        )
        try:
            return self._add(name, spec)
        except BaseException:
            self._stores[run.kind].restore(run)
            raise

    def delete_job(self, name: str, *, kind: JobType | None = None) -> None:
        """Delete the job (as Delete…Job): API calls and its links then fail."""
        run = self._run(name, kind)
        self._stores[run.kind].pop(name)

    def jobs(self, kind: JobType = "transcription") -> list[str]:
        return self._stores[kind].names()

    def describe(self, name: str, *, kind: JobType | None = None) -> dict[str, Any]:
        """The job as a botocore client would return it now (datetimes, fresh links)."""
        run = self._run(name, kind)
        render = {
            "transcription": api.job_json,
            "call-analytics": analytics.job_json,
            "medical": medical.job_json,
            "medical-scribe": scribe.job_json,
        }[run.kind]
        return decode_times(render(run, self.response_links()))

    def kind_of(self, name: str) -> JobType:
        """Which kind of job has ``name`` (ValueError if several kinds do)."""
        return self._run(name, None).kind

    def output_content(
        self, name: str, output: OutputName, *, kind: JobType | None = None
    ) -> Content:
        """What the job's ``output`` contains (bytes or GeneratedContent)."""
        run = self._run(name, kind)
        if output not in run.outputs:
            raise KeyError(f"job {name!r} has no {output} output")
        return run.outputs[output]

    def output_sha256(self, name: str, output: OutputName, *, kind: JobType | None = None) -> str:
        return content_sha256(self.output_content(name, output, kind=kind))

    def output_location(
        self, name: str, output: OutputName, *, kind: JobType | None = None
    ) -> tuple[str, str]:
        """(bucket, key) of a team-bucket job's output in the embedded S3."""
        run = self._run(name, kind)
        if run.output_bucket is None or output not in run.bucket_keys:
            raise KeyError(f"job {name!r} has no team-bucket {output} output")
        return run.output_bucket, run.bucket_keys[output]

    def inject(
        self,
        job_name: str,
        output: OutputName,
        faults: Iterable[Fault],
        *,
        kind: JobType | None = None,
    ) -> None:
        """Queue ``faults`` for the next GETs of one service-bucket output, in order."""
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        run = self._run(job_name, kind)
        if run.output_bucket is not None:
            raise ValueError("team-bucket links point at S3 (moto); faults apply to service links")
        if output not in run.service_paths:
            raise ValueError(f"job {job_name!r} has no {output} link")
        with self._fault_lock:
            run.faults.setdefault(output, deque()).extend(faults)

    def clear_link_faults(self) -> None:
        """Drop every link fault still queued (the world calms down)."""
        with self._fault_lock:
            for store in self._stores.values():
                for name in store.names():
                    run = store.find(name)
                    if run is not None:
                        run.faults.clear()

    def event_for(
        self,
        name: str,
        *,
        time: datetime | None = None,
        event_id: str | None = None,
        kind: JobType | None = None,
    ) -> dict[str, Any]:
        """The EventBridge event of the job's end: ``Transcribe Job State Change``, or
        ``Call Analytics Job State Change`` for a Call Analytics job.

        Same shape and key order as AWS's documented examples; ``time`` defaults to the
        job's CompletionTime, ``FailureReason`` is added for FAILED jobs. No event is
        documented for Medical jobs; for one, this is the ``Transcribe Job State Change``
        naming it that an undocumented delivery would be. HealthScribe jobs have none
        (ValueError).
        """
        run = self._run(name, kind)
        if run.kind == "medical-scribe":
            raise ValueError("no EventBridge event is documented for HealthScribe jobs")
        make = analytics.state_change_event if run.kind == "call-analytics" else state_change_event
        return make(
            run,
            account_id=self.account_id,
            region=self.region,
            time_ms=to_ms(time) if time is not None else None,
            event_id=event_id,
        )

    def _run(self, name: str, kind: JobType | None) -> JobRun:
        """The run of ``name`` of ``kind``, or of whichever kind has the name (KeyError if
        none does; ValueError if both do and ``kind`` is not given)."""
        if kind is not None:
            return self._stores[kind].get(name)
        found = [run for store in self._stores.values() if (run := store.find(name))]
        if len(found) > 1:
            raise ValueError(f"several kinds of job are named {name!r}: pass kind=")
        if not found:
            raise KeyError(f"no job {name!r}")
        return found[0]

    # -- observability -------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request answered so far (oldest first)."""
        return self.request_log.requests

    def clear_requests(self) -> None:
        self.request_log.clear()

    def api_calls(self, op: str | None = None, *, status: int | None = None) -> int:
        """How many API calls (of ``op``, answered with ``status``) were made."""
        return self.request_log.api_calls(op, status=status)

    def link_requests(
        self, job: str | None = None, output: OutputName | None = None, *, method: str = "GET"
    ) -> int:
        """How many requests (``GET`` by default) reached links of ``job``/``output``."""
        return self.request_log.link_requests(job, output, method=method)

    def completed_fetches(self, job: str | None = None, output: OutputName | None = None) -> int:
        """GETs of ``job``/``output`` answered 200/206 with the body sent in full."""
        return self.request_log.completed_fetches(job, output)

    @property
    def bytes_served(self) -> int:
        """Body bytes written to link clients so far."""
        return self.request_log.bytes_served

    @property
    def live_connections(self) -> int:
        return self._server.live_connections if self._server else 0

    @property
    def handler_errors(self) -> list[str]:
        """Tracebacks of exceptions inside the double itself (should stay empty)."""
        return list(self._server.handler_errors) if self._server else []

    # -- what the HTTP handler calls -----------------------------------------------------
    def check_access(
        self,
        op: str,
        body: Mapping[str, Any],
        method: str,
        path: str,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> None:
        """With an ``authorizer``, refuse a call the caller's policies do not allow, as the
        service does (``AccessDeniedException``, 400), before anything else is looked at."""
        if self.authorizer is None:
            return
        resource = api.resource_arn(op, body, self.region, self.account_id)
        denied = self.authorizer(method, path, headers, raw, f"transcribe:{op}", resource)
        if denied is not None:
            raise api.ApiError(400, "AccessDeniedException", denied, "access-denied")

    def handle_api(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to one API call (raises ``api.ApiError`` for an error answer).

        A subclass may wrap it to change one call's answer (the chaos test hands out
        already-expired links this way).
        """
        return api.answer(self, op, body)

    def response_links(self) -> api.LinkFor:
        """Links for one API response, all signed with one fresh session, as the service
        signs them."""
        session = self.signer.new_session()

        def link(run: JobRun, output: OutputName) -> str:
            if run.output_bucket is not None:
                key = run.bucket_keys[output]
                if run.team_link_scheme == "s3":
                    return f"s3://{run.output_bucket}/{key}"
                return links.team_bucket_url(self.region, run.output_bucket, key)
            return self.signer.presign(
                run.service_paths[output],
                session,
                host=self.link_host,
                region=self.region,
                expires=self.link_expires,
                now=self._clock(),
            )

        return link

    def resolve_link(self, path: str) -> tuple[JobRun, OutputName] | None:
        return self.transcription_jobs.resolve(path) or self.call_analytics_jobs.resolve(path)

    def take_link_fault(self, run: JobRun, output: OutputName) -> Fault | None:
        with self._fault_lock:
            queue = run.faults.get(output)
            return queue.popleft() if queue else None


def _kind_of(spec: JobSpec | AnalyticsSpec | MedicalSpec | ScribeSpec) -> JobType:
    if isinstance(spec, AnalyticsSpec):
        return "call-analytics"
    if isinstance(spec, MedicalSpec):
        return "medical"
    if isinstance(spec, ScribeSpec):
        return "medical-scribe"
    return "transcription"
