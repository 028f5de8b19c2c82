"""Purge's lease and tombstones on the history table: a tombstone is never written over."""

from __future__ import annotations

from typing import Any

from archiver.contract import ARCHIVED, PURGED, JobKind
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord

KEY = ("call-1", "2026-11-23T10:15:02.123Z")


def item(status: str, **extra: Any) -> HistoryRecord:
    return HistoryRecord.from_plain(
        {"JobName": KEY[0], "CreatedAt": KEY[1], "ArchiveStatus": status} | extra
    )


TOMBSTONE = item(
    PURGED, JobKind="CALL_ANALYTICS", PurgedAt="t", PurgedBy="arn", PurgeReason="GDPR 1"
)


def test_given_a_tombstone_then_no_purge_takes_its_lease_nor_writes_over_it(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(TOMBSTONE)

    taken, seen = table.lease_for_purge(*KEY, "purge-b", now=100.0, lease_until=200.0)

    assert not taken and seen == TOMBSTONE
    assert HistoryTable.is_tombstone(TOMBSTONE)
    assert not table.put_under_lease(item(PURGED, PurgeReason=""), "purge-b")
    assert not table.release_lease(*KEY, "purge-b")
    assert table.get_run(*KEY) == TOMBSTONE


def test_given_a_live_lease_then_purge_waits_and_after_it_runs_out_takes_it(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(item(ARCHIVED, LeaseOwner="invocation", LeaseExpiresAt=150))

    taken, seen = table.lease_for_purge(*KEY, "purge-a", now=100.0, lease_until=700.0)
    assert not taken and seen is not None and seen.lease_owner == "invocation"

    taken, before = table.lease_for_purge(*KEY, "purge-a", now=151.0, lease_until=751.0)
    assert taken and before is not None and before.archive_status == ARCHIVED
    held = table.get_run(*KEY)
    assert held is not None and (held.lease_owner, held.lease_expires_at) == ("purge-a", 751)
    assert not table.put_under_lease(item(PURGED), "invocation")  # the old owner may not write


def test_given_purge_holds_the_run_then_it_replaces_the_item_and_gives_the_lease_back(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(item(ARCHIVED, JobKind="TRANSCRIPTION"))
    assert table.lease_for_purge(*KEY, "purge-a", now=1.0, lease_until=2.0)[0]

    assert table.release_lease(*KEY, "purge-a")
    back = table.get_run(*KEY)
    assert back == item(ARCHIVED, JobKind="TRANSCRIPTION")

    assert table.lease_for_purge(*KEY, "purge-a", now=1.0, lease_until=2.0)[0]
    under_way = item(PURGED, ArchiveError="purge under way", LeaseOwner="purge-a")
    assert table.put_under_lease(under_way, "purge-a")
    assert not HistoryTable.is_tombstone(under_way)
    # An unfinished purge (PURGED, ArchiveError) is taken over once its lease is gone.
    assert table.lease_for_purge(*KEY, "purge-b", now=10.0, lease_until=20.0)[0]
    final = item(PURGED, JobKind=JobKind.TRANSCRIPTION.value, PurgeReason="r")
    assert table.put_under_lease(final, "purge-b")
    stored = table.get_run(*KEY)
    assert stored == final and stored.lease_owner is None


def test_given_no_item_then_purge_takes_no_lease_and_creates_nothing(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.lease_for_purge(*KEY, "purge-a", now=1.0, lease_until=2.0) == (False, None)
    assert table.get_run(*KEY) is None
