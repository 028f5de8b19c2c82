"""The events the function accepts, and what it takes from them.

Checked here by hand rather than with Powertools' parser: the shapes are small and fixed,
and pydantic alone would add about 100 ms to every cold start, more than a third of what
``import boto3`` costs (docs/architecture.md, "Import cost"). Every field the archiver
uses is checked as strictly as the parser models did; an event re-driven by other tooling
(moto's bus, a replay script) may lack the rest of the envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from archiver.contract import (
    CALL_ANALYTICS_DETAIL_TYPE,
    EVENT_SOURCE,
    FINISHED_STATUSES,
    TRANSCRIPTION_DETAIL_TYPE,
    JobKind,
)
from archiver.timefmt import parse_iso

#: What the Transcribe API accepts as a job name.
_JOB_NAME: Final = re.compile(r"[0-9a-zA-Z._-]{1,200}")
#: Reasons kept per rejected event (enough to see what is wrong, short enough to log).
_MAX_REASONS: Final = 10


#: The years an event's time may carry (Amazon Transcribe has existed since 2017).
_EARLIEST_EVENT: Final = 2000
_LATEST_EVENT: Final = 9000


class EventShape(NamedTuple):
    """Where one job kind's state-change event names the job and its status."""

    kind: JobKind
    name_field: str
    status_field: str
    #: Another spelling of the name field that is also taken.
    other_name_field: str | None = None

    def name_in(self, detail: dict[str, Any]) -> object:
        if shape_name := detail.get(self.name_field):
            return shape_name
        return detail.get(self.other_name_field) if self.other_name_field else None


#: The accepted events by ``detail-type``: adding a job kind adds a row. Anything else
#: (post-call streaming analytics, vocabularies, ...) is rejected.
SHAPES: Final[dict[str, EventShape]] = {
    TRANSCRIPTION_DETAIL_TYPE: EventShape(
        JobKind.TRANSCRIPTION, "TranscriptionJobName", "TranscriptionJobStatus"
    ),
    # AWS's example events and working consumers say JobName; one documentation page says
    # CallAnalyticsJobName (docs/transcribe-facts.md): either is taken.
    CALL_ANALYTICS_DETAIL_TYPE: EventShape(
        JobKind.CALL_ANALYTICS, "JobName", "JobStatus", "CallAnalyticsJobName"
    ),
}


@dataclass(frozen=True)
class JobEvent:
    """What an accepted event reports: this job run ended with this status at this time."""

    kind: JobKind
    job_name: str
    status: str
    time: datetime
    event_id: str | None = None
    #: Where the event comes from: the account and region whose Transcribe ran the job.
    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Origin:
    """The account and region a function serves: jobs of another account or region are not
    its own (a default bus also receives what other accounts' rules forward to it)."""

    account: str
    region: str

    @classmethod
    def from_function_arn(cls, arn: object) -> Origin | None:
        """From ``arn:aws:lambda:REGION:ACCOUNT:function:NAME``; None if it is not one."""
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) < 7 or parts[2] != "lambda" or not parts[3] or not parts[4]:
            return None
        return cls(account=parts[4], region=parts[3])

    def foreign(self, event: JobEvent) -> list[str]:
        """Why ``event`` is not this origin's (nothing when it is, or does not say)."""
        reasons = []
        if event.account is not None and event.account != self.account:
            reasons.append(f"account: the event is from {event.account}, not {self.account}")
        if event.region is not None and event.region != self.region:
            reasons.append(f"region: the event is from {event.region}, not {self.region}")
        return reasons


class EventRejected(ValueError):
    """Not an event the function archives; ``reasons`` says why, field by field."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons[:_MAX_REASONS]


def parse_job_event(event: object) -> JobEvent:
    """The job event an EventBridge event reports, or EventRejected saying why not."""
    if not isinstance(event, dict):
        raise EventRejected([f"event: expected an object, got {_type(event)}"])
    reasons: list[str] = []
    for name in ("version", "id", "account", "region"):
        if event.get(name) is not None and not isinstance(event[name], str):
            reasons.append(f"{name}: expected a string, got {_type(event[name])}")
    resources = event.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        reasons.append("resources: expected a list of strings")
    if event.get("source") != EVENT_SOURCE:
        reasons.append(f"source: expected {EVENT_SOURCE!r}, got {_shown(event.get('source'))}")
    shape = SHAPES.get(event.get("detail-type"))  # type: ignore[arg-type]
    if shape is None:
        expected = " or ".join(repr(t) for t in SHAPES)
        reasons.append(f"detail-type: expected {expected}, got {_shown(event.get('detail-type'))}")
    time = _time(event.get("time"), reasons)
    detail = event.get("detail")
    if not isinstance(detail, dict):
        reasons.append(f"detail: expected an object, got {_type(detail)}")
    elif shape is not None:
        _check_detail(detail, shape, reasons)
    if reasons or shape is None or time is None or not isinstance(detail, dict):
        raise EventRejected(reasons)
    return JobEvent(
        kind=shape.kind,
        job_name=str(shape.name_in(detail)),
        status=detail[shape.status_field],
        time=time,
        event_id=event.get("id"),
        account=event.get("account"),
        region=event.get("region"),
    )


def _check_detail(detail: dict[str, Any], shape: EventShape, reasons: list[str]) -> None:
    name = shape.name_in(detail)
    if not isinstance(name, str) or not _JOB_NAME.fullmatch(name):
        reasons.append(
            f"detail.{shape.name_field}: expected 1-200 of 0-9 a-z A-Z . _ -, got {_shown(name)}"
        )
    status = detail.get(shape.status_field)
    if status not in FINISHED_STATUSES:
        reasons.append(
            f"detail.{shape.status_field}: expected one of {', '.join(FINISHED_STATUSES)}, "
            f"got {_shown(status)}"
        )
    reason = detail.get("FailureReason")
    if reason is not None and not isinstance(reason, str):
        reasons.append(f"detail.FailureReason: expected a string, got {_type(reason)}")


def _time(value: object, reasons: list[str]) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = parse_iso(value)
        except ValueError:
            pass
        else:
            if _EARLIEST_EVENT <= parsed.year <= _LATEST_EVENT:
                return parsed
            # Not a time EventBridge sends; and times near the ends of the calendar would
            # overflow the matching arithmetic on a later delivery.
            reasons.append(f"time: expected a year from {_EARLIEST_EVENT}, got {_shown(value)}")
            return None
    reasons.append(f"time: expected an ISO 8601 date and time, got {_shown(value)}")
    return None


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _shown(value: object) -> str:
    """A value as a reason may show it: short, never a whole payload."""
    return "nothing" if value is None else repr(value)[:60]
