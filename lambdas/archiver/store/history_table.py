"""The history table: one item per job run, written with conditions so runs never collide.

Concurrency control lives in the run's own item. Before copying anything, an invocation
takes a lease on the item (``LeaseOwner`` / ``LeaseExpiresAt``) with a conditional update
that fails when the run is already ARCHIVED or another live lease holds it. The final
record is written only while the lease is still ours, and replaces the lease attributes.
Two deliveries of one event, in sequence or at once, therefore copy once and write one item.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from archiver.contract import ARCHIVED, PARTITION_KEY, SORT_KEY
from archiver.store.record import HistoryRecord, to_dynamo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class Claim(enum.Enum):
    CLAIMED = "claimed"
    ALREADY_ARCHIVED = "already-archived"
    BUSY = "busy"  # another invocation holds a live lease on the run


class HistoryTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self.name = table_name

    def get_run(self, job_name: str, created_at: str) -> HistoryRecord | None:
        response = self._db.get_item(
            TableName=self.name,
            Key=_key(job_name, created_at),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return HistoryRecord.from_item(item) if item else None

    def runs(self, job_name: str) -> list[HistoryRecord]:
        """Every recorded run of a job name, oldest first (a Query on the partition)."""
        records: list[HistoryRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :n",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": to_dynamo({":n": job_name}),
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            records.extend(HistoryRecord.from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(
        self, job_name: str, created_at: str, owner: str, *, now: float, lease_until: float
    ) -> tuple[Claim, HistoryRecord | None]:
        """Take the run's lease. Returns the outcome and the item as it was before."""
        try:
            response = self._db.update_item(
                TableName=self.name,
                Key=_key(job_name, created_at),
                UpdateExpression="SET LeaseOwner = :owner, LeaseExpiresAt = :until",
                ConditionExpression=(
                    "attribute_not_exists(JobName) OR ("
                    "(attribute_not_exists(ArchiveStatus) OR ArchiveStatus <> :archived) AND "
                    "(attribute_not_exists(LeaseExpiresAt) OR LeaseExpiresAt < :now))"
                ),
                ExpressionAttributeValues=to_dynamo(
                    {":owner": owner, ":until": lease_until, ":archived": ARCHIVED, ":now": now}
                ),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            current = self.get_run(job_name, created_at)
            if current is not None and current.archived:
                return Claim.ALREADY_ARCHIVED, current
            return Claim.BUSY, current
        old = response.get("Attributes")
        return Claim.CLAIMED, HistoryRecord.from_item(old) if old else None

    def complete(self, record: HistoryRecord, owner: str) -> bool:
        """Write the final record if our lease still holds; False if another run took over."""
        return self._put(
            record,
            ConditionExpression="LeaseOwner = :owner",
            ExpressionAttributeValues=to_dynamo({":owner": owner}),
        )

    def put_if_absent(self, record: HistoryRecord) -> bool:
        """Write a record unless the run already has one (no lease needed: no copying)."""
        return self._put(record, ConditionExpression="attribute_not_exists(JobName)")

    def _put(self, record: HistoryRecord, **condition: Any) -> bool:
        try:
            self._db.put_item(TableName=self.name, Item=record.to_item(), **condition)
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True


def _key(job_name: str, created_at: str) -> dict[str, Any]:
    return to_dynamo({PARTITION_KEY: job_name, SORT_KEY: created_at})


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
