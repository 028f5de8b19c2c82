"""A faithful local Amazon Transcribe: the JSON API and the output links, on one loopback port.

Why not moto's Transcribe mock: its jobs never FAIL, it has no redaction, tags or subtitles,
and its "links" cannot be fetched. The archiver's hard parts are exactly those, so this
double serves, from one ``ThreadingHTTPServer`` on ``127.0.0.1``:

* the Transcribe API in the awsJson1_1 protocol botocore uses for it (``POST /`` with
  ``X-Amz-Target: Transcribe.<Op>``): ``GetTranscriptionJob``, ``ListTranscriptionJobs``
  and ``DeleteTranscriptionJob``, with the real error shapes, optional quotas (token
  buckets answering ``LimitExceededException``) and injected API faults;
* the service-managed bucket's presigned links (``GET``/``HEAD``), with S3's semantics:
  ``Content-Length``/``ETag``/``Range``, XML errors, expiry after ``X-Amz-Expires``, a
  signature check, and injected link faults (:class:`Fault`).

Jobs that name the team's own bucket (``output_bucket=``) have their outputs written into
that bucket through the S3 client given to :class:`FakeTranscribe` (normally moto, see
``embedded_aws``), and get the real ``https://s3.<region>.amazonaws.com/<bucket>/<key>``
links, which the archiver must resolve through the S3 API.

Link paths (service-managed bucket; ``<uuid>`` is per job run, absent in the "global" style):

==========  ==========================================================================
output      path
==========  ==========================================================================
transcript  ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/asrOutput.json``
redacted    ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/redacted-asrOutput.json``
vtt         ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/<job>.vtt``
srt         ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/<job>.srt``
==========  ==========================================================================

Team-bucket keys (no ``output_key``): ``<job>.json``, ``redacted-<job>.json``,
``<job>.vtt``, ``<job>.srt``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import email.utils
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import socket
import string
import struct
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args
from xml.sax.saxutils import escape as xml_escape

import boto3
from botocore.config import Config

from local_aws.http_server import (
    DUMMY_CREDENTIAL,
    BoundedThreadingHTTPServer,
    LocalServer,
)
from local_aws.transcribe.content import (
    CHUNK_SIZE,
    KOREAN_TRANSCRIPT,
    REDACTED_TRANSCRIPT,
    STANDARD_TRANSCRIPT,
    SUBTITLED_SRT,
    SUBTITLED_TRANSCRIPT,
    Content,
    ContentReader,
    GeneratedContent,
    content_etag,
    content_sha256,
    content_size,
    fixture_bytes,
    iter_content,
    srt_to_vtt,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_transcribe import TranscribeServiceClient

OutputName = Literal["transcript", "redacted", "vtt", "srt"]
OUTPUTS: Final[tuple[OutputName, ...]] = get_args(OutputName)
JobStatus = Literal["QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"]
Redaction = Literal["redacted", "redacted_and_unredacted"]
LinkStyle = Literal["regional", "global"]
ApiFaultKind = Literal["throttle", "internal", "not_found", "not_found_exception"]

DEFAULT_REGION: Final = "us-east-1"
#: moto's default account, so ARNs and buckets line up with the embedded AWS.
DEFAULT_ACCOUNT: Final = "123456789012"
#: Transcribe quotas (requests per second); see TRANSCRIBE_FACTS.md.
DEFAULT_RATE_LIMITS: Final[Mapping[str, float | None]] = {
    "GetTranscriptionJob": 30.0,
    "ListTranscriptionJobs": 5.0,
}
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
#: The API accepts small JSON bodies only; anything larger is refused before parsing.
MAX_API_BODY: Final = 1024 * 1024
#: ListTranscriptionJobs page size when MaxResults is absent: the API reference says 5
#: ("If you do not specify a value, a default of 5 is used"), so callers must pass 100.
LIST_DEFAULT_MAX_RESULTS: Final = 5

_JOB_NAME = re.compile(r"^[0-9a-zA-Z._-]+$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_SERVICE_FILES: Final[Mapping[OutputName, str]] = {
    "transcript": "asrOutput.json",
    "redacted": "redacted-asrOutput.json",
    "vtt": "{job}.vtt",
    "srt": "{job}.srt",
}
_CONTENT_TYPES: Final[Mapping[OutputName, str]] = {
    "transcript": "application/json",
    "redacted": "application/json",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
}
_DEFAULT_SETTINGS: Final[Mapping[str, Any]] = {
    "ChannelIdentification": False,
    "ShowAlternatives": False,
}


class _Default(Enum):
    """Sentinel for "choose what the real service would" (distinct from None = omit)."""

    TOKEN = 0


DEFAULT: Final = _Default.TOKEN


# --------------------------------------------------------------------------- faults
@dataclass(frozen=True)
class Fault:
    """One misbehaviour of an output link, consumed by one GET (build with the classmethods)."""

    kind: Literal[
        "expired",
        "status",
        "slow_down",
        "reset_mid_body",
        "short_read",
        "delay",
        "redirect",
        "forbidden",
    ]
    code: int = 0
    seconds: float = 0.0
    location: str = ""
    #: Share of the body sent before a reset / short read (at least one byte when any).
    fraction: float = 0.5

    @classmethod
    def expired(cls) -> Fault:
        """403 AccessDenied "Request has expired" (as if the 15 minutes had passed)."""
        return cls("expired")

    @classmethod
    def status(cls, code: int) -> Fault:
        """An S3 XML error with this HTTP status (500 InternalError, 503, ...)."""
        if not 400 <= code <= 599:
            raise ValueError("status faults are HTTP errors (400-599)")
        return cls("status", code=code)

    @classmethod
    def slow_down(cls) -> Fault:
        """503 ``SlowDown`` "Please reduce your request rate." (S3 throttling)."""
        return cls("slow_down", code=503)

    @classmethod
    def reset_mid_body(cls, fraction: float = 0.5) -> Fault:
        """Full headers, part of the body, then a TCP RST (SO_LINGER 0)."""
        return cls("reset_mid_body", fraction=fraction)

    @classmethod
    def short_read(cls, fraction: float = 0.5) -> Fault:
        """Content-Length of the whole body, only part of it sent, then a clean close."""
        return cls("short_read", fraction=fraction)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally."""
        return cls("delay", seconds=seconds)

    @classmethod
    def redirect(cls, location: str) -> Fault:
        """302 Found to ``location`` (e.g. another host, or the instance metadata address)."""
        return cls("redirect", code=302, location=location)

    @classmethod
    def forbidden(cls) -> Fault:
        """403 AccessDenied "Access Denied": a permanent refusal, not an expiry."""
        return cls("forbidden", code=403)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double answered (recorded when its status line is decided)."""

    time: float
    method: str
    #: The path without its query string (a presigned query is never recorded).
    path: str
    status: int
    client_host: str
    client_port: int
    #: API operation (``GetTranscriptionJob`` ...) for API calls, else None.
    op: str | None = None
    job: str | None = None
    output: OutputName | None = None
    #: Name of the injected fault (``throttle``, ``expired``, ``reset_mid_body``...), if any.
    fault: str | None = None
    #: The Content-Length announced (for faults that cut the body, more than was sent).
    content_length: int = 0
    #: False when the double deliberately cut the body (``reset_mid_body``/``short_read``):
    #: the status line still said 200, but the client never got the whole object.
    complete: bool = True


# --------------------------------------------------------------------------- jobs
@dataclass
class _Run:
    """One run of a job name (a name reused after deletion is a new run)."""

    name: str
    run_id: str
    status: JobStatus
    creation_ms: int
    start_ms: int | None
    completion_ms: int | None
    static: dict[str, Any]  # every field except times, Transcript and Subtitles links
    outputs: dict[OutputName, Content]
    output_bucket: str | None
    bucket_keys: dict[OutputName, str]
    service_paths: dict[OutputName, str]
    subtitle_formats: tuple[str, ...]
    null_outputs: frozenset[OutputName]
    missing_outputs: frozenset[OutputName]
    call: dict[str, Any]
    faults: dict[OutputName, deque[Fault]] = field(default_factory=dict)


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)  # one second's worth of burst
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fault: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fault = status, code, message, fault


def _validation(message: str) -> _ApiError:
    return _ApiError(400, "ValidationException", f"1 validation error detected: {message}")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("use timezone-aware datetimes (UTC), e.g. datetime(..., tzinfo=UTC)")
    return round(value.timestamp() * 1000)


def _decode_times(job: dict[str, Any]) -> dict[str, Any]:
    """The job as botocore would hand it over: epoch numbers become aware datetimes."""
    for key in ("CreationTime", "StartTime", "CompletionTime"):
        if key in job:
            job[key] = datetime.fromtimestamp(job[key], UTC)
    return job


# --------------------------------------------------------------------------- server
class FakeTranscribe(LocalServer["_DoubleServer"]):
    """Amazon Transcribe's API and output links on ``127.0.0.1:<free port>``.

    Use as a context manager. ``endpoint_url`` is for boto3 (or the
    ``AWS_ENDPOINT_URL_TRANSCRIBE`` variable, see :meth:`env`); ``link_host`` is what the
    archiver's ``ALLOWED_SOURCE_HOSTS`` must contain for service-bucket links.
    """

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
        self._s3 = s3_client
        self._clock = clock
        self._lock = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._paths: dict[str, tuple[_Run, OutputName]] = {}
        self._last_creation: dict[str, int] = {}  # per name, across deleted runs
        self._last_default_creation_ms = 0
        self._api_faults: dict[str, deque[ApiFaultKind]] = {}
        self._buckets: dict[str, _TokenBucket | None] = {}
        self.set_rate_limits(rate_limits)
        self._log: deque[RecordedRequest] = deque(maxlen=max_logged_requests)
        self._bytes_served = 0
        self._known_buckets: set[str] = set()
        # Per-server signing secret: links from another FakeTranscribe never validate.
        self._secret = secrets.token_bytes(32)
        self._max_connections = max_connections

    thread_name = "fake-transcribe"

    def _make_server(self) -> _DoubleServer:
        return _DoubleServer(self, max_connections=self._max_connections)

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
        with self._lock:
            self._buckets = {
                op: (_TokenBucket(rate) if rate else None) for op, rate in (limits or {}).items()
            }

    def fail_api_next(self, op: str, n: int = 1, kind: ApiFaultKind = "throttle") -> None:
        """Make the next ``n`` calls of ``op`` fail with ``kind``.

        ``throttle``: LimitExceededException (throttle_status); ``internal``: 500
        InternalFailureException; ``not_found``: BadRequestException "The requested job
        couldn't be found..."; ``not_found_exception``: NotFoundException.
        """
        if kind not in get_args(ApiFaultKind):
            raise ValueError(f"unknown API fault kind {kind!r}")
        with self._lock:
            self._api_faults.setdefault(op, deque()).extend([kind] * n)

    # -- jobs ----------------------------------------------------------------------------
    def add_job(
        self,
        name: str,
        *,
        status: JobStatus = "COMPLETED",
        language_code: str | _Default | None = DEFAULT,
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
        media_sample_rate: int | _Default | None = DEFAULT,
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
        # Everything add_job was called with (locals() holds only the parameters here), so
        # complete_job() can re-create the run exactly with a new status.
        call = {k: v for k, v in locals().items() if k not in ("self", "name")}
        if not _JOB_NAME.match(name) or len(name) > 200:
            raise ValueError(f"invalid job name {name!r}: ^[0-9a-zA-Z._-]+$, 1-200 chars")
        if status not in get_args(JobStatus):
            raise ValueError(f"invalid status {status!r}")
        if redaction is not None and redaction not in get_args(Redaction):
            raise ValueError(f"invalid redaction {redaction!r}")
        formats = tuple(dict.fromkeys(subtitle_formats))
        if any(f not in ("vtt", "srt") for f in formats):
            raise ValueError(f"subtitle formats are vtt/srt, got {formats!r}")
        if output_bucket is not None and self._s3 is None:
            raise ValueError("team-bucket jobs need FakeTranscribe(s3_client=...)")
        multi = bool(language_codes)
        if isinstance(language_code, _Default):
            language_code = None if multi else "en-US"
        if isinstance(media_sample_rate, _Default):
            media_sample_rate = None if status == "FAILED" else 44100

        produced = self._produced_outputs(status, redaction, formats)
        given = dict(outputs or {})
        unexpected = set(given) - set(produced)
        if unexpected:
            raise ValueError(f"outputs {sorted(unexpected)} are not produced by this job")
        contents = {
            out: (
                given[out]
                if out in given
                else self._default_content(out, language_code, language_codes, formats)
            )
            for out in produced
        }
        nulls, missing = frozenset(null_outputs), frozenset(missing_outputs)
        if not (nulls | missing) <= set(produced):
            raise ValueError("null_outputs/missing_outputs must be outputs the job produces")

        with self._lock:
            if name in self._runs:
                raise ValueError(f"job {name!r} exists (ConflictException); delete it first")
            creation_ms, start_ms, completion_ms = self._times(
                name, status, creation_time, start_time, completion_time
            )
            run_id = uuid.uuid4().hex
            style = link_style or self.link_style
            static = self._static_fields(
                name=name,
                status=status,
                language_code=language_code,
                media_uri=media_uri
                or f"s3://transcribe-media-{self.account_id}/{name}.{media_format}",
                media_format=media_format,
                media_sample_rate=media_sample_rate,
                failure_reason=(failure_reason or FAILURE_REASONS[0])
                if status == "FAILED"
                else None,
                settings=settings,
                redaction=redaction,
                pii_entity_types=pii_entity_types,
                identify_language=identify_language,
                identified_language_score=identified_language_score,
                language_options=language_options,
                language_codes=language_codes,
                tags=tags,
                subtitle_start_index=subtitle_start_index,
                formats=formats,
                extra_fields=extra_fields,
            )
            run = _Run(
                name=name,
                run_id=run_id,
                status=status,
                creation_ms=creation_ms,
                start_ms=start_ms,
                completion_ms=completion_ms,
                static=static,
                outputs=contents,
                output_bucket=output_bucket,
                bucket_keys=(
                    self._bucket_keys(name, output_key, contents) if output_bucket else {}
                ),
                service_paths=(
                    {} if output_bucket else self._service_paths(name, run_id, style, contents)
                ),
                subtitle_formats=formats,
                null_outputs=nulls,
                missing_outputs=missing,
                call=call,
            )
        if output_bucket is not None:
            # The objects exist before the job is visible, as with the real service.
            self._write_team_outputs(run)
        with self._lock:
            if name in self._runs:
                raise ValueError(f"job {name!r} was added concurrently")
            self._runs[name] = run
            self._last_creation[name] = creation_ms
            for out, path in run.service_paths.items():
                self._paths[path] = (run, out)
        return self.describe(name)

    def complete_job(
        self,
        name: str,
        *,
        status: Literal["COMPLETED", "FAILED"] = "COMPLETED",
        failure_reason: str | None = None,
    ) -> dict[str, Any]:
        """Finish a QUEUED/IN_PROGRESS job now (its outputs appear, as after a real run)."""
        with self._lock:
            run = self._get_run(name)
            if run.status in ("COMPLETED", "FAILED"):
                raise ValueError(f"job {name!r} already ended ({run.status})")
            self._runs.pop(name)
        params = dict(run.call)
        params.update(
            status=status,
            failure_reason=failure_reason,
            creation_time=datetime.fromtimestamp(run.creation_ms / 1000, UTC),
            start_time=datetime.fromtimestamp((run.start_ms or run.creation_ms) / 1000, UTC),
            completion_time=None,
        )
        try:
            return self.add_job(name, **params)
        except BaseException:
            with self._lock:
                self._runs.setdefault(name, run)
            raise

    def delete_job(self, name: str) -> None:
        """Delete the job (as DeleteTranscriptionJob): API calls and its links then fail."""
        with self._lock:
            run = self._runs.pop(name, None)
            if run is None:
                raise KeyError(name)
            for path in run.service_paths.values():
                self._paths.pop(path, None)

    def jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def describe(self, name: str) -> dict[str, Any]:
        """The job as a botocore client would return it now (datetimes, fresh links)."""
        with self._lock:
            run = self._get_run(name)
        return _decode_times(self._job_json(run))

    def output_content(self, name: str, output: OutputName) -> Content:
        """What the job's ``output`` contains (bytes or GeneratedContent)."""
        with self._lock:
            run = self._get_run(name)
        if output not in run.outputs:
            raise KeyError(f"job {name!r} has no {output} output")
        return run.outputs[output]

    def output_sha256(self, name: str, output: OutputName) -> str:
        return content_sha256(self.output_content(name, output))

    def output_location(self, name: str, output: OutputName) -> tuple[str, str]:
        """(bucket, key) of a team-bucket job's output in the embedded S3."""
        with self._lock:
            run = self._get_run(name)
        if run.output_bucket is None or output not in run.bucket_keys:
            raise KeyError(f"job {name!r} has no team-bucket {output} output")
        return run.output_bucket, run.bucket_keys[output]

    def inject(self, job_name: str, output: OutputName, faults: Iterable[Fault]) -> None:
        """Queue ``faults`` for the next GETs of one service-bucket output, in order."""
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        with self._lock:
            run = self._get_run(job_name)
            if run.output_bucket is not None:
                raise ValueError(
                    "team-bucket links point at S3 (moto); faults apply to service links"
                )
            if output not in run.service_paths:
                raise ValueError(f"job {job_name!r} has no {output} link")
            run.faults.setdefault(output, deque()).extend(faults)

    def event_for(
        self, name: str, *, time: datetime | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """The EventBridge ``Transcribe Job State Change`` event of the job's completion.

        Same shape and key order as AWS's documented example; ``time`` defaults to the
        job's CompletionTime, ``FailureReason`` is added for FAILED jobs.
        """
        with self._lock:
            run = self._get_run(name)
        if run.status not in ("COMPLETED", "FAILED") or run.completion_ms is None:
            raise ValueError(f"job {name!r} has not ended; events fire on COMPLETED/FAILED only")
        when = _iso(_to_ms(time)) if time is not None else _iso(run.completion_ms)
        detail: dict[str, Any] = {
            "TranscriptionJobName": run.name,
            "TranscriptionJobStatus": run.status,
        }
        if run.status == "FAILED":
            detail["FailureReason"] = run.static["FailureReason"]
        return {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": "Transcribe Job State Change",
            "source": "aws.transcribe",
            "account": self.account_id,
            "time": when,
            "region": self.region,
            "resources": [],
            "detail": detail,
        }

    # -- observability -------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request answered so far (oldest first)."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def api_calls(self, op: str | None = None, *, status: int | None = None) -> int:
        """How many API calls (of ``op``, answered with ``status``) were made."""
        return sum(
            1
            for r in self.requests
            if r.op is not None
            and (op is None or r.op == op)
            and (status is None or r.status == status)
        )

    def link_requests(
        self, job: str | None = None, output: OutputName | None = None, *, method: str = "GET"
    ) -> int:
        """How many requests (``GET`` by default) reached links of ``job``/``output``."""
        return sum(
            1
            for r in self.requests
            if r.op is None
            and r.method == method
            and (job is None or r.job == job)
            and (output is None or r.output == output)
        )

    def completed_fetches(self, job: str | None = None, output: OutputName | None = None) -> int:
        """GETs of ``job``/``output`` answered 200/206 with the body sent in full.

        Unlike counting ``status == 200``, this leaves out responses a reset/short-read
        fault cut short (their status line said 200 too).
        """
        return sum(
            1
            for r in self.requests
            if r.op is None
            and r.method == "GET"
            and r.status in (200, 206)
            and r.complete
            and (job is None or r.job == job)
            and (output is None or r.output == output)
        )

    @property
    def bytes_served(self) -> int:
        """Body bytes written to link clients so far."""
        with self._lock:
            return self._bytes_served

    @property
    def live_connections(self) -> int:
        return self._server.live_connections if self._server else 0

    @property
    def handler_errors(self) -> list[str]:
        """Tracebacks of exceptions inside the double itself (should stay empty)."""
        return list(self._server.handler_errors) if self._server else []

    # -- internals: job building ------------------------------------------------------------
    @staticmethod
    def _produced_outputs(
        status: JobStatus, redaction: Redaction | None, formats: tuple[str, ...]
    ) -> list[OutputName]:
        if status != "COMPLETED":
            return []
        produced: list[OutputName] = []
        if redaction != "redacted":
            produced.append("transcript")
        if redaction is not None:
            produced.append("redacted")
        produced.extend(cast(OutputName, f) for f in formats)
        return produced

    @staticmethod
    def _default_content(
        output: OutputName,
        language_code: str | None,
        language_codes: Sequence[tuple[str, float]] | None,
        formats: tuple[str, ...],
    ) -> bytes:
        if output == "redacted":
            return fixture_bytes(REDACTED_TRANSCRIPT)
        if output == "srt":
            return fixture_bytes(SUBTITLED_SRT)
        if output == "vtt":
            return srt_to_vtt(fixture_bytes(SUBTITLED_SRT))
        language = language_code or (language_codes[0][0] if language_codes else "")
        if language.startswith("ko-"):
            return fixture_bytes(KOREAN_TRANSCRIPT)
        if formats:  # the SRT fixture's own transcript, so cues and items agree
            return fixture_bytes(SUBTITLED_TRANSCRIPT)
        return fixture_bytes(STANDARD_TRANSCRIPT)

    def _times(
        self,
        name: str,
        status: JobStatus,
        creation: datetime | None,
        start: datetime | None,
        completion: datetime | None,
    ) -> tuple[int, int | None, int | None]:
        now_ms = round(self._clock() * 1000)
        completion_ms = _to_ms(completion) if completion is not None else None
        if creation is not None:
            creation_ms = _to_ms(creation)
        elif completion_ms is not None:
            creation_ms = completion_ms - 20_000
        else:
            # Strictly increasing defaults keep "newest first" listings deterministic.
            creation_ms = max(now_ms - 20_000, self._last_default_creation_ms + 1)
            self._last_default_creation_ms = creation_ms
        previous = self._last_creation.get(name)
        if creation is None and previous is not None:
            # A reused name is a new run: never the same second as the previous one.
            creation_ms = max(creation_ms, previous + 1000)
        start_ms = _to_ms(start) if start is not None else creation_ms + 250
        if status == "QUEUED":
            return creation_ms, None, None
        if status == "IN_PROGRESS":
            return creation_ms, start_ms, None
        if completion_ms is None:
            completion_ms = max(now_ms, start_ms)
        return creation_ms, min(start_ms, completion_ms), completion_ms

    def _static_fields(
        self,
        *,
        name: str,
        status: JobStatus,
        language_code: str | None,
        media_uri: str,
        media_format: str,
        media_sample_rate: int | None,
        failure_reason: str | None,
        settings: Mapping[str, Any] | None,
        redaction: Redaction | None,
        pii_entity_types: Sequence[str] | None,
        identify_language: bool,
        identified_language_score: float | None,
        language_options: Sequence[str] | None,
        language_codes: Sequence[tuple[str, float]] | None,
        tags: Mapping[str, str] | None,
        subtitle_start_index: int,
        formats: tuple[str, ...],
        extra_fields: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        # Key order follows the API reference's response syntax.
        job: dict[str, Any] = {"TranscriptionJobName": name, "TranscriptionJobStatus": status}
        if language_code is not None:
            job["LanguageCode"] = language_code
        if media_sample_rate is not None:
            job["MediaSampleRateHertz"] = media_sample_rate
        job["MediaFormat"] = media_format
        job["Media"] = {"MediaFileUri": media_uri}
        if failure_reason is not None:
            job["FailureReason"] = failure_reason
        job["Settings"] = dict(settings if settings is not None else _DEFAULT_SETTINGS)
        if redaction is not None:
            job["ContentRedaction"] = {"RedactionType": "PII", "RedactionOutput": redaction}
            if pii_entity_types:
                job["ContentRedaction"]["PiiEntityTypes"] = list(pii_entity_types)
        if identify_language:
            job["IdentifyLanguage"] = True
        if language_codes:
            job["IdentifyMultipleLanguages"] = True
        if language_options:
            job["LanguageOptions"] = list(language_options)
        if identified_language_score is not None or (
            (identify_language or language_codes) and status == "COMPLETED"
        ):
            job["IdentifiedLanguageScore"] = (
                identified_language_score if identified_language_score is not None else 0.96875
            )
        if language_codes:
            job["LanguageCodes"] = [
                {"LanguageCode": code, "DurationInSeconds": float(seconds)}
                for code, seconds in language_codes
            ]
        if tags:
            job["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        if formats:
            job["Subtitles"] = {"Formats": list(formats), "OutputStartIndex": subtitle_start_index}
        job.update(copy.deepcopy(dict(extra_fields or {})))
        return job

    def _service_paths(
        self, name: str, run_id: str, style: LinkStyle, outputs: Mapping[OutputName, Content]
    ) -> dict[OutputName, str]:
        folder = f"/aws-transcribe-{self.region}-prod/{self.account_id}/{name}"
        if style == "regional":
            folder += f"/{run_id}"
        return {out: f"{folder}/{_SERVICE_FILES[out].format(job=name)}" for out in outputs}

    @staticmethod
    def _bucket_keys(
        name: str, output_key: str | None, outputs: Mapping[OutputName, Content]
    ) -> dict[OutputName, str]:
        # Observed service behaviour: a folder-like OutputKey gets "<job>.json" inside it,
        # "x.json" is used as is, anything else gets ".json" appended; the redacted copy is
        # "redacted-" + file name, subtitles sit beside the transcript.
        if output_key is None or output_key.endswith("/"):
            folder, stem = (output_key or ""), name
        else:
            stem_path = output_key.removesuffix(".json")
            folder, _, stem = stem_path.rpartition("/")
            folder = f"{folder}/" if folder else ""
        keys: dict[OutputName, str] = {
            "transcript": f"{folder}{stem}.json",
            "redacted": f"{folder}redacted-{stem}.json",
            "vtt": f"{folder}{stem}.vtt",
            "srt": f"{folder}{stem}.srt",
        }
        return {out: keys[out] for out in outputs}

    def _write_team_outputs(self, run: _Run) -> None:
        assert run.output_bucket is not None
        assert self._s3 is not None
        bucket, s3 = run.output_bucket, self._s3
        if bucket not in self._known_buckets:
            # Real Transcribe needs the bucket to exist; creating it here keeps tests short.
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(Bucket=bucket)
            self._known_buckets.add(bucket)
        for out, key in run.bucket_keys.items():
            content = run.outputs[out]
            if isinstance(content, GeneratedContent):
                s3.upload_fileobj(
                    io.BufferedReader(ContentReader(content), CHUNK_SIZE),
                    bucket,
                    key,
                    ExtraArgs={"ContentType": _CONTENT_TYPES[out]},
                )
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=content, ContentType=_CONTENT_TYPES[out])

    def _get_run(self, name: str) -> _Run:
        run = self._runs.get(name)
        if run is None:
            raise KeyError(f"no job {name!r}")
        return run

    # -- internals: API ---------------------------------------------------------------------
    def _sign(self, path: str, amz_date: str, expires: str, credential: str, token: str) -> str:
        # Not SigV4, but covers what SigV4 covers for a presigned GET: editing the path,
        # date, lifetime or credentials of a link breaks it.
        message = "\n".join((path, amz_date, expires, credential, token)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    @staticmethod
    def _session() -> tuple[str, str]:
        """Fresh temporary credentials (access key id, session token) for one response.

        The service presigns with short-lived STS credentials, so two GetTranscriptionJob
        calls in the same second still return different links and signatures.
        """
        alphabet = string.ascii_uppercase + string.digits
        access_key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        return access_key, base64.b64encode(secrets.token_bytes(240)).decode()

    def _presign(self, path: str, session: tuple[str, str]) -> str:
        access_key, token = session
        now = datetime.fromtimestamp(self._clock(), UTC)
        amz_date = now.strftime(_AMZ_DATE)
        expires = str(self.link_expires)
        credential = f"{access_key}/{now:%Y%m%d}/{self.region}/s3/aws4_request"
        query = urllib.parse.urlencode(
            [
                ("X-Amz-Security-Token", token),
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Date", amz_date),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Expires", expires),
                ("X-Amz-Credential", credential),
                ("X-Amz-Signature", self._sign(path, amz_date, expires, credential, token)),
            ]
        )
        return f"http://{self.link_host}{path}?{query}"

    def _link(self, run: _Run, output: OutputName, session: tuple[str, str]) -> str:
        if run.output_bucket is not None:
            key = urllib.parse.quote(run.bucket_keys[output])
            return f"https://s3.{self.region}.amazonaws.com/{run.output_bucket}/{key}"
        return self._presign(run.service_paths[output], session)

    def _job_json(self, run: _Run) -> dict[str, Any]:
        """GetTranscriptionJob's ``TranscriptionJob`` for a run, links signed now."""
        job = copy.deepcopy(run.static)
        session = self._session()
        ordered: dict[str, Any] = {}
        for key, value in job.items():
            ordered[key] = value
            if key == "Media":
                transcript: dict[str, str | None] = {}
                for out, uri_key in (
                    ("transcript", "TranscriptFileUri"),
                    ("redacted", "RedactedTranscriptFileUri"),
                ):
                    out_name = cast(OutputName, out)
                    if out_name not in run.outputs or out_name in run.missing_outputs:
                        continue
                    transcript[uri_key] = (
                        None if out_name in run.null_outputs else self._link(run, out_name, session)
                    )
                if transcript:
                    ordered["Transcript"] = transcript
                if run.start_ms is not None:
                    ordered["StartTime"] = run.start_ms / 1000
                ordered["CreationTime"] = run.creation_ms / 1000
                if run.completion_ms is not None:
                    ordered["CompletionTime"] = run.completion_ms / 1000
        subtitles = ordered.get("Subtitles")
        if subtitles is not None and run.status == "COMPLETED":
            uris: list[str | None] = []
            for fmt in run.subtitle_formats:
                out_name = cast(OutputName, fmt)
                if out_name in run.missing_outputs:
                    continue
                uris.append(
                    None if out_name in run.null_outputs else self._link(run, out_name, session)
                )
            subtitles["SubtitleFileUris"] = uris
            # Keep the reference's key order: Formats, SubtitleFileUris, OutputStartIndex.
            subtitles["OutputStartIndex"] = subtitles.pop("OutputStartIndex")
        return ordered

    def _summary(self, run: _Run) -> dict[str, Any]:
        s = run.static
        summary: dict[str, Any] = {
            "TranscriptionJobName": run.name,
            "CreationTime": run.creation_ms / 1000,
        }
        if run.start_ms is not None:
            summary["StartTime"] = run.start_ms / 1000
        if run.completion_ms is not None:
            summary["CompletionTime"] = run.completion_ms / 1000
        if "LanguageCode" in s:
            summary["LanguageCode"] = s["LanguageCode"]
        summary["TranscriptionJobStatus"] = run.status
        if "FailureReason" in s:
            summary["FailureReason"] = s["FailureReason"]
        if run.status == "COMPLETED":
            summary["OutputLocationType"] = (
                "CUSTOMER_BUCKET" if run.output_bucket is not None else "SERVICE_BUCKET"
            )
        for key in (
            "ContentRedaction",
            "IdentifyLanguage",
            "IdentifyMultipleLanguages",
            "IdentifiedLanguageScore",
            "LanguageCodes",
        ):
            if key in s:
                summary[key] = copy.deepcopy(s[key])
        return summary

    def _take_api_fault(self, op: str) -> ApiFaultKind | None:
        with self._lock:
            queue = self._api_faults.get(op)
            return queue.popleft() if queue else None

    def _check_rate(self, op: str) -> bool:
        with self._lock:
            bucket = self._buckets.get(op)
        return bucket is None or bucket.take()

    def _api(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        fault = self._take_api_fault(op)
        if fault == "throttle":
            raise _ApiError(self.throttle_status, "LimitExceededException", "Rate exceeded", fault)
        if fault == "internal":
            raise _ApiError(
                500,
                "InternalFailureException",
                "We can't process your request because of an issue in our service. "
                "Try your request again.",
                fault,
            )
        if fault == "not_found":
            raise _ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE, fault)
        if fault == "not_found_exception":
            raise _ApiError(
                400,
                "NotFoundException",
                "We can't find the requested resource. Check that the specified name is "
                "correct and try your request again.",
                fault,
            )
        if not self._check_rate(op):
            raise _ApiError(
                self.throttle_status, "LimitExceededException", "Rate exceeded", "throttle"
            )
        if op == "GetTranscriptionJob":
            with self._lock:
                run = self._runs.get(self._job_name_param(body, "TranscriptionJobName"))
            if run is None:
                raise _ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE)
            return {"TranscriptionJob": self._job_json(run)}
        if op == "ListTranscriptionJobs":
            return self._list(body)
        if op == "DeleteTranscriptionJob":
            name = self._job_name_param(body, "TranscriptionJobName")
            try:
                self.delete_job(name)
            except KeyError:
                raise _ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE) from None
            return {}
        raise _ApiError(
            400, "UnknownOperationException", f"The Transcribe double does not implement {op}"
        )

    @staticmethod
    def _job_name_param(body: Mapping[str, Any], member: str) -> str:
        name = body.get(member)
        field_name = member[0].lower() + member[1:]
        if not isinstance(name, str):
            raise _validation(
                f"Value null at '{field_name}' failed to satisfy constraint: "
                "Member must not be null"
            )
        if not 1 <= len(name) <= 200 or not _JOB_NAME.match(name):
            raise _validation(
                f"Value '{name}' at '{field_name}' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: ^[0-9a-zA-Z._-]+ and have length 1-200"
            )
        return name

    def _list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        status = body.get("Status")
        if status is not None and status not in get_args(JobStatus):
            raise _validation(
                f"Value '{status}' at 'status' failed to satisfy constraint: Member must "
                "satisfy enum value set: [QUEUED, IN_PROGRESS, FAILED, COMPLETED]"
            )
        contains = body.get("JobNameContains")
        if contains is not None:
            contains = self._job_name_param(body, "JobNameContains").lower()
        max_results = body.get("MaxResults", LIST_DEFAULT_MAX_RESULTS)
        if not isinstance(max_results, int) or isinstance(max_results, bool):
            raise _ApiError(400, "SerializationException", "MaxResults must be an integer")
        if not 1 <= max_results <= 100:
            bound = "greater than or equal to 1" if max_results < 1 else "less than or equal to 100"
            raise _validation(
                f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
                f"Member must have value {bound}"
            )
        after = self._decode_token(body.get("NextToken"))
        with self._lock:
            runs = [
                r
                for r in self._runs.values()
                if (status is None or r.status == status)
                and (contains is None or contains in r.name.lower())
            ]
        # Newest CreationTime first; name and run id break ties so pages never overlap.
        runs.sort(key=lambda r: (-r.creation_ms, r.name, r.run_id))
        if after is not None:
            runs = [r for r in runs if (-r.creation_ms, r.name, r.run_id) > after]
        page, rest = runs[:max_results], runs[max_results:]
        response: dict[str, Any] = {}
        if status is not None:
            response["Status"] = status
        if rest:
            last = page[-1]
            token = json.dumps([-last.creation_ms, last.name, last.run_id]).encode()
            response["NextToken"] = base64.urlsafe_b64encode(token).decode()
        response["TranscriptionJobSummaries"] = [self._summary(r) for r in page]
        return response

    @staticmethod
    def _decode_token(token: object) -> tuple[int, str, str] | None:
        if token is None:
            return None
        try:
            assert isinstance(token, str)
            creation, name, run_id = json.loads(base64.urlsafe_b64decode(token.encode()))
            return int(creation), str(name), str(run_id)
        except (AssertionError, ValueError, TypeError, binascii.Error):
            raise _ApiError(400, "BadRequestException", "The NextToken is not valid.") from None

    def _record(self, request: RecordedRequest, body_bytes: int = 0) -> None:
        with self._lock:
            self._log.append(request)
            self._bytes_served += body_bytes

    def _add_served(self, n: int) -> None:
        with self._lock:
            self._bytes_served += n

    def _resolve(self, path: str) -> tuple[_Run, OutputName] | None:
        with self._lock:
            return self._paths.get(path)

    def _take_link_fault(self, run: _Run, output: OutputName) -> Fault | None:
        with self._lock:
            queue = run.faults.get(output)
            return queue.popleft() if queue else None

    def _now(self) -> float:
        return self._clock()


