"""Replay: re-process the events parked in a dead-letter queue.

The stack's dead-letter queues hold them in two message shapes:

* the event queue's DLQ (where SQS moves a message after its last receive) and the
  rules' target DLQ: the body *is* the original event;
* the same DLQ as it was filled before events came through a queue, when it was the
  function's on-failure destination: the body is Lambda's invocation record,
  ``{"version": "1.0", "requestContext": {...}, "requestPayload": <event>, ...}``.

Each event goes through :func:`archiver.logic.events.handle_event`, the function's own path,
so a bad event is rejected exactly as the function rejects it. A message is deleted only once
its job run is recorded (ARCHIVED, INCOMPLETE or DUPLICATE); anything else stays in the
queue as evidence and is made visible again when the replay ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from archiver.deadline import Deadline
from archiver.logic.archive import Archiver
from archiver.logic.backfill import describe_error
from archiver.logic.events import handle_event
from archiver.observability import NoMetrics, logger
from archiver.sources.dead_letters import DeadLetterQueue, QueueMessage

Shape = Literal["eventbridge", "lambda-destination", "unreadable"]
Verdict = Literal["ARCHIVED", "INCOMPLETE", "DUPLICATE", "KEPT", "LISTED"]

#: Outcomes that mean the job run is in the table: the message has done its work.
RECORDED: Final = frozenset({"ARCHIVED", "INCOMPLETE", "DUPLICATE"})
#: Seconds a received message stays hidden from other readers (and from our own next
#: receive, which is how the loop ends): longer than archiving one job may take.
VISIBILITY_TIMEOUT: Final = 900
WAIT_SECONDS: Final = 1


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
        detail = self._detail()
        # A transcription job's event, else a Call Analytics job's (either spelling).
        for key in ("TranscriptionJobName", "JobName", "CallAnalyticsJobName"):
            if key in detail:
                return str(detail[key])
        return ""

    @property
    def job_status(self) -> str:
        detail = self._detail()
        return str(detail.get("TranscriptionJobStatus", detail.get("JobStatus", "")))

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


def read_message(message: QueueMessage) -> ParkedEvent:
    """Recognize a DLQ message's shape and take out the original event."""
    message_id, count = message.message_id, message.receive_count
    try:
        body = json.loads(message.body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
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
        parts = [message.attributes.get(name, "") for name in ("ERROR_CODE", "ERROR_MESSAGE")]
        return ParkedEvent(message_id, "eventbridge", body, count, ": ".join(p for p in parts if p))
    return ParkedEvent(message_id, "unreadable", body, count)


class Replay:
    """Drains a DLQ once: every message is read, and handled or kept, exactly once a run."""

    def __init__(
        self,
        queue: DeadLetterQueue,
        archiver: Archiver | None,
        *,
        visibility_timeout: int = VISIBILITY_TIMEOUT,
    ) -> None:
        """``archiver``: None for a dry run (list the messages, change nothing)."""
        self._queue = queue
        self._archiver = archiver
        self._visibility = visibility_timeout

    def waiting(self) -> int:
        """About how many messages the queue holds (SQS's approximate count)."""
        return self._queue.waiting()

    def run(self, *, on_result: Callable[[ReplayResult], None] | None = None) -> ReplayReport:
        report = ReplayReport()
        seen: set[str] = set()  # message IDs this run has handled (or is handling)
        kept: dict[str, QueueMessage] = {}  # by ID, with the newest receipt handle
        try:
            while True:
                messages = self._queue.receive(
                    visibility_timeout=self._visibility, wait_seconds=WAIT_SECONDS
                )
                fresh = [m for m in messages if m.message_id not in seen]
                for message in messages:
                    if message.message_id in seen:
                        # It came back (its visibility ran out): handled already; hold the new
                        # receipt so that it can be released at the end.
                        kept[message.message_id] = message
                if not fresh:
                    break  # nothing new: every message in the queue was handled by this run
                for index, message in enumerate(fresh):
                    seen.add(message.message_id)
                    # This message and the rest of its batch stay hidden while it is handled,
                    # however long that takes: nobody else, and no later receive of ours,
                    # gets them meanwhile.
                    with _KeepHidden(self._queue, fresh[index:], self._visibility):
                        result = self._handle(message)
                    if result.verdict in RECORDED:
                        self._queue.delete(message)
                        kept.pop(message.message_id, None)
                    else:
                        kept[message.message_id] = message
                    report.results.append(result)
                    if on_result is not None:
                        on_result(result)
        finally:
            # Hidden until now so that this run reads each message once; visible again so
            # that the next replay (or an operator) finds them without waiting.
            self._queue.set_visibility(kept.values(), 0)
        return report

    def _handle(self, message: QueueMessage) -> ReplayResult:
        parked = read_message(message)
        if self._archiver is None:
            return ReplayResult(parked, "LISTED", parked.last_error)
        if parked.shape == "unreadable":
            return ReplayResult(parked, "KEPT", "not an event: the body is not a JSON object")
        try:
            # The CLI does not publish the function's metrics: nothing is sent to CloudWatch.
            outcome = handle_event(
                parked.event, self._archiver, deadline=Deadline.default(), metrics=NoMetrics()
            )
        except Exception as exc:  # kept for the next replay; the others go on
            return ReplayResult(parked, "KEPT", describe_error(exc))
        if outcome.outcome == "REJECTED":
            reasons = "; ".join(outcome.reasons)
            return ReplayResult(parked, "KEPT", f"rejected as the function rejects it: {reasons}")
        reason = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items()))
        return ReplayResult(parked, outcome.outcome, reason)


class _KeepHidden:
    """Renews the visibility of messages being worked on until the block ends."""

    def __init__(self, queue: DeadLetterQueue, messages: list[QueueMessage], seconds: int) -> None:
        self._queue = queue
        self._messages = messages
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="replay-heartbeat", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        # Renew at half the timeout, so a slow SQS call still lands before it runs out.
        while not self._stop.wait(self._seconds / 2):
            try:
                self._queue.set_visibility(self._messages, self._seconds)
            except Exception:  # a missed renewal costs a duplicate read, never a message
                logger.warning("could not renew the visibility of held messages", exc_info=True)
