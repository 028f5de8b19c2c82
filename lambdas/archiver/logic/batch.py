"""An SQS batch from the event queue: each record's body is one EventBridge event.

The records of a batch are handled side by side, each through :func:`handle_event` (the
path a direct event and ``replay`` take), all within the invocation's deadline. The answer
is Powertools' partial batch response: a record whose run could not be archived yet
(``handle_event`` raised) is listed in ``batchItemFailures`` and only that message comes
back, after the queue's visibility timeout, until SQS moves it to the dead-letter queue. A
record whose body is not an event we archive is logged, counted (``EventsRejected``) and
dropped: delivering it again could never help.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, cast

from aws_lambda_powertools.metrics import MetricUnit

from archiver.contract import Metric
from archiver.deadline import Deadline
from archiver.logic.archive import Archiver
from archiver.logic.events import EventOutcome, handle_event
from archiver.models.events import Origin
from archiver.observability import MetricsSink, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

#: What Lambda puts in ``eventSource`` of every record it reads from SQS.
SQS_EVENT_SOURCE: Final = "aws:sqs"
#: Threads per batch. The mapping sends contract.QUEUE_BATCH_SIZE records; a larger batch
#: (a hand-made invocation) waits for free threads, still within the one deadline.
MAX_PARALLEL_RECORDS: Final = 10


def is_sqs_batch(event: Any) -> bool:
    """Whether ``event`` is what an SQS event source mapping invokes the function with."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(
            isinstance(record, dict) and record.get("eventSource") == SQS_EVENT_SOURCE
            for record in records
        )
    )


def handle_batch(
    event: dict[str, Any],
    archiver: Archiver,
    *,
    deadline: Deadline | None,
    metrics: MetricsSink,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """Handle every record of the batch; answer ``{"batchItemFailures": [...]}``.

    ``metrics`` and ``archiver`` are shared by the records' threads: give a sink that is
    safe for that (:class:`SerializedMetrics`).
    """

    # Imported on first use: Powertools' batch utility loads the models of every event
    # source it supports (about a fifth of the handler's import time), which the sweep and
    # direct invocations never need.
    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    def record_handler(record: SQSRecord) -> EventOutcome | None:
        return _handle_record(record, archiver, deadline=deadline, metrics=metrics, origin=origin)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=_side_by_side()()
    )
    return cast(dict[str, Any], response)


def _handle_record(
    record: SQSRecord,
    archiver: Archiver,
    *,
    deadline: Deadline | None,
    metrics: MetricsSink,
    origin: Origin | None = None,
) -> EventOutcome | None:
    """One record; raises (so it is reported as failed) only when retrying may help."""
    logger.thread_safe_append_keys(message_id=record.message_id)
    try:
        try:
            event = json.loads(record.body)
        except (TypeError, ValueError, RecursionError) as exc:
            metrics.add(Metric.EVENTS_REJECTED, MetricUnit.Count, 1)
            # The body itself is not logged: it is not ours and may hold anything.
            logger.warning(
                "queue message rejected: its body is not JSON",
                extra={"reasons": [str(exc)[:200]]},
            )
            return None
        return handle_event(event, archiver, deadline=deadline, metrics=metrics, origin=origin)
    finally:
        logger.thread_safe_clear_keys()


@functools.cache
def _side_by_side() -> Callable[[], BatchProcessor]:
    """Powertools' SQS batch processor, running the records of a batch at the same time
    (a class made on first use, like the import above)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    class SideBySide(BatchProcessor):
        def __init__(self) -> None:
            # A batch whose records all failed is answered like any other, every message
            # ID listed. Raising instead would return the same messages to the queue, but
            # as a function error (and an alarm) for what is an ordinary retry.
            super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)

        def process(self) -> list[tuple[Any, ...]]:
            workers = max(1, min(len(self.records), MAX_PARALLEL_RECORDS))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
                return list(pool.map(self._process_record, self.records))

    return SideBySide


class SerializedMetrics:
    """A metrics sink that the records of one batch may share.

    Powertools keeps its metric set in a plain dict, read, changed and written back without
    a lock: two threads adding the same new metric at once would lose one of the values.
    """

    def __init__(self, sink: MetricsSink) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def add(self, name: str, unit: MetricUnit, value: float) -> None:
        with self._lock:
            self._sink.add(name, unit, value)
