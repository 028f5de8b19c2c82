"""Event models (Powertools parser) and the plan of what a job run should produce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser import BaseModel, Field
from pydantic import StringConstraints

from archiver.contract import CONTENT_TYPES, REDACTED, SRT, TRANSCRIPT, VTT

#: What the Transcribe API accepts as a job name.
JobName = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-zA-Z._-]+$", min_length=1, max_length=200)
]


class TranscribeJobStateDetail(BaseModel):
    TranscriptionJobName: JobName
    TranscriptionJobStatus: Literal["COMPLETED", "FAILED"]
    FailureReason: str | None = None


class TranscribeJobStateChange(BaseModel):
    """The ``Transcribe Job State Change`` event, for the two statuses we archive.

    Shaped like Powertools' ``EventBridgeModel`` but only what the archiver uses is
    required (source, detail-type, time, detail): an event re-driven by other tooling
    (moto's bus, a replay script) may lack the rest of the envelope.
    """

    version: str | None = None
    id: str | None = None
    account: str | None = None
    region: str | None = None
    time: datetime
    resources: list[str] = Field(default_factory=list)
    source: Literal["aws.transcribe"]
    detail_type: Literal["Transcribe Job State Change"] = Field(..., alias="detail-type")
    detail: TranscribeJobStateDetail


@dataclass(frozen=True)
class PlannedOutput:
    """An output the job run should have: its archive name and where Transcribe put it."""

    name: str
    link: str | None  # None: the job lists the output but the link is missing or null

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.name]


def plan_outputs(job: dict[str, Any], *, archive_unredacted: bool) -> list[PlannedOutput]:
    """The outputs (other than job.json) a job run should have, from GetTranscriptionJob.

    A FAILED job has none. A COMPLETED job has its transcript (unless redaction produced
    only the redacted one), the redacted transcript when redaction was on, and one file per
    subtitle format it lists, matched to the links by file extension.
    """
    if job.get("TranscriptionJobStatus") != "COMPLETED":
        return []
    transcript = job.get("Transcript") or {}
    redaction = job.get("ContentRedaction") or {}
    redacted_only = redaction.get("RedactionOutput") == "redacted"
    planned: list[PlannedOutput] = []

    unredacted = transcript.get("TranscriptFileUri")
    has_redacted = bool(redaction) or bool(transcript.get("RedactedTranscriptFileUri"))
    if has_redacted and not archive_unredacted:
        pass  # the operator chose not to keep unredacted transcripts of redacted jobs
    elif unredacted or not redacted_only:
        planned.append(PlannedOutput(TRANSCRIPT, unredacted))
    if has_redacted:
        planned.append(PlannedOutput(REDACTED, transcript.get("RedactedTranscriptFileUri")))

    subtitles = job.get("Subtitles") or {}
    links = [u for u in subtitles.get("SubtitleFileUris") or [] if u]
    formats = {f.lower() for f in subtitles.get("Formats") or []}
    for fmt, name in (("vtt", VTT), ("srt", SRT)):
        link = next((u for u in links if _extension(u) == fmt), None)
        if fmt in formats or link:
            planned.append(PlannedOutput(name, link))
    return planned


def _extension(url: str) -> str:
    path = url.split("?", 1)[0]
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
