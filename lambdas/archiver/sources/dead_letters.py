"""Dead-letter queues as a source of parked events: receive, delete, hide and release."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: SQS's largest batch for receive, delete and visibility changes.
BATCH: Final = 10


@dataclass(frozen=True)
class QueueMessage:
    """One received message: its body and the attributes replay reads."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)  # message attributes


class DeadLetterQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def waiting(self) -> int:
        """About how many messages the queue holds (SQS's approximate count)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def receive(self, *, visibility_timeout: int, wait_seconds: int) -> list[QueueMessage]:
        """Up to one batch of messages, hidden from other readers for ``visibility_timeout``."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return [_message(m) for m in messages]

    def delete(self, message: QueueMessage) -> None:
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

    def set_visibility(self, messages: Iterable[QueueMessage], seconds: int) -> None:
        """Hide (or, with 0, show again) messages this reader holds."""
        pending = list(messages)
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                    for i, m in enumerate(batch)
                ],
            )


def _message(message: Mapping[str, Any]) -> QueueMessage:
    attributes = message.get("MessageAttributes") or {}
    return QueueMessage(
        message_id=str(message.get("MessageId", "")),
        receipt_handle=str(message.get("ReceiptHandle", "")),
        body=str(message.get("Body", "")),
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0) or 0),
        attributes={
            name: str(value.get("StringValue", ""))
            for name, value in attributes.items()
            if isinstance(value, Mapping)
        },
    )
