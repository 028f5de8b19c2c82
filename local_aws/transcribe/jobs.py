"""Transcription jobs: what ``add_job`` asks for, the run it becomes, and its JSON fields.

A :class:`JobSpec` is everything a job was created with; :func:`new_run` turns it into a
:class:`JobRun` (one run of a name: a name reused after deletion is a new run) holding
the fields GetTranscriptionJob returns apart from times and links, which are rendered per
response (``api.job_json``) because links are signed anew for every answer.
"""

from __future__ import annotations

import contextlib
import copy
import io
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from local_aws.transcribe import links
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
    fixture_bytes,
    srt_to_vtt,
)
from local_aws.transcribe.faults import Fault
from local_aws.transcribe.model import (
    CONTENT_TYPES,
    DEFAULT,
    ENDED,
    FAILURE_REASONS,
    JOB_NAME,
    JOB_STATUSES,
    Default,
    JobStatus,
    JobType,
    LinkStyle,
    OutputName,
    Redaction,
    iso,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from local_aws.transcribe.analytics import AnalyticsSpec
    from local_aws.transcribe.medical import MedicalSpec
    from local_aws.transcribe.scribe import ScribeSpec

_DEFAULT_SETTINGS: Mapping[str, Any] = {"ChannelIdentification": False, "ShowAlternatives": False}


def check_job_name(name: str) -> None:
    if not JOB_NAME.match(name) or len(name) > 200:
        raise ValueError(f"invalid job name {name!r}: ^[0-9a-zA-Z._-]+$, 1-200 chars")


@dataclass(frozen=True)
class JobSpec:
    """Every argument of ``FakeTranscribe.add_job`` but the name (see its docstring).

    Kept with the run, so ``complete_job`` can re-create it exactly with a new status.
    """

    status: JobStatus = "COMPLETED"
    language_code: str | Default | None = DEFAULT
    outputs: Mapping[OutputName, Content] | None = None
    output_bucket: str | None = None
    output_key: str | None = None
    redaction: Redaction | None = None
    pii_entity_types: Sequence[str] | None = None
    subtitle_formats: Sequence[Literal["vtt", "srt"]] = ()
    subtitle_start_index: int = 0
    tags: Mapping[str, str] | None = None
    language_codes: Sequence[tuple[str, float]] | None = None
    identify_language: bool = False
    identified_language_score: float | None = None
    language_options: Sequence[str] | None = None
    failure_reason: str | None = None
    settings: Mapping[str, Any] | None = None
    media_uri: str | None = None
    media_format: str = "mp3"
    media_sample_rate: int | Default | None = DEFAULT
    creation_time: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    null_outputs: Iterable[OutputName] = ()
    missing_outputs: Iterable[OutputName] = ()
    link_style: LinkStyle | None = None
    extra_fields: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise ValueError(f"invalid status {self.status!r}")
        if self.redaction is not None and self.redaction not in get_args(Redaction):
            raise ValueError(f"invalid redaction {self.redaction!r}")
        # Materialised once: iterables given by the caller may be one-shot.
        formats = tuple(dict.fromkeys(self.subtitle_formats))
        if any(f not in ("vtt", "srt") for f in formats):
            raise ValueError(f"subtitle formats are vtt/srt, got {formats!r}")
        object.__setattr__(self, "subtitle_formats", formats)
        object.__setattr__(self, "null_outputs", frozenset(self.null_outputs))
        object.__setattr__(self, "missing_outputs", frozenset(self.missing_outputs))
        unexpected = set(self.outputs or {}) - set(self.produced)
        if unexpected:
            raise ValueError(f"outputs {sorted(unexpected)} are not produced by this job")
        if not (set(self.null_outputs) | set(self.missing_outputs)) <= set(self.produced):
            raise ValueError("null_outputs/missing_outputs must be outputs the job produces")

    @property
    def produced(self) -> list[OutputName]:
        """The outputs the service writes for this job (none unless COMPLETED)."""
        if self.status != "COMPLETED":
            return []
        produced: list[OutputName] = []
        if self.redaction != "redacted":  # "redacted" alone: only the redacted transcript
            produced.append("transcript")
        if self.redaction is not None:
            produced.append("redacted")
        produced.extend(cast(OutputName, f) for f in self.subtitle_formats)
        return produced

    @property
    def resolved_language_code(self) -> str | None:
        """Default ``en-US``; multi-language jobs carry ``LanguageCodes`` instead."""
        if isinstance(self.language_code, Default):
            return None if self.language_codes else "en-US"
        return self.language_code

    @property
    def resolved_sample_rate(self) -> int | None:
        """Default 44100 for jobs that ran; FAILED jobs have none."""
        if isinstance(self.media_sample_rate, Default):
            return None if self.status == "FAILED" else 44100
        return self.media_sample_rate

    def contents(self) -> dict[OutputName, Content]:
        """What each produced output contains: given, or the matching real fixture."""
        given = dict(self.outputs or {})
        return {
            out: given[out] if out in given else self._default_content(out) for out in self.produced
        }

    def _default_content(self, output: OutputName) -> bytes:
        if output == "redacted":
            return fixture_bytes(REDACTED_TRANSCRIPT)
        if output == "srt":
            return fixture_bytes(SUBTITLED_SRT)
        if output == "vtt":
            return srt_to_vtt(fixture_bytes(SUBTITLED_SRT))
        codes = self.language_codes
        language = self.resolved_language_code or (codes[0][0] if codes else "")
        if language.startswith("ko-"):
            return fixture_bytes(KOREAN_TRANSCRIPT)
        if self.subtitle_formats:  # the SRT fixture's own transcript, so cues and items agree
            return fixture_bytes(SUBTITLED_TRANSCRIPT)
        return fixture_bytes(STANDARD_TRANSCRIPT)


@dataclass
class JobRun:
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
    spec: JobSpec | AnalyticsSpec | MedicalSpec | ScribeSpec
    faults: dict[OutputName, deque[Fault]] = field(default_factory=dict)
    kind: JobType = "transcription"
    #: What S3 serves each output as (redacted audio: by its format).
    content_types: dict[OutputName, str] = field(default_factory=dict)
    #: How team-bucket links are spelled: ``https://s3.<region>.amazonaws.com/...`` or
    #: ``s3://bucket/key``.
    team_link_scheme: Literal["https", "s3"] = "https"

    def content_type(self, output: OutputName) -> str:
        return self.content_types.get(output) or CONTENT_TYPES[output]


def new_run(
    name: str,
    spec: JobSpec,
    *,
    times: tuple[int, int | None, int | None],
    region: str,
    account_id: str,
    link_style: LinkStyle,
) -> JobRun:
    """The run of ``spec`` created at ``times`` (creation, start, completion in epoch ms).

    Its outputs live in the team's bucket when it names one, else in the service bucket
    (``link_style`` unless the spec picks one).
    """
    creation_ms, start_ms, completion_ms = times
    run_id = uuid.uuid4().hex
    contents = spec.contents()
    bucket = spec.output_bucket
    return JobRun(
        name=name,
        run_id=run_id,
        status=spec.status,
        creation_ms=creation_ms,
        start_ms=start_ms,
        completion_ms=completion_ms,
        static=static_fields(name, spec, account_id),
        outputs=contents,
        output_bucket=bucket,
        bucket_keys=links.bucket_keys(name, spec.output_key, contents) if bucket else {},
        service_paths=(
            {}
            if bucket
            else links.service_paths(
                region=region,
                account_id=account_id,
                name=name,
                run_id=run_id,
                style=spec.link_style or link_style,
                outputs=contents,
            )
        ),
        subtitle_formats=tuple(spec.subtitle_formats),
        null_outputs=frozenset(spec.null_outputs),
        missing_outputs=frozenset(spec.missing_outputs),
        spec=spec,
    )


def static_fields(name: str, spec: JobSpec, account_id: str) -> dict[str, Any]:
    """GetTranscriptionJob's fields that never change for a run, in the reference's order."""
    status = spec.status
    language_code = spec.resolved_language_code
    job: dict[str, Any] = {"TranscriptionJobName": name, "TranscriptionJobStatus": status}
    if language_code is not None:
        job["LanguageCode"] = language_code
    sample_rate = spec.resolved_sample_rate
    if sample_rate is not None:
        job["MediaSampleRateHertz"] = sample_rate
    job["MediaFormat"] = spec.media_format
    job["Media"] = {
        "MediaFileUri": spec.media_uri
        or f"s3://transcribe-media-{account_id}/{name}.{spec.media_format}"
    }
    if status == "FAILED":
        job["FailureReason"] = spec.failure_reason or FAILURE_REASONS[0]
    job["Settings"] = dict(spec.settings if spec.settings is not None else _DEFAULT_SETTINGS)
    if spec.redaction is not None:
        job["ContentRedaction"] = {"RedactionType": "PII", "RedactionOutput": spec.redaction}
        if spec.pii_entity_types:
            job["ContentRedaction"]["PiiEntityTypes"] = list(spec.pii_entity_types)
    if spec.identify_language:
        job["IdentifyLanguage"] = True
    if spec.language_codes:
        job["IdentifyMultipleLanguages"] = True
    if spec.language_options:
        job["LanguageOptions"] = list(spec.language_options)
    score = spec.identified_language_score
    if score is not None or (
        (spec.identify_language or spec.language_codes) and status == "COMPLETED"
    ):
        job["IdentifiedLanguageScore"] = score if score is not None else 0.96875
    if spec.language_codes:
        job["LanguageCodes"] = [
            {"LanguageCode": code, "DurationInSeconds": float(seconds)}
            for code, seconds in spec.language_codes
        ]
    if spec.tags:
        job["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    if spec.subtitle_formats:
        job["Subtitles"] = {
            "Formats": list(spec.subtitle_formats),
            "OutputStartIndex": spec.subtitle_start_index,
        }
    job.update(copy.deepcopy(dict(spec.extra_fields or {})))
    return job


def state_change_event(
    run: JobRun, *, account_id: str, region: str, time_ms: int | None, event_id: str | None
) -> dict[str, Any]:
    """The EventBridge ``Transcribe Job State Change`` event of the run's end.

    Same shape and key order as AWS's documented example (docs/transcribe-facts.md);
    ``time_ms`` defaults to the run's CompletionTime, ``FailureReason`` is added for
    FAILED jobs.
    """
    if run.status not in ENDED or run.completion_ms is None:
        raise ValueError(f"job {run.name!r} has not ended; events fire on COMPLETED/FAILED only")
    detail: dict[str, Any] = {
        "TranscriptionJobName": run.name,
        "TranscriptionJobStatus": run.status,
    }
    if run.status == "FAILED":
        detail["FailureReason"] = run.static["FailureReason"]
    # Source and detail-type are written out, not taken from archiver.contract: the double
    # says what the service sends, so a wrong pattern in the contract cannot hide here.
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Transcribe Job State Change",
        "source": "aws.transcribe",
        "account": account_id,
        "time": iso(time_ms if time_ms is not None else run.completion_ms),
        "region": region,
        "resources": [],
        "detail": detail,
    }


class TeamBucketWriter:
    """Writes team-bucket jobs' outputs into S3 (moto), streaming generated content."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3
        self._known_buckets: set[str] = set()

    def write(self, run: JobRun) -> None:
        bucket, s3 = run.output_bucket, self._s3
        if bucket is None:
            return
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
                    ExtraArgs={"ContentType": run.content_type(out)},
                )
            else:
                s3.put_object(
                    Bucket=bucket, Key=key, Body=content, ContentType=run.content_type(out)
                )
