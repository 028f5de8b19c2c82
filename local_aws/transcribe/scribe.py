"""AWS HealthScribe jobs: what ``add_medical_scribe_job`` asks for, the run it becomes, and
the ``MedicalScribeJob`` and summary the service shows for it.

A run is a :class:`~local_aws.transcribe.jobs.JobRun` like the other kinds'. Behaviour
follows docs/transcribe-facts.md, "Medical and HealthScribe jobs": the transcript and the
clinical note are always written to the team's bucket (``OutputBucketName``), at
``<job>/transcript.json`` and ``<job>/summary.json``; no EventBridge event is documented.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from local_aws.transcribe.content import (
    Content,
    scribe_clinical_document,
    scribe_transcript,
)
from local_aws.transcribe.jobs import JobRun
from local_aws.transcribe.model import (
    CONTENT_TYPES,
    FAILURE_REASONS,
    JOB_STATUSES,
    JobStatus,
    OutputName,
)

#: A two-channel visit: the clinician on channel 0, the patient on channel 1.
DEFAULT_CHANNELS: Final = ((0, "CLINICIAN"), (1, "PATIENT"))
#: The outputs' file names under ``<job>/`` in the team's bucket.
_FILES: Final[Mapping[OutputName, str]] = {
    "transcript": "transcript.json",
    "clinical_document": "summary.json",
}
_LINK_MEMBERS: Final[Mapping[OutputName, str]] = {
    "transcript": "TranscriptFileUri",
    "clinical_document": "ClinicalDocumentUri",
}


@dataclass(frozen=True)
class ScribeSpec:
    """Every argument of ``FakeTranscribe.add_medical_scribe_job`` but the name.

    ``output_bucket``: the team's bucket (required). ``output_folder``: a key prefix the
    ``<job>/`` folder goes under (default none). ``outputs``: override the transcript's or
    the clinical note's bytes (defaults: constructed documents, see ``content``).
    ``channel_definitions``: (channel, CLINICIAN | PATIENT) pairs; None for a job that
    used speaker labels instead. Other fields as for the other kinds.
    """

    output_bucket: str
    status: JobStatus = "COMPLETED"
    language_code: str | None = "en-US"
    outputs: Mapping[OutputName, Content] | None = None
    output_folder: str = ""
    team_link_scheme: Literal["https", "s3"] = "https"
    channel_definitions: Sequence[tuple[int, str]] | None = DEFAULT_CHANNELS
    tags: Mapping[str, str] | None = None
    failure_reason: str | None = None
    settings: Mapping[str, Any] | None = None
    note_template: str | None = None
    media_uri: str | None = None
    data_access_role_arn: str | None = None
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
        if self.output_folder and not self.output_folder.endswith("/"):
            raise ValueError("output_folder is a key prefix ending with '/'")

    @property
    def produced(self) -> list[OutputName]:
        """The outputs the service writes for this job (none unless COMPLETED)."""
        return list(_FILES) if self.status == "COMPLETED" else []

    def contents(self, name: str) -> dict[OutputName, Content]:
        given = dict(self.outputs or {})
        defaults: dict[OutputName, Content] = {
            "transcript": scribe_transcript(name),
            "clinical_document": scribe_clinical_document(name),
        }
        return {out: given.get(out, defaults[out]) for out in self.produced}


def new_scribe_run(
    name: str, spec: ScribeSpec, *, times: tuple[int, int | None, int | None], account_id: str
) -> JobRun:
    """The HealthScribe run of ``spec`` created at ``times`` (epoch ms)."""
    creation_ms, start_ms, completion_ms = times
    contents = spec.contents(name)
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
        bucket_keys={out: f"{spec.output_folder}{name}/{_FILES[out]}" for out in contents},
        service_paths={},
        subtitle_formats=(),
        null_outputs=frozenset(spec.null_outputs),
        missing_outputs=frozenset(spec.missing_outputs),
        spec=spec,
        kind="medical-scribe",
        content_types={out: CONTENT_TYPES[out] for out in contents},
        team_link_scheme=spec.team_link_scheme,
    )


def static_fields(name: str, spec: ScribeSpec, account_id: str) -> dict[str, Any]:
    """GetMedicalScribeJob's fields that never change for a run (links and times aside)."""
    job: dict[str, Any] = {}
    if spec.channel_definitions is not None:
        job["ChannelDefinitions"] = [
            {"ChannelId": channel, "ParticipantRole": role}
            for channel, role in spec.channel_definitions
        ]
    job["DataAccessRoleArn"] = (
        spec.data_access_role_arn or f"arn:aws:iam::{account_id}:role/HealthScribeAccess"
    )
    if spec.status == "FAILED":
        job["FailureReason"] = spec.failure_reason or FAILURE_REASONS[0]
    if spec.language_code is not None:
        job["LanguageCode"] = spec.language_code
    job["Media"] = {
        "MediaFileUri": spec.media_uri or f"s3://transcribe-media-{account_id}/visits/{name}.wav"
    }
    job["MedicalScribeJobName"] = name
    job["MedicalScribeJobStatus"] = spec.status
    settings = dict(spec.settings or {})
    if not settings:
        # The service requires one of channel identification and speaker labels.
        settings = (
            {"ChannelIdentification": True}
            if spec.channel_definitions is not None
            else {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
        )
    if spec.note_template is not None:
        settings["ClinicalNoteGenerationSettings"] = {"NoteTemplate": spec.note_template}
    job["Settings"] = settings
    if spec.tags:
        job["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    job.update(copy.deepcopy(dict(spec.extra_fields or {})))
    return job


def job_json(run: JobRun, link: Callable[[JobRun, OutputName], str]) -> dict[str, Any]:
    """GetMedicalScribeJob's ``MedicalScribeJob``: keys in the API reference's (alphabetical)
    order, times as epoch seconds, links from ``link(run, output)``."""
    job = copy.deepcopy(run.static)
    output = {
        member: None if out in run.null_outputs else link(run, out)
        for out, member in _LINK_MEMBERS.items()
        if out in run.outputs and out not in run.missing_outputs
    }
    if output:
        job["MedicalScribeOutput"] = output
    times = {
        "CreationTime": run.creation_ms,
        "StartTime": run.start_ms,
        "CompletionTime": run.completion_ms,
    }
    job.update({key: ms / 1000 for key, ms in times.items() if ms is not None})
    return dict(sorted(job.items()))


def summary(run: JobRun) -> dict[str, Any]:
    """ListMedicalScribeJobs' ``MedicalScribeJobSummary`` for a run."""
    s = run.static
    result: dict[str, Any] = {}
    if run.completion_ms is not None:
        result["CompletionTime"] = run.completion_ms / 1000
    result["CreationTime"] = run.creation_ms / 1000
    if "FailureReason" in s:
        result["FailureReason"] = s["FailureReason"]
    if "LanguageCode" in s:
        result["LanguageCode"] = s["LanguageCode"]
    result["MedicalScribeJobName"] = run.name
    result["MedicalScribeJobStatus"] = run.status
    if run.start_ms is not None:
        result["StartTime"] = run.start_ms / 1000
    return result
