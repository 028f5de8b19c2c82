"""Transcribe Medical jobs: what ``add_medical_job`` asks for, the run it becomes, and the
``MedicalTranscriptionJob`` and summary the service shows for it.

A run is a :class:`~local_aws.transcribe.jobs.JobRun` like the other kinds' (the store and
the team-bucket writer are shared). Behaviour follows docs/transcribe-facts.md, "Medical and
HealthScribe jobs": outputs are always in the team's bucket (``OutputBucketName``), by
default at ``medical/<job>.json``; the service documents no EventBridge event for them.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from local_aws.transcribe.content import STANDARD_TRANSCRIPT, Content, fixture_bytes
from local_aws.transcribe.jobs import JobRun
from local_aws.transcribe.model import (
    CONTENT_TYPES,
    DEFAULT,
    FAILURE_REASONS,
    JOB_STATUSES,
    Default,
    JobStatus,
    OutputName,
)

#: The members of ``MedicalTranscriptionJob`` in the API model's order (times and the
#: transcript link are rendered per response).
_ORDER: Final = (
    "MedicalTranscriptionJobName",
    "TranscriptionJobStatus",
    "LanguageCode",
    "MediaSampleRateHertz",
    "MediaFormat",
    "Media",
    "Transcript",
    "StartTime",
    "CreationTime",
    "CompletionTime",
    "FailureReason",
    "Settings",
    "ContentIdentificationType",
    "Specialty",
    "Type",
    "Tags",
)
_DEFAULT_SETTINGS: Final[Mapping[str, Any]] = {
    "ChannelIdentification": False,
    "ShowAlternatives": False,
}


@dataclass(frozen=True)
class MedicalSpec:
    """Every argument of ``FakeTranscribe.add_medical_job`` but the name.

    ``output_bucket``: the team's bucket (required: Medical never uses a service bucket).
    ``output_key``: the transcript's key there (default ``medical/<job>.json``).
    ``team_link_scheme``: how the link comes back (``https://s3.<region>...`` or ``s3://``).
    ``outputs``: the transcript's bytes (default: a real Transcribe transcript, whose layout
    Medical shares; no real Medical transcript is at hand). ``content_identification``:
    ``PHI`` labels PHI in the transcript (nothing is redacted). Other fields as for
    transcription jobs.
    """

    output_bucket: str
    status: JobStatus = "COMPLETED"
    language_code: str | None = "en-US"
    outputs: Mapping[OutputName, Content] | None = None
    output_key: str | None = None
    team_link_scheme: Literal["https", "s3"] = "https"
    specialty: str = "PRIMARYCARE"
    type: Literal["CONVERSATION", "DICTATION"] = "CONVERSATION"
    content_identification: Literal["PHI"] | None = None
    tags: Mapping[str, str] | None = None
    failure_reason: str | None = None
    settings: Mapping[str, Any] | None = None
    media_uri: str | None = None
    media_format: str = "wav"
    media_sample_rate: int | Default | None = DEFAULT
    creation_time: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    null_outputs: Iterable[OutputName] = ()
    missing_outputs: Iterable[OutputName] = ()
    extra_fields: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise ValueError(f"invalid status {self.status!r}")
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
        return ["transcript"] if self.status == "COMPLETED" else []

    @property
    def sample_rate(self) -> int | None:
        """Default 16000 (Medical's minimum) for jobs that ran; FAILED jobs have none."""
        if isinstance(self.media_sample_rate, Default):
            return None if self.status == "FAILED" else 16000
        return self.media_sample_rate

    def contents(self) -> dict[OutputName, Content]:
        given = dict(self.outputs or {})
        return {out: given.get(out, fixture_bytes(STANDARD_TRANSCRIPT)) for out in self.produced}


def new_medical_run(
    name: str, spec: MedicalSpec, *, times: tuple[int, int | None, int | None], account_id: str
) -> JobRun:
    """The Medical run of ``spec`` created at ``times`` (epoch ms)."""
    creation_ms, start_ms, completion_ms = times
    contents = spec.contents()
    key = spec.output_key or f"medical/{name}.json"
    return JobRun(
        name=name,
        run_id=uuid.uuid4().hex,
        status=spec.status,
        creation_ms=creation_ms,
        start_ms=start_ms,
        completion_ms=completion_ms,
        static=static_fields(name, spec, account_id),
        outputs=contents,
        output_bucket=spec.output_bucket,
        bucket_keys=dict.fromkeys(contents, key),
        service_paths={},
        subtitle_formats=(),
        null_outputs=frozenset(spec.null_outputs),
        missing_outputs=frozenset(spec.missing_outputs),
        spec=spec,
        kind="medical",
        content_types={out: CONTENT_TYPES[out] for out in contents},
        team_link_scheme=spec.team_link_scheme,
    )


def static_fields(name: str, spec: MedicalSpec, account_id: str) -> dict[str, Any]:
    """GetMedicalTranscriptionJob's fields that never change for a run (links and times
    aside)."""
    job: dict[str, Any] = {
        "MedicalTranscriptionJobName": name,
        "TranscriptionJobStatus": spec.status,
    }
    if spec.language_code is not None:
        job["LanguageCode"] = spec.language_code
    if spec.sample_rate is not None:
        job["MediaSampleRateHertz"] = spec.sample_rate
    job["MediaFormat"] = spec.media_format
    job["Media"] = {
        "MediaFileUri": spec.media_uri
        or f"s3://transcribe-media-{account_id}/medical/{name}.{spec.media_format}"
    }
    if spec.status == "FAILED":
        job["FailureReason"] = spec.failure_reason or FAILURE_REASONS[0]
    job["Settings"] = dict(spec.settings if spec.settings is not None else _DEFAULT_SETTINGS)
    if spec.content_identification is not None:
        job["ContentIdentificationType"] = spec.content_identification
    job["Specialty"] = spec.specialty
    job["Type"] = spec.type
    if spec.tags:
        job["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    job.update(copy.deepcopy(dict(spec.extra_fields or {})))
    return job


def job_json(run: JobRun, link: Callable[[JobRun, OutputName], str]) -> dict[str, Any]:
    """GetMedicalTranscriptionJob's ``MedicalTranscriptionJob``: the model's key order,
    times as epoch seconds, the transcript link from ``link(run, output)``."""
    job = copy.deepcopy(run.static)
    if "transcript" in run.outputs and "transcript" not in run.missing_outputs:
        uri = None if "transcript" in run.null_outputs else link(run, "transcript")
        job["Transcript"] = {"TranscriptFileUri": uri}
    times = {
        "StartTime": run.start_ms,
        "CreationTime": run.creation_ms,
        "CompletionTime": run.completion_ms,
    }
    job.update({key: ms / 1000 for key, ms in times.items() if ms is not None})
    ordered = {key: job.pop(key) for key in _ORDER if key in job}
    return ordered | job  # extra_fields last


def summary(run: JobRun) -> dict[str, Any]:
    """ListMedicalTranscriptionJobs' ``MedicalTranscriptionJobSummary`` for a run."""
    s = run.static
    result: dict[str, Any] = {
        "MedicalTranscriptionJobName": run.name,
        "CreationTime": run.creation_ms / 1000,
    }
    if run.start_ms is not None:
        result["StartTime"] = run.start_ms / 1000
    if run.completion_ms is not None:
        result["CompletionTime"] = run.completion_ms / 1000
    if "LanguageCode" in s:
        result["LanguageCode"] = s["LanguageCode"]
    result["TranscriptionJobStatus"] = run.status
    if "FailureReason" in s:
        result["FailureReason"] = s["FailureReason"]
    if run.status == "COMPLETED":
        result["OutputLocationType"] = "CUSTOMER_BUCKET"
    for key in ("Specialty", "ContentIdentificationType", "Type"):
        if key in s:
            result[key] = s[key]
    return result
