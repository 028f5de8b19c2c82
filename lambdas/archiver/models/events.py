"""The events the function accepts (Powertools parser models) and what it takes from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser import BaseModel, Field
from pydantic import AliasChoices, StringConstraints

from archiver.contract import CALL_ANALYTICS_DETAIL_TYPE, JobKind

#: What the Transcribe API accepts as a job name.
JobName = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-zA-Z._-]+$", min_length=1, max_length=200)
]


#: The same type under another name: a field called JobName would shadow the alias.
_Name = JobName


class TranscribeJobStateDetail(BaseModel):
    TranscriptionJobName: JobName
    TranscriptionJobStatus: Literal["COMPLETED", "FAILED"]
    FailureReason: str | None = None


class _JobStateChange(BaseModel):
    """Shaped like Powertools' ``EventBridgeModel`` but only what the archiver uses is
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


class TranscribeJobStateChange(_JobStateChange):
    """The ``Transcribe Job State Change`` event, for the two statuses we archive."""

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


class CallAnalyticsJobStateDetail(BaseModel):
    # AWS's example events and working consumers say JobName; one documentation page says
    # CallAnalyticsJobName (docs/transcribe-facts.md): either is taken.
    JobName: _Name = Field(validation_alias=AliasChoices("JobName", "CallAnalyticsJobName"))
    JobStatus: Literal["COMPLETED", "FAILED"]
    FailureReason: str | None = None


class CallAnalyticsJobStateChange(_JobStateChange):
    """The ``Call Analytics Job State Change`` event of a batch Call Analytics job."""

    detail_type: Literal["Call Analytics Job State Change"] = Field(..., alias="detail-type")
    detail: CallAnalyticsJobStateDetail

    def job_event(self) -> JobEvent:
        return JobEvent(
            kind=JobKind.CALL_ANALYTICS,
            job_name=self.detail.JobName,
            status=self.detail.JobStatus,
            time=self.time,
            event_id=self.id,
        )


JobStateChange = TranscribeJobStateChange | CallAnalyticsJobStateChange


def event_model(event: object) -> type[JobStateChange]:
    """The model an event must satisfy, chosen by its detail-type.

    Any other detail-type (post-call streaming analytics, vocabularies, …) is judged by the
    transcription model, whose detail-type check then names what was expected.
    """
    detail_type = event.get("detail-type") if isinstance(event, dict) else None
    if detail_type == CALL_ANALYTICS_DETAIL_TYPE:
        return CallAnalyticsJobStateChange
    return TranscribeJobStateChange


@dataclass(frozen=True)
class JobEvent:
    """What an accepted event reports: this job run ended with this status at this time."""

    kind: JobKind
    job_name: str
    status: str
    time: datetime
    event_id: str | None = None
