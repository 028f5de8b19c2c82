"""The history table: one item per job run, written with conditions so runs never collide.

Concurrency control lives in the run's own item. Before copying anything, an invocation
takes a lease on the item (``LeaseOwner`` / ``LeaseExpiresAt``) with a conditional update
that fails when the run is already ARCHIVED or another live lease holds it. The final
record is written only while the lease is still ours, and replaces the lease attributes.
Two deliveries of one event, in sequence or at once, therefore copy once and write one item.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ARCHIVED = "ARCHIVED"
INCOMPLETE = "INCOMPLETE"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class Claim(enum.Enum):
    CLAIMED = "claimed"
    ALREADY_ARCHIVED = "already-archived"
    BUSY = "busy"  # another invocation holds a live lease on the run


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python (floats included) to DynamoDB's attribute-value form."""
    return {k: _serializer.serialize(_decimals(v)) for k, v in item.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's attribute-value form to plain Python (numbers as int or float)."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


class HistoryTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self.name = table_name

    def get_run(self, job_name: str, created_at: str) -> dict[str, Any] | None:
        response = self._db.get_item(
            TableName=self.name,
            Key=to_dynamo({"JobName": job_name, "CreatedAt": created_at}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_dynamo(item) if item else None

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        """Every recorded run of a job name, oldest first (a Query on the partition)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "JobName = :n",
            "ExpressionAttributeValues": to_dynamo({":n": job_name}),
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(from_dynamo(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(
        self, job_name: str, created_at: str, owner: str, *, now: float, lease_until: float
    ) -> tuple[Claim, dict[str, Any] | None]:
        """Take the run's lease. Returns the outcome and the item as it was before."""
        try:
            response = self._db.update_item(
                TableName=self.name,
                Key=to_dynamo({"JobName": job_name, "CreatedAt": created_at}),
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
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get_run(job_name, created_at)
            if current and current.get("ArchiveStatus") == ARCHIVED:
                return Claim.ALREADY_ARCHIVED, current
            return Claim.BUSY, current
        old = response.get("Attributes")
        return Claim.CLAIMED, from_dynamo(old) if old else None

    def complete(self, record: dict[str, Any], owner: str) -> bool:
        """Write the final record if our lease still holds; False if another run took over."""
        try:
            self._db.put_item(
                TableName=self.name,
                Item=to_dynamo(record),
                ConditionExpression="LeaseOwner = :owner",
                ExpressionAttributeValues=to_dynamo({":owner": owner}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_if_absent(self, record: dict[str, Any]) -> bool:
        """Write a record unless the run already has one (no lease needed: no copying)."""
        try:
            self._db.put_item(
                TableName=self.name,
                Item=to_dynamo(record),
                ConditionExpression="attribute_not_exists(JobName)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value
