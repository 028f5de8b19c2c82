"""Leases on a run's item: one writer per job run, duplicates see the outcome."""

from __future__ import annotations

from typing import Any

from archiver.contract import ARCHIVED, INCOMPLETE
from archiver.models.outputs import StoredObject
from archiver.store.history_table import Claim, HistoryTable
from archiver.store.record import HistoryRecord

KEY = ("call-1", "2026-11-23T10:15:02.123Z")


#: What an invocation knows of the run when it takes the lease.
START = HistoryRecord(
    job_name=KEY[0],
    created_at=KEY[1],
    job_status="COMPLETED",
    completed_at="2026-11-23T10:16:40.000Z",
    archive_status="INCOMPLETE",
    archive_error="archiving under way",
)


def record(status: str, **extra: Any) -> HistoryRecord:
    return HistoryRecord.from_plain(
        {"JobName": KEY[0], "CreatedAt": KEY[1], "ArchiveStatus": status} | extra
    )


def test_given_a_new_run_when_claimed_twice_then_the_second_is_busy(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    first, before = table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    second, seen = table.claim(START, "owner-b", now=101.0, lease_until=201.0)
    assert (first, before) == (Claim.CLAIMED, None)
    assert second is Claim.BUSY
    assert seen is not None and seen.lease_owner == "owner-a"


def test_given_an_expired_lease_when_claimed_then_the_new_owner_takes_over(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    claim, _ = table.claim(START, "owner-b", now=250.0, lease_until=400.0)
    assert claim is Claim.CLAIMED
    assert not table.complete(record(ARCHIVED), "owner-a")  # the dead owner may not write
    assert table.complete(record(ARCHIVED), "owner-b")
    item = table.get_run(*KEY)
    assert item is not None and item.archive_status == ARCHIVED
    assert item.lease_owner is None  # the final record replaces the lease


def test_given_an_archived_run_when_claimed_then_it_is_reported_archived(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    stored = StoredObject("job.json", "s3://b/p/job.json", 3, "ab" * 32, "application/json")
    table.complete(record(ARCHIVED, Outputs={"job.json": stored.as_record()}), "owner-a")
    claim, item = table.claim(START, "owner-b", now=999.0, lease_until=2000.0)
    assert claim is Claim.SETTLED
    assert item is not None and item.outputs == {"job.json": stored}


def test_given_an_incomplete_run_when_claimed_then_it_can_be_retried(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    table.complete(record(INCOMPLETE, ArchiveError="x"), "owner-a")
    claim, before = table.claim(START, "owner-b", now=120.0, lease_until=300.0)
    assert claim is Claim.CLAIMED
    assert before is not None and before.archive_status == INCOMPLETE


def test_given_a_record_when_put_if_absent_twice_then_one_item_stays(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(record(INCOMPLETE, ArchiveError="first", Score=0.25))
    assert not table.put_if_absent(record(INCOMPLETE, ArchiveError="second"))
    runs = table.runs(KEY[0])
    assert [r.archive_error for r in runs] == ["first"]
    # An attribute this version does not know survives the round trip, numbers as numbers.
    assert runs[0].extra["Score"] == 0.25 and isinstance(runs[0].extra["Score"], float)
