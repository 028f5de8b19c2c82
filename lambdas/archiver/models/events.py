"""The events the function accepts (Powertools parser models) and what it takes from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser import BaseModel, Field
from pydantic import StringConstraints

from archiver.contract import JobKind

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

    def job_event(self) -> JobEvent:
        return JobEvent(
            kind=JobKind.TRANSCRIPTION,
            job_name=self.detail.TranscriptionJobName,
            status=self.detail.TranscriptionJobStatus,
            time=self.time,
            event_id=self.id,
        )


@dataclass(frozen=True)
class JobEvent:
    """What an accepted event reports: this job run ended with this status at this time."""

    kind: JobKind
    job_name: str
    status: str
    time: datetime
    event_id: str | None = None