# --------------------------------------------------------------------------- HTTP layer
_S3_ERROR_CODES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("BadRequest", "An error occurred when parsing the HTTP request."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad Gateway"),
    503: ("ServiceUnavailable", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway Timeout"),
}
_QUERY_AUTH_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)


class _DoubleServer(BoundedThreadingHTTPServer):
    def __init__(self, owner: FakeTranscribe, *, max_connections: int) -> None:
        self.owner = owner
        super().__init__(_Handler, max_connections=max_connections)


class _Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive; every response carries Content-Length."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY a delayed ACK
    # stalls some requests ~40 ms, which S3 and Transcribe never do.
    disable_nagle_algorithm = True
    server: _DoubleServer
    _server_header = "AmazonS3"

    def setup(self) -> None:
        super().setup()
        # Idle keep-alive connections are dropped like S3 does; also bounds slow clients.
        self.connection.settimeout(self.server.owner.idle_timeout)

    def version_string(self) -> str:
        return self._server_header

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces stderr noise

    @property
    def owner(self) -> FakeTranscribe:
        return self.server.owner

    # -- plumbing ----------------------------------------------------------------------
    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None (after answering) when it can't be read safely."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._plain(411, b"Length Required", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._plain(400, b"Bad Content-Length", close=True)
            return None
        if length < 0 or length > limit:
            self._plain(413, b"Request body too large", close=True)
            return None
        return self.rfile.read(length) if length else b""

    def _plain(self, status: int, body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, status: int, **fields: Any) -> None:
        host, port = self.client_address[:2]
        path = urllib.parse.urlsplit(self.path).path
        self.owner._record(
            RecordedRequest(
                time=time.time(),
                method=self.command,
                path=path,
                status=status,
                client_host=str(host),
                client_port=int(port),
                **fields,
            )
        )

    # -- dispatch ----------------------------------------------------------------------
    def do_POST(self) -> None:
        body = self._read_body(MAX_API_BODY)
        if body is None:
            return
        if urllib.parse.urlsplit(self.path).path != "/":
            self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed.")
            return
        self._server_header = "Server"
        self._api(body)

    def do_GET(self) -> None:
        if self._read_body(0) is None:
            return
        self._link()

    def do_HEAD(self) -> None:
        if self._read_body(0) is None:
            return
        self._link()

    def _method_not_allowed(self) -> None:
        if self._read_body(MAX_API_BODY) is None:
            return
        self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed.")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    # -- API -----------------------------------------------------------------------------
    def _api(self, raw: bytes) -> None:
        target = self.headers.get("X-Amz-Target", "")
        op = target.removeprefix("Transcribe.") if target.startswith("Transcribe.") else None
        try:
            body = self._api_request(target, op, raw)
            assert op is not None
            result = self.owner._api(op, body)
        except _ApiError as error:
            self._api_error(op, error)
            return
        payload = json.dumps(result, separators=(",", ":")).encode()
        self._log(200, op=op, job=body.get("TranscriptionJobName"), content_length=len(payload))
        self.send_response(200)
        self._api_headers(len(payload))
        self.end_headers()
        self.wfile.write(payload)

    def _api_request(self, target: str, op: str | None, raw: bytes) -> dict[str, Any]:
        """The request's JSON body, once protocol, authentication and target check out."""
        if not target and "rpc-v2-cbor" in self.headers.get("smithy-protocol", ""):
            # botocore picks awsJson1_1 for Transcribe today; if a future one prefers
            # Smithy RPCv2 CBOR this says why instead of failing obscurely.
            raise _ApiError(
                415,
                "UnknownOperationException",
                "The Transcribe double speaks awsJson1_1 only, not smithy-rpc-v2-cbor",
            )
        # botocore always signs; the double checks a SigV4 header is there, not its maths.
        auth = self.headers.get("Authorization", "")
        if not auth:
            raise _ApiError(
                400,
                "MissingAuthenticationTokenException",
                "Request is missing Authentication Token",
            )
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise _ApiError(
                400, "IncompleteSignatureException", "Authorization header is not SigV4"
            )
        if op is None:
            raise _ApiError(400, "UnknownOperationException", f"Unknown target {target!r}")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise _ApiError(400, "SerializationException", "Body is not JSON") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "SerializationException", "Body is not a JSON object")
        return body

    def _api_headers(self, length: int) -> None:
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(length))

    def _api_error(self, op: str | None, error: _ApiError) -> None:
        payload = json.dumps({"__type": error.code, "Message": error.message}).encode()
        self._log(
            error.status,
            op=op or "?",
            fault=error.fault,
            content_length=len(payload),
        )
        self.send_response(error.status)
        self._api_headers(len(payload))
        self.send_header("x-amzn-ErrorType", error.code)
        self.end_headers()
        self.wfile.write(payload)

    # -- links ---------------------------------------------------------------------------
    def _s3_error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, str] | None = None,
        job: str | None = None,
        output: OutputName | None = None,
        fault: str | None = None,
    ) -> None:
        request_id = secrets.token_hex(8).upper()
        host_id = base64.b64encode(secrets.token_bytes(48)).decode()
        fields = "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in (extra or {}).items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>{fields}"
            f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()
        length = 0 if self.command == "HEAD" else len(body)
        self._log(status, job=job, output=output, fault=fault, content_length=length)
        self.send_response(status)
        self.send_header("x-amz-request-id", request_id)
        self.send_header("x-amz-id-2", host_id)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if length:
            self.wfile.write(body)

    def _expired(
        self,
        amz_date: str,
        expires: int,
        job: str | None,
        output: OutputName | None,
        fault: str | None,
    ) -> None:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
        self._s3_error(
            403,
            "AccessDenied",
            "Request has expired",
            extra={
                "X-Amz-Expires": str(expires),
                "Expires": _iso(round((signed_at + expires) * 1000)),
                "ServerTime": _iso(round(self.owner._now() * 1000)),
            },
            job=job,
            output=output,
            fault=fault,
        )

    def _link(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        # Authentication first, like S3: anonymous, malformed, expired, forged.
        present = [p for p in _QUERY_AUTH_PARAMS if p in params]
        if not present:
            self._s3_error(403, "AccessDenied", "Access Denied")
            return
        if len(present) != len(_QUERY_AUTH_PARAMS):
            self._s3_error(
                400,
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters.",
            )
            return
        amz_date, raw_expires = params["X-Amz-Date"], params["X-Amz-Expires"]
        try:
            signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
        except ValueError:
            self._s3_error(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            )
            return
        if not raw_expires.isdigit() or int(raw_expires) > MAX_PRESIGN_EXPIRES:
            self._s3_error(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            )
            return
        expires = int(raw_expires)
        if self.owner._now() > signed_at + expires:
            self._expired(amz_date, expires, None, None, None)
            return
        expected = self.owner._sign(
            path,
            amz_date,
            raw_expires,
            params["X-Amz-Credential"],
            params.get("X-Amz-Security-Token", ""),
        )
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            self._s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
            return
        resolved = self.owner._resolve(path)
        if resolved is None:
            self._s3_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                extra={"Key": path.lstrip("/").partition("/")[2]},
            )
            return
        run, output = resolved
        fault = self.owner._take_link_fault(run, output) if self.command == "GET" else None
        if fault is not None and self._apply_fault(fault, run, output, amz_date, expires):
            return
        self._serve(run, output, fault=fault.kind if fault else None)

    def _apply_fault(
        self, fault: Fault, run: _Run, output: OutputName, amz_date: str, expires: int
    ) -> bool:
        """Answer for the fault; False means "now serve normally" (after a delay)."""
        job = run.name
        if fault.kind == "expired":
            self._expired(amz_date, expires, job, output, fault.kind)
        elif fault.kind == "forbidden":
            self._s3_error(
                403, "AccessDenied", "Access Denied", job=job, output=output, fault="forbidden"
            )
        elif fault.kind == "slow_down":
            self._s3_error(
                503,
                "SlowDown",
                "Please reduce your request rate.",
                job=job,
                output=output,
                fault="slow_down",
            )
        elif fault.kind == "status":
            code, message = _S3_ERROR_CODES.get(fault.code, ("InternalError", "Error"))
            self._s3_error(fault.code, code, message, job=job, output=output, fault="status")
        elif fault.kind == "redirect":
            self._log(302, job=job, output=output, fault="redirect")
            self.send_response(302)
            self.send_header("Location", fault.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif fault.kind == "delay":
            # Interruptible, so stop() never waits out a long injected delay.
            if self.server.closing.wait(fault.seconds):
                self.close_connection = True
                return True
            return False
        elif fault.kind in ("reset_mid_body", "short_read"):
            self._serve(run, output, fault=fault.kind, cut=fault)
        return True

    def _serve(
        self, run: _Run, output: OutputName, *, fault: str | None, cut: Fault | None = None
    ) -> None:
        content = run.outputs[output]
        size = content_size(content)
        start, end, status = 0, size, 200
        range_header = self.headers.get("Range")
        if range_header and cut is None:
            try:
                parsed = _parse_range(range_header, size)
            except _UnsatisfiableRangeError:
                self._s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    extra={"RangeRequested": range_header, "ActualObjectSize": str(size)},
                    job=run.name,
                    output=output,
                )
                return
            if parsed is not None:
                (start, end), status = parsed, 206
        length = end - start
        self._log(
            status,
            job=run.name,
            output=output,
            fault=fault,
            content_length=length,
            complete=cut is None,
        )
        self.send_response(status)
        self.send_header("x-amz-id-2", base64.b64encode(secrets.token_bytes(48)).decode())
        self.send_header("x-amz-request-id", secrets.token_hex(8).upper())
        last_modified = (run.completion_ms or run.creation_ms) / 1000
        self.send_header("Last-Modified", email.utils.formatdate(last_modified, usegmt=True))
        self.send_header("ETag", content_etag(content))
        self.send_header("x-amz-server-side-encryption", "AES256")
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Type", _CONTENT_TYPES[output])
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length
        if cut is not None:
            # Never the whole body, at least one byte of it when there is any.
            limit = min(max(1, int(length * cut.fraction)), max(0, length - 1)) if length else 0
        sent = 0
        try:
            for chunk in iter_content(content, start, end):
                piece = chunk[: limit - sent]
                if piece:
                    self.wfile.write(piece)
                    sent += len(piece)
                if sent >= limit or self.server.closing.is_set():
                    break
        except OSError:  # the client went away (reset, broken pipe, timeout)
            self.close_connection = True
        finally:
            self.owner._add_served(sent)
        if cut is not None or sent < length:
            self._abort(rst=cut is not None and cut.kind == "reset_mid_body")

    def _abort(self, *, rst: bool) -> None:
        """End the connection mid-body: RST for a reset, FIN for a short read."""
        self.close_connection = True
        if not rst:
            return  # finish() + shutdown_request() close cleanly (FIN) after this
        with contextlib.suppress(OSError):
            # SO_LINGER on with timeout 0 makes close() send RST and drop unsent data. The
            # fd is detached and closed right here: closing the socket object would wait
            # for rfile/wfile, and shutdown_request() would send a polite FIN first.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())


