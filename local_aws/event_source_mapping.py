"""Lambda's SQS event source mapping, emulated over an SQS queue (moto's, in tests).

What it reproduces, because the archiver's failure semantics rest on it:

* at most ``max_concurrency`` invocations at a time (the mapping's maximum concurrency),
  each with a batch of up to ``batch_size`` messages received with the queue's own
  visibility timeout, as the records of an ``aws:sqs`` event;
* partial batch responses: the messages listed in ``batchItemFailures`` stay in the queue
  and are received again once their visibility timeout ends; the others are deleted. An
  invocation that raises, or answers with a response Lambda cannot use (an unknown or empty
  ``itemIdentifier``, not an object), fails its whole batch;
* redrive: SQS itself moves a message to the dead-letter queue once it has been received
  ``maxReceiveCount`` times (moto implements the queue's ``RedrivePolicy``).

What it leaves out: Lambda's gradual poller scaling, batching windows, throttling and its
backoff. Every wait is bounded: ``run`` raises TimeoutError when the queue is not drained in
time, and each invocation is given at most ``invocation_timeout`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from local_aws.lambda_context import FakeLambdaContext

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: SQS's largest batch for SendMessageBatch and DeleteMessageBatch.
SQS_BATCH: Final = 10
#: Seconds between the two readings that must both find the queue empty (see _drained).
_RECOUNT_AFTER = 0.02
#: A queue ARN for records made up by hand (tests invoking the handler directly).
EXAMPLE_QUEUE_ARN: Final = "arn:aws:sqs:us-east-1:123456789012:transcribe-archiver-events"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class EventQueue:
    """The stack's event queue and its dead-letter queue, as created here."""

    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


def create_event_queue(
    sqs: SQSClient, name: str, *, visibility_timeout: int, max_receive_count: int
) -> EventQueue:
    """A queue that redrives to its own DLQ after ``max_receive_count`` receives.

    The stack's visibility timeout is 90 minutes; tests scale it down to seconds.
    """
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return EventQueue(url, _queue_arn(sqs, url), dlq_url, dlq_arn)


