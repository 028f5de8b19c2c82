"""Call Analytics jobs: what ``add_call_analytics_job`` asks for, the run it becomes, and the
``CallAnalyticsJob``, summary and event the service shows for it.

A run is a :class:`~local_aws.transcribe.jobs.JobRun` like a transcription job's (the store,
the links, the faults and the serving are shared); only its fields, output names and
paths differ. Behaviour follows docs/transcribe-facts.md, "Call Analytics batch jobs".
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from local_aws.transcribe import links
from local_aws.transcribe.content import (
    REDACTED_TRANSCRIPT,
    Content,
    GeneratedContent,
    analytics_unredacted,
    call_audio_size,
    fixture_bytes,
)
from local_aws.transcribe.jobs import JobRun
from local_aws.transcribe.model import (
    CONTENT_TYPES,
    DEFAULT,
    ENDED,
    FAILURE_REASONS,
    JOB_STATUSES,
    MEDIA_CONTENT_TYPES,
    Default,
    JobStatus,
    LinkStyle,
    OutputName,
    Redaction,
    iso,
)

#: Two-channel calls: the agent on channel 0, the customer on channel 1.
DEFAULT_CHANNELS: Final = ((0, "AGENT"), (1, "CUSTOMER"))
#: Telephone audio.
DEFAULT_SAMPLE_RATE: Final = 8000


@dataclass(frozen=True)
class AnalyticsSpec:
    """Every argument of ``FakeTranscribe.add_call_analytics_job`` but the name.

    ``output_location``: ``s3://bucket/prefix/`` (the team's bucket; outputs under
    ``analytics/``, ``redacted-analytics/``, ``redacted-media/``), else the service bucket.
    ``team_link_scheme``: how team-bucket links come back (``s3://`` or ``https://``).
    ``redaction``: PII redaction of the transcript and the audio (``redacted_media``).
    ``outputs``: override any output's bytes (default transcripts
    from the real Call Analytics fixture, audio sized like a WAV of that call).
    ``skipped``: ``CallAnalyticsJobDetails.Skipped`` (e.g. a generative summary that could
    not be made). Other fields as for transcription jobs.
    """

    status: JobStatus = "COMPLETED"
    language_code: str | Default | None = DEFAULT
    outputs: Mapping[OutputName, Content] | None = None
    output_location: str | None = None
    team_link_scheme: Literal["https", "s3"] = "s3"
    redaction: Redaction | None = None
    pii_entity_types: Sequence[str] | None = None
    tags: Mapping[str, str] | None = None
    failure_reason: str | None = None
    settings: Mapping[str, Any] | None = None
    language_options: Sequence[str] | None = None
    identified_language_score: float | None = None
    summarization: bool = False
    skipped: Sequence[Mapping[str, str]] | None = None
    channel_definitions: Sequence[tuple[int, str]] = DEFAULT_CHANNELS
    media_uri: str | None = None
    media_format: str = "wav"
    media_sample_rate: int | Default | None = DEFAULT
    data_access_role_arn: str | None = None
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
        if self.output_location is not None and not self.output_location.startswith("s3://"):
            raise ValueError("output_location is an s3://bucket/prefix/ URI")
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
        if self.redaction != "redacted":
            produced.append("transcript")
        if self.redaction is not None:
            produced.extend(("redacted", "redacted_media"))
        return produced

    @property
    def output_bucket(self) -> str | None:
        return self.location()[0]

    @property
    def sample_rate(self) -> int | None:
        if isinstance(self.media_sample_rate, Default):
            return None if self.status == "FAILED" else DEFAULT_SAMPLE_RATE
        return self.media_sample_rate

    def location(self) -> tuple[str | None, str]:
        """(bucket, key prefix) of ``output_location``; (None, "") for the service bucket."""
        if self.output_location is None:
            return None, ""
        bucket, _, prefix = self.output_location.removeprefix("s3://").partition("/")
        return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def contents(self) -> dict[OutputName, Content]:
        """What each produced output contains: given, or the default described above."""
        given = dict(self.outputs or {})
        defaults: dict[OutputName, Content] = {
            "transcript": analytics_unredacted(fixture_bytes(REDACTED_TRANSCRIPT)),
            "redacted": fixture_bytes(REDACTED_TRANSCRIPT),
            "redacted_media": GeneratedContent(
                call_audio_size(sample_rate=self.sample_rate or DEFAULT_SAMPLE_RATE)
            ),
        }
        return {out: given.get(out, defaults[out]) for out in self.produced}


def new_analytics_run(
    name: str,
    spec: AnalyticsSpec,
    *,
    times: tuple[int, int | None, int | None],
    region: str,
    account_id: str,
    link_style: LinkStyle,
) -> JobRun:
    """The Call Analytics run of ``spec`` created at ``times`` (epoch ms)."""
    creation_ms, start_ms, completion_ms = times
    run_id = uuid.uuid4().hex
    contents = spec.contents()
    bucket, prefix = spec.location()
    fmt = spec.media_format
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
        bucket_keys=(
            {out: prefix + links.analytics_key(name, out, fmt) for out in contents}
            if bucket
            else {}
        ),
        service_paths=(
            {}
            if bucket
            else links.analytics_paths(
                region=region,
                account_id=account_id,
                name=name,
                run_id=run_id,
                style=spec.link_style or link_style,
                media_format=fmt,
                outputs=contents,
            )
        ),
        subtitle_formats=(),
        null_outputs=frozenset(spec.null_outputs),
        missing_outputs=frozenset(spec.missing_outputs),
        spec=spec,
        kind="call-analytics",
        content_types={
            out: MEDIA_CONTENT_TYPES.get(fmt, "application/octet-stream")
            if out == "redacted_media"
            else CONTENT_TYPES[out]
            for out in contents
        },
        team_link_scheme=spec.team_link_scheme,
    )


def static_fields(name: str, spec: AnalyticsSpec, account_id: str) -> dict[str, Any]:
    """GetCallAnalyticsJob's fields that never change for a run (links and times aside)."""
    job: dict[str, Any] = {}
    if spec.skipped:
        job["CallAnalyticsJobDetails"] = {"Skipped": [dict(s) for s in spec.skipped]}
    job["CallAnalyticsJobName"] = name
    job["CallAnalyticsJobStatus"] = spec.status
    job["ChannelDefinitions"] = [
        {"ChannelId": channel, "ParticipantRole": role}
        for channel, role in spec.channel_definitions
    ]
    job["DataAccessRoleArn"] = (
        spec.data_access_role_arn or f"arn:aws:iam::{account_id}:role/TranscribeCallAnalytics"
    )
    if spec.status == "FAILED":
        job["FailureReason"] = spec.failure_reason or FAILURE_REASONS[0]
    score = spec.identified_language_score
    if score is not None or (spec.language_options and spec.status == "COMPLETED"):
        job["IdentifiedLanguageScore"] = score if score is not None else 0.96875
    language = (
        (None if spec.language_options else "en-US")
        if isinstance(spec.language_code, Default)
        else spec.language_code
    )
    if language is not None:
        job["LanguageCode"] = language
    job["Media"] = {
        "MediaFileUri": spec.media_uri
        or f"s3://transcribe-media-{account_id}/calls/{name}.{spec.media_format}"
    }
    job["MediaFormat"] = spec.media_format
    if spec.sample_rate is not None:
        job["MediaSampleRateHertz"] = spec.sample_rate
    settings = dict(spec.settings or {})
    if spec.redaction is not None:
        redaction: dict[str, Any] = {"RedactionType": "PII", "RedactionOutput": spec.redaction}
        if spec.pii_entity_types:
            redaction["PiiEntityTypes"] = list(spec.pii_entity_types)
        settings["ContentRedaction"] = redaction
    if spec.language_options:
        settings["LanguageOptions"] = list(spec.language_options)
    if spec.summarization:
        settings["Summarization"] = {"GenerateAbstractiveSummary": True}
    if settings:
        job["Settings"] = settings
    if spec.tags:
        job["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    job.update(copy.deepcopy(dict(spec.extra_fields or {})))
    return job


def job_json(run: JobRun, link: Callable[[JobRun, OutputName], str]) -> dict[str, Any]:
    """GetCallAnalyticsJob's ``CallAnalyticsJob``: keys in the API reference's (alphabetical)
    order, times as epoch seconds, links from ``link(run, output)``."""
    job = copy.deepcopy(run.static)

    def uri(output: OutputName) -> str | None:
        return None if output in run.null_outputs else link(run, output)

    listed = [o for o in run.outputs if o not in run.missing_outputs]
    if "redacted_media" in listed:
        job["Media"]["RedactedMediaFileUri"] = uri("redacted_media")
    transcript = {
        key: uri(out)
        for out, key in (
            ("transcript", "TranscriptFileUri"),
            ("redacted", "RedactedTranscriptFileUri"),
        )
        if out in listed
    }
    if transcript:
        job["Transcript"] = transcript
    times = {"CreationTime": run.creation_ms, "StartTime": run.start_ms}
    times["CompletionTime"] = run.completion_ms
    job.update({key: ms / 1000 for key, ms in times.items() if ms is not None})
    return dict(sorted(job.items()))


def summary(run: JobRun) -> dict[str, Any]:
    """ListCallAnalyticsJobs' ``CallAnalyticsJobSummary`` for a run."""
    s = run.static
    result: dict[str, Any] = {}
    if "CallAnalyticsJobDetails" in s:
        result["CallAnalyticsJobDetails"] = copy.deepcopy(s["CallAnalyticsJobDetails"])
    result["CallAnalyticsJobName"] = run.name
    result["CallAnalyticsJobStatus"] = run.status
    if run.completion_ms is not None:
        result["CompletionTime"] = run.completion_ms / 1000
    result["CreationTime"] = run.creation_ms / 1000
    if "FailureReason" in s:
        result["FailureReason"] = s["FailureReason"]
    if "LanguageCode" in s:
        result["LanguageCode"] = s["LanguageCode"]
    if run.start_ms is not None:
        result["StartTime"] = run.start_ms / 1000
    return result


def state_change_event(
    run: JobRun, *, account_id: str, region: str, time_ms: int | None, event_id: str | None
) -> dict[str, Any]:
    """The EventBridge ``Call Analytics Job State Change`` event of the run's end.

    Shaped like AWS's documented example (detail ``JobName``, ``JobStatus``), with
    ``FailureReason`` on failure and ``AnalyticsJobDetails.Skipped`` for skipped features.
    """
    if run.status not in ENDED or run.completion_ms is None:
        raise ValueError(f"job {run.name!r} has not ended; events fire on COMPLETED/FAILED only")
    detail: dict[str, Any] = {"JobName": run.name, "JobStatus": run.status}
    if run.status == "FAILED":
        detail["FailureReason"] = run.static["FailureReason"]
    skipped = run.static.get("CallAnalyticsJobDetails", {}).get("Skipped")
    if skipped:
        detail["AnalyticsJobDetails"] = {"Skipped": copy.deepcopy(skipped)}
    # Written out, not taken from archiver.contract: the double says what the service sends.
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Call Analytics Job State Change",
        "source": "aws.transcribe",
        "account": account_id,
        "time": iso(time_ms if time_ms is not None else run.completion_ms),
        "region": region,
        "resources": [],
        "detail": detail,
    }
