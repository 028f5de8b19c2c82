"""Replay: re-process the events parked in a dead-letter queue.

Two queues can hold them, with two message shapes:

* the EventBridge rule's target DLQ: the body *is* the original event;
* the function's on-failure destination: the body is Lambda's invocation record,
  ``{"version": "1.0", "requestContext": {...}, "requestPayload": <event>, ...}``.

Each event goes through :func:`archiver.handler.process_event`, the function's own path, so
a bad event is rejected exactly as the function rejects it. A message is deleted only once
its job run is recorded (ARCHIVED, INCOMPLETE or DUPLICATE); anything else stays in the
queue as evidence and is made visible again when the replay ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import boto3
from botocore.config import Config

from archiver.aws import DATA_RETRIES
from archiver.handler import process_event
from archiver.logic.archive import Archiver
from archiver.logic.backfill import describe_error
from archiver.observability import metrics

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

Shape = Literal["eventbridge", "lambda-destination", "unreadable"]
Verdict = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE", "KEPT", "LISTED"]

#: Outcomes that mean the job run is in the table: the message has done its work.
RECORDED: Final = frozenset({"ARCHIVED", "INCOMPLETE", "DUPLICATE"})
#: Seconds a received message stays hidden from other readers (and from our own next
#: receive, which is how the loop ends): longer than archiving one job may take.
VISIBILITY_TIMEOUT: Final = 900
WAIT_SECONDS: Final = 1
BATCH: Final = 10


def sqs_client(region: str | None = None, endpoint_url: str | None = None) -> SQSClient:
    """An SQS client with the archiver's retry policy for data-plane calls."""
    session = boto3.session.Session(region_name=region)
    return session.client(
        "sqs",
        endpoint_url=endpoint_url,
        config=Config(retries=DATA_RETRIES, connect_timeout=5, read_timeout=60),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class ParkedEvent:
    """What a DLQ message holds, as far as it can be read."""

    message_id: str
    shape: Shape
    event: Any = None  # the original event (unvalidated) when the body could be read
    receive_count: int = 0
    #: Why the event was parked, when the message says (Lambda's error, EventBridge's code).
    last_error: str = ""

    @property
    def job_name(self) -> str:
        return str(self._detail().get("TranscriptionJobName", ""))

    @property
    def job_status(self) -> str:
        return str(self._detail().get("TranscriptionJobStatus", ""))

    @property
    def event_time(self) -> str:
        return str(self.event.get("time", "")) if isinstance(self.event, dict) else ""

    def _detail(self) -> dict[str, Any]:
        detail = self.event.get("detail") if isinstance(self.event, dict) else None
        return detail if isinstance(detail, dict) else {}


@dataclass(frozen=True)
class ReplayResult:
    parked: ParkedEvent
    verdict: Verdict
    reason: str = ""


@dataclass
class ReplayReport:
    results: list[ReplayResult] = field(default_factory=list)

    def with_verdict(self, *verdicts: Verdict) -> list[ReplayResult]:
        return [r for r in self.results if r.verdict in verdicts]

    @property
    def failed(self) -> bool:
        return any(r.verdict == "KEPT" for r in self.results)


def read_message(message: Mapping[str, Any]) -> ParkedEvent:
    """Recognize a DLQ message's shape and take out the original event."""
    message_id = str(message.get("MessageId", ""))
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0) or 0)
    try:
        body = json.loads(message.get("Body", ""))
    except ValueError:
        return ParkedEvent(message_id, "unreadable", receive_count=count)
    if isinstance(body, dict) and "requestPayload" in body and "requestContext" in body:
        context = body.get("requestContext") or {}
        response = body.get("responsePayload")
        error = ""
        if isinstance(response, dict):
            error = f"{response.get('errorType', '')}: {response.get('errorMessage', '')}"
        condition = context.get("condition", "") if isinstance(context, dict) else ""
        last_error = "; ".join(p for p in (str(condition), error.strip(": ")) if p)
        return ParkedEvent(
            message_id, "lambda-destination", body["requestPayload"], count, last_error
        )
    if isinstance(body, dict):
        # The EventBridge shape, or an event too broken to tell: the function decides.
        attributes = message.get("MessageAttributes") or {}
        parts = [
            attributes.get(name, {}).get("StringValue", "")
            for name in ("ERROR_CODE", "ERROR_MESSAGE")
        ]
        return ParkedEvent(message_id, "eventbridge", body, count, ": ".join(p for p in parts if p))
    return ParkedEvent(message_id, "unreadable", body, count)


class Replay:
    """Drains a DLQ once: every message is read, and handled or kept."""

    def __init__(self, sqs: SQSClient, queue_url: str, archiver: Archiver | None) -> None:
        """``archiver``: None for a dry run (list the messages, change nothing)."""
        self._sqs = sqs
        self._queue_url = queue_url
        self._archiver = archiver

    def waiting(self) -> int:
        """About how many messages the queue holds (SQS's approximate count)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def run(self, *, on_result: Callable[[ReplayResult], None] | None = None) -> ReplayReport:
        report = ReplayReport()
        kept: list[str] = []  # receipt handles of messages left in the queue
        try:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=BATCH,
                    WaitTimeSeconds=WAIT_SECONDS,
                    VisibilityTimeout=VISIBILITY_TIMEOUT,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    result = self._handle(message)
                    if result.verdict in RECORDED:
                        self._sqs.delete_message(
                            QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                        )
                    else:
                        kept.append(message["ReceiptHandle"])
                    report.results.append(result)
                    if on_result is not None:
                        on_result(result)
        finally:
            # Hidden until now so that this run reads each message once; visible again so
            # that the next replay (or an operator) finds them without waiting 15 minutes.
            self._release(kept)
        return report

    def _handle(self, message: Mapping[str, Any]) -> ReplayResult:
        parked = read_message(message)
        if self._archiver is None:
            return ReplayResult(parked, "LISTED", parked.last_error)
        if parked.shape == "unreadable":
            return ReplayResult(parked, "KEPT", "not an event: the body is not a JSON object")
        try:
            outcome = process_event(parked.event, None, self._archiver)
        except Exception as exc:  # kept for the next replay; the others go on
            return ReplayResult(parked, "KEPT", describe_error(exc))
        finally:
            # The CLI does not publish the function's metrics; left to grow, Powertools
            # would print them as EMF on stdout after 100 values.
            metrics.clear_metrics()
        verdict = outcome.get("outcome")
        if verdict == "REJECTED":
            reasons = "; ".join(outcome.get("reasons") or [])
            return ReplayResult(parked, "KEPT", f"rejected as the function rejects it: {reasons}")
        if verdict in ("ARCHIVED", "INCOMPLETE", "DUPLICATE"):
            errors = outcome.get("errors") or {}
            reason = "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
            return ReplayResult(parked, verdict, reason)
        return ReplayResult(parked, "KEPT", "Transcribe reports the job as not finished")

    def _release(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), BATCH):
            batch = receipt_handles[start : start + BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(batch)
                ],
            )