class _UnsatisfiableRangeError(Exception):
    pass


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as [start, end); None = ignore it and send everything.

    S3 ignores what it does not support (other units, several ranges, garbage) and sends
    the whole object with 200; a well-formed range outside the object is a 416.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n <= 0 or size == 0:
                raise _UnsatisfiableRangeError
            return max(0, size - n), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise _UnsatisfiableRangeError
    return start, min(end, size)


# --------------------------------------------------------------------------- other host
class _OtherHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OtherServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        if 0 < length <= MAX_API_BODY:
            self.rfile.read(length)
        host, port = self.client_address[:2]
        self.server.owner._record(
            RecordedRequest(
                time=time.time(),
                method=self.command,
                path=urllib.parse.urlsplit(self.path).path,
                status=200,
                client_host=str(host),
                client_port=int(port),
            ),
            headers=dict(self.headers.items()),
        )
        body = b"this host must never be contacted by the archiver\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _any


class _OtherServer(BoundedThreadingHTTPServer):
    def __init__(self, owner: OtherHostServer) -> None:
        self.owner = owner
        super().__init__(_OtherHandler, max_connections=64)


class OtherHostServer(LocalServer[_OtherServer]):
    """A separate loopback server that records every request it gets.

    Point a :meth:`Fault.redirect` at :meth:`url` to prove hostile redirects are never
    followed: afterwards ``requests`` must be empty.
    """

    thread_name = "other-host"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._headers: list[dict[str, str]] = []

    def _make_server(self) -> _OtherServer:
        return _OtherServer(self)

    def url(self, path: str = "/stolen") -> str:
        return f"http://{self.host}{path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of each recorded request (to spot leaked credentials)."""
        with self._lock:
            return [dict(h) for h in self._headers]

    def _record(self, request: RecordedRequest, *, headers: dict[str, str]) -> None:
        with self._lock:
            if len(self._requests) < 10_000:
                self._requests.append(request)
                self._headers.append(headers)
