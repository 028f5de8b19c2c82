"""The history table: one item per job run, written with conditions so runs never collide.

Concurrency control lives in the run's own item. Before copying anything, an invocation
takes a lease on the item (``LeaseOwner`` / ``LeaseExpiresAt``) with a conditional write
that fails when the run is already ARCHIVED or another live lease holds it. The final
record is written only while the lease is still ours, and replaces the lease attributes.
Two deliveries of one event, in sequence or at once, therefore copy once and write one item.

A transcription job and a Call Analytics job may share a name. Their runs share the
partition, and should two of them also share a CreationTime to the millisecond, the item
at that key belongs to whichever kind took it first: a lease is never taken on the other
kind's item (``Claim.OTHER_KIND``), and the later run is keyed ``{CreatedAt}#{JobKind}``
instead (:func:`shared_key`), so both are recorded and neither overwrites the other.

Two reserved partitions hold the sweep's bookkeeping ('#' is never part of a job name, and
their items have no JobStatus or LanguageCode, so no index and no history question sees
them): the sweep's floor per job kind (``#sweep``), and a marker per run that is not at rest
(``#unsettled``), written when a run's lease is taken and deleted when the run settles, so
that the sweep finds every unsettled run with one Query, whatever its floor says.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from archiver.contract import (
    ARCHIVED,
    INCOMPLETE,
    PARTITION_KEY,
    PURGED,
    PURGED_PARTITION,
    SORT_KEY,
    SWEEP_PARTITION,
    UNSETTLED_PARTITION,
    JobKind,
)
from archiver.store.record import HistoryRecord, from_dynamo, to_dynamo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


#: The partitions of the sweep's floors and of the markers of runs not at rest (contract.py).
SWEEP_ITEM: Final = SWEEP_PARTITION
UNSETTLED_ITEM: Final = UNSETTLED_PARTITION
#: Attempts at storing a floor while other sweeps keep storing theirs.
_FLOOR_ATTEMPTS: Final = 5
#: The lease's own attributes, which a claim sets explicitly.
_LEASE_ATTRIBUTES: Final = ("LeaseOwner", "LeaseExpiresAt", "EventId")
#: Attributes an earlier attempt may have left that a new attempt must not keep unless it
#: sets them itself.
_RESET_ATTRIBUTES: Final = ("ArchivedAt", "ExpiresAt", "ArchiveError")


class Claim(enum.Enum):
    CLAIMED = "claimed"
    SETTLED = "settled"  # ARCHIVED (or PURGED): nothing more to do for the run
    BUSY = "busy"  # another invocation holds a live lease on the run
    OTHER_KIND = "other kind"  # the key holds a run of the other job kind


@dataclass(frozen=True)
class Marker:
    """A run that was not at rest when ``owner`` (a lease owner) marked it."""

    job_name: str
    run_key: str  # the sort key (CreatedAt) of the run's item
    kind: JobKind
    owner: str


class FloorContendedError(Exception):
    """Other sweeps kept storing their floors while this one tried to store its own."""


def shared_key(created_at: str, kind: JobKind) -> str:
    """The sort key of a run whose CreatedAt is already taken by a run of the other kind."""
    return f"{created_at}#{kind.value}"


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

    def get_run_of(self, kind: JobKind, job_name: str, created_at: str) -> HistoryRecord | None:
        """The recorded run of ``kind`` created at ``created_at`` (see :func:`shared_key`)."""
        held = self.get_run(job_name, created_at)
        if held is not None and not _other_kind(held, kind):
            return held
        if held is None:
            return None
        return self.get_run(job_name, shared_key(created_at, kind))

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
        self, start: HistoryRecord, owner: str, *, now: float, lease_until: float
    ) -> tuple[Claim, HistoryRecord | None]:
        """Take the run's lease. Returns the outcome and the item as it was before.

        With the lease, the item gets what is already known of the run (``start``: status,
        times, languages, ArchiveStatus INCOMPLETE with the reason "under way"), so a run cut
        off before its final record is still listed, by every index, from the first moment.
        Outputs an earlier attempt archived are kept as they are.

        A run seen for the first time (nearly every one) is created whole by one conditional
        PutItem. Only when its item exists already does the answer of that PutItem (the item,
        returned with the failed condition) decide: settled, the other kind's, or leased by
        a live invocation ends it there; otherwise a conditional UpdateItem takes the lease
        and keeps what the earlier attempt recorded. Duplicates thus cost one request, and a
        first delivery writes no update expression (which the embedded AWS is slow to parse).
        """
        leased = replace(start, outputs={}, lease_owner=owner, lease_expires_at=lease_until)
        try:
            self._db.put_item(
                TableName=self.name,
                Item=leased.to_item(),
                ConditionExpression="attribute_not_exists(JobName)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim.CLAIMED, None
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            current = _held(exc)
        verdict = None if current is None else _verdict(current, start.kind, now)
        if verdict is not None:
            return verdict, current
        return self._update_claim(start, owner, now=now, lease_until=lease_until)

    def _update_claim(
        self, start: HistoryRecord, owner: str, *, now: float, lease_until: float
    ) -> tuple[Claim, HistoryRecord | None]:
        """The lease on an existing item (an earlier attempt's), under the same conditions."""
        # Every attribute the new attempt knows, internal ones included (RetryArchive,
        # ExpiresAt): a lease re-taken on a run recorded INCOMPLETE for good must not keep
        # RetryArchive=false, or a cut-off re-drive would leave it where no sweep looks.
        plain = start.to_plain(internal=True)
        known = {
            k: v
            for k, v in plain.items()
            if k not in (PARTITION_KEY, SORT_KEY, "Outputs", *_LEASE_ATTRIBUTES)
        }
        # What the new attempt does not have yet goes: an earlier attempt's ArchivedAt, an
        # expiry the stack no longer sets.
        stale = [a for a in _RESET_ATTRIBUTES if a not in plain]
        names = {f"#a{i}": k for i, k in enumerate(known)}
        values = {f":a{i}": v for i, v in enumerate(known.values())}
        sets = [f"{n} = {v}" for n, v in zip(names, values, strict=True)]
        extra_values: dict[str, Any] = {}
        if "ArchiveUri" in known:
            # The run keeps the folder its first attempt chose (logic/archive.py).
            index = list(known).index("ArchiveUri")
            sets[index] = f"#a{index} = if_not_exists(#a{index}, :a{index})"
        if start.event_id is not None:
            # The run keeps the first event that reported it (see HistoryRecord.event_id).
            sets.append("EventId = if_not_exists(EventId, :event)")
            extra_values[":event"] = start.event_id
        expression = "SET " + ", ".join(["LeaseOwner = :owner", "LeaseExpiresAt = :until", *sets])
        if stale:
            expression += " REMOVE " + ", ".join(stale)
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": _key(start.job_name, start.created_at),
            "UpdateExpression": expression,
            "ConditionExpression": (
                "attribute_not_exists(JobName) OR ("
                # An item without JobKind predates job kinds (or is a purge tombstone,
                # which keeps no kind): it is taken as this run's.
                "(attribute_not_exists(JobKind) OR JobKind = :kind) AND "
                "(attribute_not_exists(ArchiveStatus) OR NOT ArchiveStatus IN "
                "(:archived, :purged)) AND "
                "(attribute_not_exists(LeaseExpiresAt) OR LeaseExpiresAt < :now))"
            ),
            "ExpressionAttributeValues": to_dynamo(
                {
                    ":owner": owner,
                    ":until": lease_until,
                    ":kind": start.kind.value,
                    ":archived": ARCHIVED,
                    ":purged": PURGED,
                    ":now": now,
                }
                | values
                | extra_values
            ),
            "ReturnValues": "ALL_OLD",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            response = self._db.update_item(**request)
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            # Another invocation took the item since the PutItem saw it.
            current = _held(exc)
            verdict = None if current is None else _verdict(current, start.kind, now)
            return verdict or Claim.BUSY, current
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

    # -- the sweep's watermark ------------------------------------------------------------

    def sweep_floor(self, kind: JobKind) -> str | None:
        """Where the last sweep of ``kind`` left off: every job created before it was
        finished and swept then (ISO time), or None before the first sweep."""
        response = self._db.get_item(
            TableName=self.name, Key=_key(SWEEP_ITEM, kind.value), ConsistentRead=True
        )
        item = response.get("Item") or {}
        floor = item.get("Floor", {}).get("S")
        return str(floor) if floor else None

    def set_sweep_floor(self, kind: JobKind, floor: str, *, read: str | None, swept_at: str) -> str:
        """Store ``floor`` as the kind's floor, if no other sweep stored one since this
        sweep read ``read``; otherwise store the lower of the two. Returns the stored floor.

        A conditional write, so that of two sweeps at once the later writer can only lower
        the other's floor, never raise it past a run the other still protects.
        """
        expected = read
        for _ in range(_FLOOR_ATTEMPTS):
            request: dict[str, Any] = {
                "TableName": self.name,
                "Item": to_dynamo(
                    {PARTITION_KEY: SWEEP_ITEM, SORT_KEY: kind.value, "Floor": floor}
                    | {"SweptAt": swept_at}
                ),
                "ConditionExpression": "attribute_not_exists(Floor)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if expected is not None:
                request["ConditionExpression"] = "Floor = :read"
                request["ExpressionAttributeValues"] = to_dynamo({":read": expected})
            try:
                self._db.put_item(**request)
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                item = cast("dict[str, Any] | None", exc.response.get("Item")) or {}
                stored = from_dynamo(item).get("Floor")
                expected = stored if isinstance(stored, str) else None
                if expected is not None and expected <= floor:
                    return expected  # another sweep's floor protects at least as much
                continue
            return floor
        raise FloorContendedError(
            f"the {kind.value} floor kept changing under {_FLOOR_ATTEMPTS} attempts"
        )

    # -- runs that are not at rest ----------------------------------------------------------

    def mark_unsettled(self, job_name: str, run_key: str, kind: JobKind, owner: str) -> None:
        """Note that the run may not settle on its own (its lease was just taken)."""
        self._db.put_item(
            TableName=self.name,
            Item=to_dynamo(
                {
                    PARTITION_KEY: UNSETTLED_ITEM,
                    SORT_KEY: _marker_key(job_name, run_key),
                    "RunName": job_name,
                    "RunKey": run_key,
                    "RunKind": kind.value,
                    "MarkedBy": owner,
                }
            ),
        )

    def clear_unsettled(self, job_name: str, run_key: str, owner: str) -> None:
        """Drop the run's marker, unless a later lease holder has marked it since."""
        try:
            self._db.delete_item(
                TableName=self.name,
                Key=_key(UNSETTLED_ITEM, _marker_key(job_name, run_key)),
                ConditionExpression="MarkedBy = :owner",
                ExpressionAttributeValues=to_dynamo({":owner": owner}),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def unsettled(self) -> Iterator[Marker]:
        """Every marked run (a Query on the markers' partition, never a Scan)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :p",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": to_dynamo({":p": UNSETTLED_ITEM}),
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_dynamo(raw)
                kind = str(item.get("RunKind"))
                if kind not in JobKind._value2member_map_:
                    continue  # a kind this version does not know: a newer version's marker
                yield Marker(item["RunName"], item["RunKey"], JobKind(kind), item["MarkedBy"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- purged runs' completion --------------------------------------------------------------

    def note_purged(self, run: HistoryRecord) -> None:
        """Keep when a run about to be purged completed, and with what status, beside its
        tombstone (which keeps neither): no name of a person, no content of the call."""
        self._db.put_item(
            TableName=self.name,
            Item=to_dynamo(
                {
                    PARTITION_KEY: PURGED_PARTITION,
                    SORT_KEY: _marker_key(run.job_name, run.created_at),
                    "RunName": run.job_name,
                    "RunKey": run.created_at,
                    "RunKind": run.kind.value,
                    # Not CompletedAt / JobStatus: those are index keys, and this item must
                    # stay out of every history question.
                    "RunCompletedAt": run.completed_at,
                    "RunStatus": run.job_status,
                }
            ),
        )

    def purged_run(self, job_name: str, run_key: str) -> HistoryRecord | None:
        """What :meth:`note_purged` kept of a purged run (CompletedAt, JobStatus), or None."""
        response = self._db.get_item(
            TableName=self.name,
            Key=_key(PURGED_PARTITION, _marker_key(job_name, run_key)),
            ConsistentRead=True,
        )
        item = from_dynamo(response.get("Item") or {})
        if not item:
            return None
        return HistoryRecord(
            job_name,
            run_key,
            completed_at=item.get("RunCompletedAt"),
            job_status=item.get("RunStatus"),
        )

    def note_event(self, job_name: str, run_key: str, event_id: str) -> None:
        """Remember the event that reported an ARCHIVED run that the sweep archived first."""
        try:
            self._db.update_item(
                TableName=self.name,
                Key=_key(job_name, run_key),
                UpdateExpression="SET EventId = :event",
                ConditionExpression="attribute_not_exists(EventId) AND ArchiveStatus = :archived",
                ExpressionAttributeValues=to_dynamo({":event": event_id, ":archived": ARCHIVED}),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def settle_gone(self, held: HistoryRecord, reason: str, *, now: float) -> bool:
        """Record a run Transcribe no longer has as INCOMPLETE for good, keeping what its
        item held; False if an invocation took its lease since ``held`` was read."""
        record = replace(
            held,
            archive_status=INCOMPLETE,
            archive_error=reason,
            retry_archive=False,
            lease_owner=None,
            lease_expires_at=None,
        )
        values: dict[str, Any] = {":now": now, ":archived": ARCHIVED, ":purged": PURGED}
        if held.lease_owner is not None:
            owner = "LeaseOwner = :owner"
            values[":owner"] = held.lease_owner
        else:
            owner = "attribute_not_exists(LeaseOwner)"
        return self._put(
            record,
            ConditionExpression=(
                f"attribute_exists(JobName) AND {owner} AND "
                "(attribute_not_exists(LeaseExpiresAt) OR LeaseExpiresAt < :now) AND "
                "NOT ArchiveStatus IN (:archived, :purged)"
            ),
            ExpressionAttributeValues=to_dynamo(values),
        )

    def _put(self, record: HistoryRecord, **condition: Any) -> bool:
        try:
            self._db.put_item(TableName=self.name, Item=record.to_item(), **condition)
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    # -- purge: lease and tombstones ----------------------------------------------------
    # Purge holds a run with the archiver's own lease attributes, so an invocation that
    # comes for the run meanwhile finds it leased (BUSY) or settled, never free to copy.
    # Once purge starts deleting, the item says PURGED with ArchiveError "purge under way"
    # (logic/purge.py); the tombstone it becomes at the end has no ArchiveError, no lease,
    # and is never written over: every purge write is conditional on purge's own lease.

    @staticmethod
    def is_tombstone(item: HistoryRecord) -> bool:
        """An erased run's final item (a purge that was cut off still has ArchiveError)."""
        return item.archive_status == PURGED and item.archive_error is None

    def lease_for_purge(
        self, job_name: str, created_at: str, owner: str, *, now: float, lease_until: float
    ) -> tuple[bool, HistoryRecord | None]:
        """Take the run's lease for a purge; returns whether it was taken and the item as it
        was (None: no such item). Never taken on a tombstone, nor while a lease is live."""
        try:
            response = self._db.update_item(
                TableName=self.name,
                Key=_key(job_name, created_at),
                UpdateExpression="SET LeaseOwner = :owner, LeaseExpiresAt = :until",
                ConditionExpression=(
                    "attribute_exists(JobName) AND "
                    "(attribute_not_exists(ArchiveStatus) OR ArchiveStatus <> :purged OR "
                    "attribute_exists(ArchiveError)) AND "
                    "(attribute_not_exists(LeaseExpiresAt) OR LeaseExpiresAt < :now)"
                ),
                ExpressionAttributeValues=to_dynamo(
                    {":owner": owner, ":until": lease_until, ":purged": PURGED, ":now": now}
                ),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False, _held(exc)
        old = response.get("Attributes")
        return True, HistoryRecord.from_item(old) if old else None

    def put_under_lease(self, record: HistoryRecord, owner: str) -> bool:
        """Replace the run's item with ``record`` while ``owner`` holds its lease."""
        return self._put(
            record,
            ConditionExpression="LeaseOwner = :owner",
            ExpressionAttributeValues=to_dynamo({":owner": owner}),
        )

    def release_lease(self, job_name: str, created_at: str, owner: str) -> bool:
        """Give the lease back (the item otherwise as it is) if ``owner`` still holds it."""
        try:
            self._db.update_item(
                TableName=self.name,
                Key=_key(job_name, created_at),
                UpdateExpression="REMOVE LeaseOwner, LeaseExpiresAt",
                ConditionExpression="LeaseOwner = :owner",
                ExpressionAttributeValues=to_dynamo({":owner": owner}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True


def _verdict(current: HistoryRecord, kind: JobKind, now: float) -> Claim | None:
    """Why an existing item may not be leased now, or None if it may."""
    if _other_kind(current, kind):
        return Claim.OTHER_KIND
    if current.settled:
        return Claim.SETTLED
    if current.lease_is_live(now):
        return Claim.BUSY
    return None


def _marker_key(job_name: str, run_key: str) -> str:
    return f"{job_name}#{run_key}"


def _other_kind(item: HistoryRecord, kind: JobKind) -> bool:
    return item.job_kind is not None and item.job_kind is not kind


def _key(job_name: str, created_at: str) -> dict[str, Any]:
    return to_dynamo({PARTITION_KEY: job_name, SORT_KEY: created_at})


def _held(exc: ClientError) -> HistoryRecord | None:
    """The item a failed condition was checked against (ReturnValuesOnConditionCheckFailure
    ALL_OLD; botocore's error type does not declare the field, hence the cast)."""
    item = cast("dict[str, Any] | None", exc.response.get("Item"))
    return HistoryRecord.from_item(item) if item else None


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
