"""Reads of the history table for history questions: Query on the table or an index only.

Every read is a ``Query`` (never a ``Scan``), so the cost of a question grows with the size
of its answer, not of the table. Pages are fetched lazily, as the caller reaches them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.contract import COMPLETED_AT, INDEXES, PARTITION_KEY
from archiver.store.record import HistoryRecord, to_dynamo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass
class Filter:
    """A FilterExpression applied after the key condition (DynamoDB counts Limit before it)."""

    expressions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def equals(self, path: tuple[str, ...], value: Any) -> None:
        placeholder = f":f{len(self.values)}"
        parts = []
        for step in path:
            alias = f"#f{len(self.names)}"
            self.names[alias] = step
            parts.append(alias)
        self.expressions.append(f"{'.'.join(parts)} = {placeholder}")
        self.values[placeholder] = value

    def equals_or_missing(self, name: str, value: Any) -> None:
        """``name`` equals ``value``, or the item has no such attribute (its default)."""
        placeholder, alias = f":f{len(self.values)}", f"#f{len(self.names)}"
        self.names[alias] = name
        self.values[placeholder] = value
        self.expressions.append(f"(attribute_not_exists({alias}) OR {alias} = {placeholder})")

    def __bool__(self) -> bool:
        return bool(self.expressions)


class HistoryQueries:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self.table_name = table_name

    def by_index(
        self,
        index: str,
        key_value: str,
        *,
        low: str | None,
        high: str | None,
        where: Filter | None = None,
        page_size: int | None = None,
    ) -> Iterator[HistoryRecord]:
        """Runs in one index partition, newest ``CompletedAt`` first, within [low, high]."""
        names = {"#pk": INDEXES[index][0]}
        values: dict[str, Any] = {":pk": key_value}
        condition = "#pk = :pk"
        if low is not None or high is not None:
            names["#sk"] = COMPLETED_AT
        if low is not None and high is not None:
            condition += " AND #sk BETWEEN :low AND :high"
            values |= {":low": low, ":high": high}
        elif low is not None:
            condition += " AND #sk >= :low"
            values[":low"] = low
        elif high is not None:
            condition += " AND #sk <= :high"
            values[":high"] = high
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
        }
        if where:
            kwargs["FilterExpression"] = " AND ".join(where.expressions)
            names |= where.names
            values |= where.values
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = to_dynamo(values)
        if page_size is not None:
            kwargs["Limit"] = page_size
        return self._pages(kwargs)

    def runs_of(self, job_name: str, *, page_size: int | None = None) -> Iterator[HistoryRecord]:
        """Every run of a job name, newest ``CreatedAt`` (the sort key) first."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": to_dynamo({":pk": job_name}),
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if page_size is not None:
            kwargs["Limit"] = page_size
        return self._pages(kwargs)

    def _pages(self, kwargs: dict[str, Any]) -> Iterator[HistoryRecord]:
        while True:
            page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield HistoryRecord.from_item(item)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs = kwargs | {"ExclusiveStartKey": last}