def send_events(sqs: SQSClient, queue_url: str, events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Put events into the queue as the rule's SQS target does (the body is the event)."""
    bodies = [json.dumps(event) for event in events]
    message_ids: list[str] = []
    for start in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[start : start + SQS_BATCH]
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
        )
        if answer.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused: {answer['Failed']}")
        by_id = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
        message_ids += [by_id[str(i)] for i in range(len(chunk))]
    return message_ids


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receipt_handle: str | None = None,
    receive_count: int = 1,
    sent_at_ms: int | None = None,
    queue_arn: str = EXAMPLE_QUEUE_ARN,
) -> dict[str, Any]:
    """One record of an ``aws:sqs`` event, shaped as Lambda delivers it."""
    sent = sent_at_ms if sent_at_ms is not None else int(time.time() * 1000)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle or uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(sent),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def sqs_event(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The event an SQS event source mapping invokes the function with."""
    return {"Records": [dict(record) for record in records]}


@dataclass
class MappingReport:
    """What the mapping did; counts by message ID."""

    invocations: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    #: Listed in a batchItemFailures answer.
    reported_failures: Counter[str] = field(default_factory=Counter)
    #: Why a whole batch failed: the invocation raised or its answer was unusable.
    failed_batches: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    elapsed: float = 0.0


class EventSourceMapping:
    """Polls one queue and invokes a handler with its batches, as Lambda's mapping does."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        *,
        executor: Executor,
        handler: Handler,
        max_concurrency: int,
        batch_size: int,
        invocation_timeout: float = 120.0,
        context: Callable[[], Any] = FakeLambdaContext,
        before_invoke: Callable[[list[dict[str, Any]]], None] | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        """``executor`` runs the invocations (one process per execution environment, as
        ``lambda_environments`` gives); ``before_invoke`` sees each batch's records first."""
        if not 1 <= batch_size <= SQS_BATCH:
            raise ValueError(f"batch_size must be 1-{SQS_BATCH} (no batching window here)")
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = _queue_arn(sqs, queue_url)
        self._executor = executor
        self._handler = handler
        self._max_concurrency = max_concurrency
        self._batch_size = batch_size
        self._invocation_timeout = invocation_timeout
        self._context = context
        self._before_invoke = before_invoke
        self._poll_interval = poll_interval
        # moto changes a queue's messages without a lock: two deletes at once can undo
        # one another (each writes back the list it read) and two receives can hand out
        # the same message. Every call that changes the queue goes one at a time.
        self._sqs_lock = threading.Lock()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self.report = MappingReport()

    def run(self, *, timeout: float) -> MappingReport:
        """Poll until the queue holds nothing (visible, in flight or delayed).

        Raises TimeoutError when it does not drain within ``timeout`` seconds.
        """
        started = time.monotonic()
        deadline = started + timeout
        pollers = [
            threading.Thread(target=self._poll, args=(deadline,), name=f"poller-{i}", daemon=True)
            for i in range(self._max_concurrency)
        ]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join(timeout=max(0.0, deadline - time.monotonic()) + self._invocation_timeout)
        self._stop.set()
        self.report.elapsed = time.monotonic() - started
        if any(poller.is_alive() for poller in pollers):
            raise TimeoutError("a poller did not stop: an invocation outlived its timeout")
        if self._errors:
            raise RuntimeError("a poller failed") from self._errors[0]
        if not self._drained():
            raise TimeoutError(
                f"the queue was not drained after {timeout:.0f}s: {self._counts()}; "
                f"{self.report.invocations} invocations, "
                f"{len(self.report.failed_batches)} failed batches"
            )
        return self.report

    # -- one poller ----------------------------------------------------------------------
    def _poll(self, deadline: float) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                messages = self._receive()
                if not messages:
                    if self._drained():
                        self._stop.set()
                    else:
                        self._stop.wait(self._poll_interval)
                    continue
                self._deliver(messages, deadline)
        except BaseException as exc:
            self._errors.append(exc)
            self._stop.set()

    def _receive(self) -> list[dict[str, Any]]:
        with self._sqs_lock:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=self._batch_size,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        return [dict(message) for message in messages]

    def _deliver(self, messages: list[dict[str, Any]], deadline: float) -> None:
        records = [self._record(message) for message in messages]
        with self._lock:
            self.report.invocations += 1
            self.report.batch_sizes[len(records)] += 1
            self.report.received.update(r["messageId"] for r in records)
            self._in_flight += 1
            self.report.max_in_flight = max(self.report.max_in_flight, self._in_flight)
        try:
            if self._before_invoke is not None:
                self._before_invoke(records)
            future = self._executor.submit(self._handler, sqs_event(records), self._context())
            wait = min(self._invocation_timeout, max(0.0, deadline - time.monotonic()) + 1.0)
            try:
                answer = future.result(timeout=wait)
            except FutureTimeout:
                self._fail_batch(f"invocation still running after {wait:.0f}s")
                return
            except Exception as exc:
                self._fail_batch(f"invocation raised {exc.__class__.__name__}: {exc}")
                return
            failed = _failed_ids(answer, {r["messageId"] for r in records})
            if failed is None:
                self._fail_batch(f"unusable batch response: {answer!r:.200}")
                return
            with self._lock:
                self.report.reported_failures.update(failed)
            self._delete([r for r in records if r["messageId"] not in failed])
        finally:
            with self._lock:
                self._in_flight -= 1

    def _fail_batch(self, reason: str) -> None:
        # Nothing is deleted: every message of the batch comes back after its timeout.
        with self._lock:
            self.report.failed_batches.append(reason)

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), SQS_BATCH):
            chunk = records[start : start + SQS_BATCH]
            with self._sqs_lock:
                answer = self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(chunk)
                    ],
                )
            done = {int(entry["Id"]) for entry in answer.get("Successful", [])}
            with self._lock:
                self.report.deleted.update(chunk[i]["messageId"] for i in done)

    # -- the queue -----------------------------------------------------------------------
    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        record = sqs_record(
            str(message["Body"]),
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            sent_at_ms=int(attributes.get("SentTimestamp", 0)) or None,
            queue_arn=self._queue_arn,
        )
        record["attributes"].update({k: str(v) for k, v in attributes.items()})
        record["messageAttributes"] = dict(message.get("MessageAttributes", {}))
        return record

    def _counts(self) -> dict[str, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {str(name): int(count) for name, count in attributes.items()}

    def _drained(self) -> bool:
        # moto computes each count at its own instant: a message whose
        # visibility timeout ends between the two readings is in neither, and the queue
        # looks empty for a moment. A second reading a little later counts it as visible.
        if any(self._counts().values()):
            return False
        time.sleep(_RECOUNT_AFTER)
        return not any(self._counts().values())


def _failed_ids(answer: Any, batch: set[str]) -> set[str] | None:
    """The message IDs a partial batch response lists; None when Lambda could not use it.

    Lambda takes an empty or null answer, and one without (or with a null or empty)
    ``batchItemFailures``, as a complete success.
    """
    if answer is None:
        return set()
    if not isinstance(answer, Mapping):
        return None
    failures = answer.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(item, str) or item not in batch:
            return None
        failed.add(item)
    return failed


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])
