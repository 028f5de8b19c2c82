"""One event, start to end: accept or reject it, archive the run it reports.

Both the function (``handler.py``) and ``replay`` hand events here, so a parked event is
judged exactly as the function judges a fresh one. Figures go to the injected metrics sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from archiver.contract import Metric
from archiver.deadline import Deadline
from archiver.logic.archive import Archiver
from archiver.models.events import EventRejected, JobEvent, Origin, parse_job_event
from archiver.observability import MetricsSink, logger

EventVerdict = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE", "REJECTED"]


@dataclass(frozen=True)
class EventOutcome:
    """What became of one event."""

    outcome: EventVerdict
    job_name: str | None = None
    created_at: str | None = None
    archive_uri: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    #: Why the event was rejected (REJECTED only).
    reasons: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        """The function's return value for this event."""
        if self.outcome == "REJECTED":
            return {"outcome": self.outcome, "reasons": self.reasons}
        return {
            "outcome": self.outcome,
            "jobName": self.job_name,
            "createdAt": self.created_at,
            "archiveUri": self.archive_uri,
            "errors": self.errors,
        }


def read_event(event: Any, origin: Origin | None = None) -> JobEvent | list[str]:
    """The job event an EventBridge event reports, or the reasons it is not one we archive
    (with ``origin``: one of another account or region is not ours either)."""
    try:
        parsed = parse_job_event(event)
    except EventRejected as exc:
        return exc.reasons
    foreign = origin.foreign(parsed) if origin is not None else []
    return foreign or parsed


def handle_event(
    event: Any,
    archiver: Archiver,
    *,
    deadline: Deadline | None,
    metrics: MetricsSink,
    origin: Origin | None = None,
) -> EventOutcome:
    """Archive the job run an event reports; reject (log, count, return) anything else,
    events of another account or region than ``origin`` included.

    Raises when the run could not be archived now (RetryableArchiveError, or an unexpected
    error): the caller's retry mechanism (Lambda, SQS, replay) tries again later.
    """
    parsed = read_event(event, origin)
    if isinstance(parsed, list):
        metrics.add(Metric.EVENTS_REJECTED, MetricUnit.Count, 1)
        envelope = event if isinstance(event, dict) else {}
        logger.warning(
            "event rejected: not a transcription or Call Analytics job state change for "
            "COMPLETED or FAILED",
            extra={
                "reasons": parsed,
                "event_source": envelope.get("source"),
                "event_detail_type": envelope.get("detail-type"),
                "event_id": envelope.get("id"),
            },
        )
        return EventOutcome("REJECTED", reasons=parsed)

    # Thread-local keys: one process may serve several events at once (replay, tests).
    logger.thread_safe_append_keys(job_name=parsed.job_name, event_id=parsed.event_id)
    try:
        result = archiver.archive_job(
            parsed.job_name,
            kind=parsed.kind,
            event_time=parsed.time,
            event_status=parsed.status,
            event_id=parsed.event_id,
            deadline=deadline,
        )
    except Exception:
        metrics.add(Metric.ARCHIVE_ERRORS, MetricUnit.Count, 1)
        logger.exception("archiving failed; the event will be retried, then parked in a DLQ")
        raise
    finally:
        logger.thread_safe_clear_keys()
    return EventOutcome(
        result.outcome,
        result.job_name,
        result.created_at,
        result.archive_uri,
        dict(result.errors),
    )
