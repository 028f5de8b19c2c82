"""Leases on a run's item: one writer per job run, duplicates see the outcome."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from archiver.contract import ARCHIVED, INCOMPLETE, PURGED, JobKind
from archiver.models.outputs import StoredObject
from archiver.store.history_table import Claim, HistoryTable, shared_key
from archiver.store.record import HistoryRecord
from botocore.exceptions import ClientError

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


# -- a transcription job and a Call Analytics job of one name ------------------------------

ANALYTICS_START = replace(START, job_kind=JobKind.CALL_ANALYTICS)
TRANSCRIPTION_START = replace(START, job_kind=JobKind.TRANSCRIPTION)


@pytest.mark.parametrize("held_status", [ARCHIVED, INCOMPLETE])
def test_given_the_other_kinds_run_at_the_key_when_claimed_then_it_is_never_taken(
    aws: dict[str, Any], held_status: str
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(TRANSCRIPTION_START, "transcription", now=100.0, lease_until=200.0)
    held = replace(TRANSCRIPTION_START, archive_status=held_status, archive_error=None)
    assert table.complete(held, "transcription")

    # Same name, same CreatedAt to the millisecond, lease long expired: still not ours.
    claim, current = table.claim(ANALYTICS_START, "analytics", now=999.0, lease_until=2000.0)

    assert claim is Claim.OTHER_KIND
    assert current is not None and current.kind is JobKind.TRANSCRIPTION
    item = table.get_run(*KEY)
    assert item is not None
    assert (item.kind, item.archive_status, item.lease_owner) == (
        JobKind.TRANSCRIPTION,
        held_status,
        None,
    )


def test_given_runs_of_both_kinds_at_one_key_then_each_is_found_as_its_own(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(ANALYTICS_START, "analytics", now=100.0, lease_until=200.0)
    aside = replace(TRANSCRIPTION_START, created_at=shared_key(KEY[1], JobKind.TRANSCRIPTION))
    claim, _ = table.claim(aside, "transcription", now=100.0, lease_until=200.0)
    assert claim is Claim.CLAIMED
    assert aside.created_at == "2026-11-23T10:15:02.123Z#TRANSCRIPTION"

    analytics = table.get_run_of(JobKind.CALL_ANALYTICS, *KEY)
    transcription = table.get_run_of(JobKind.TRANSCRIPTION, *KEY)

    assert analytics is not None and analytics.lease_owner == "analytics"
    assert transcription is not None and transcription.lease_owner == "transcription"
    assert [r.kind for r in table.runs(KEY[0])] == [
        JobKind.CALL_ANALYTICS,
        JobKind.TRANSCRIPTION,
    ]


def test_given_an_item_without_kind_when_either_kind_claims_then_it_counts_as_that_run(
    aws: dict[str, Any],
) -> None:
    """Items written before job kinds existed, and purge tombstones, carry no JobKind: a
    tombstone must stop either kind from archiving the erased run again."""
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(record(PURGED))

    claim, held = table.claim(ANALYTICS_START, "analytics", now=100.0, lease_until=200.0)

    assert claim is Claim.SETTLED
    assert held is not None and held.archive_status == PURGED
    assert table.get_run_of(JobKind.CALL_ANALYTICS, *KEY) == held


# -- what a claim costs: one request for a new run and for a duplicate ----------------------


def _count_calls(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def test_given_a_new_run_when_claimed_then_one_put_creates_it_with_what_is_known(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    calls = _count_calls(aws["dynamodb"])
    assert table.claim(START, "owner-a", now=100.0, lease_until=200.0) == (Claim.CLAIMED, None)
    assert calls == ["PutItem"]
    item = table.get_run(*KEY)
    assert item is not None
    assert (item.job_status, item.completed_at, item.archive_status, item.lease_owner) == (
        "COMPLETED",
        "2026-11-23T10:16:40.000Z",
        INCOMPLETE,
        "owner-a",
    )


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        (record(ARCHIVED), Claim.SETTLED),
        (record(PURGED), Claim.SETTLED),
        (replace(START, job_kind=JobKind.CALL_ANALYTICS), Claim.OTHER_KIND),
    ],
)
def test_given_a_settled_or_foreign_run_when_claimed_then_the_put_alone_answers(
    aws: dict[str, Any], held: HistoryRecord, expected: Claim
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(held)
    calls = _count_calls(aws["dynamodb"])
    claim, current = table.claim(TRANSCRIPTION_START, "dup", now=999.0, lease_until=2000.0)
    assert (claim, calls) == (expected, ["PutItem"])
    assert current is not None and current.archive_status == held.archive_status
    assert table.get_run(*KEY) == held  # untouched


def test_given_an_earlier_attempts_outputs_when_claimed_again_then_they_are_kept(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    stored = StoredObject("job.json", "s3://b/p/job.json", 3, "ab" * 32, "application/json")
    earlier = record(INCOMPLETE, ArchiveError="cut", Outputs={"job.json": stored.as_record()})
    assert table.complete(earlier, "owner-a")
    calls = _count_calls(aws["dynamodb"])

    claim, before = table.claim(START, "owner-b", now=300.0, lease_until=400.0)

    assert claim is Claim.CLAIMED and calls == ["PutItem", "UpdateItem"]
    assert before is not None and before.outputs == {"job.json": stored}
    item = table.get_run(*KEY)
    assert item is not None
    assert (item.lease_owner, item.outputs, item.archive_error) == (
        "owner-b",
        {"job.json": stored},
        "archiving under way",
    )


def test_given_another_claim_between_the_put_and_the_update_then_only_one_owner_holds_it(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    assert table.complete(record(INCOMPLETE, ArchiveError="cut"), "owner-a")
    # owner-c's claim lands after owner-b's PutItem saw the item free, before its update.
    raced: list[Claim] = []

    def rival(**_: Any) -> None:
        if not raced:
            raced.append(Claim.BUSY)  # marks the hook as spent before the nested claim
            raced[0] = table.claim(START, "owner-c", now=300.0, lease_until=500.0)[0]

    aws["dynamodb"].meta.events.register("before-call.dynamodb.UpdateItem", rival)
    calls = _count_calls(aws["dynamodb"])

    claim, current = table.claim(START, "owner-b", now=300.0, lease_until=400.0)

    assert raced == [Claim.CLAIMED]
    assert claim is Claim.BUSY
    assert current is not None and current.lease_owner == "owner-c"
    assert "GetItem" not in calls  # the failed update's own answer says who holds it
    item = table.get_run(*KEY)
    assert item is not None and item.lease_owner == "owner-c"


# -- a re-taken lease keeps no stale state (issue: never lose, round three) -----------------


def test_given_a_run_incomplete_for_good_when_its_lease_is_retaken_then_it_is_retryable_again(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    final = record(INCOMPLETE, ArchiveError="transcript.json: over MAX_OUTPUT_BYTES")
    final.retry_archive = False
    final.archived_at = "2026-11-23T10:20:00.000Z"
    final.expires_at = 4_000_000_000
    table.complete(final, "owner-a")

    # A re-drive after the setting was raised takes the lease; then it is cut off (killed).
    retry = replace(START, retry_archive=True, event_id="event-1")
    claim, _ = table.claim(retry, "owner-b", now=300.0, lease_until=400.0)

    assert claim is Claim.CLAIMED
    held = table.get_run(*KEY)
    assert held is not None
    assert held.retry_archive is True  # the sweep retries it once the lease runs out
    assert held.retryable and not held.at_rest
    assert held.archived_at is None  # the earlier attempt's time no longer applies
    assert held.expires_at is None  # nor its expiry, which this attempt does not set
    assert held.event_id == "event-1"
    assert held.archive_error == "archiving under way"


def test_given_a_run_reported_by_an_event_when_another_claims_then_the_first_event_is_kept(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(replace(START, event_id="first"), "owner-a", now=100.0, lease_until=200.0)
    table.claim(replace(START, event_id="second"), "owner-b", now=250.0, lease_until=400.0)
    held = table.get_run(*KEY)
    assert held is not None and held.event_id == "first"


# -- the sweep's floor: conditional writes -------------------------------------------------------


def test_given_no_floor_when_two_sweeps_store_theirs_then_the_lower_stays(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    kind = JobKind.TRANSCRIPTION
    # Both read "no floor"; the first stores a low floor (it holds an unsettled run).
    assert table.set_sweep_floor(kind, "2026-01-01T00:00:00.000Z", read=None, swept_at="t1") == (
        "2026-01-01T00:00:00.000Z"
    )
    stored = table.set_sweep_floor(kind, "2026-06-01T00:00:00.000Z", read=None, swept_at="t2")
    assert stored == "2026-01-01T00:00:00.000Z"
    assert table.sweep_floor(kind) == "2026-01-01T00:00:00.000Z"


def test_given_a_floor_changed_since_read_then_a_sweep_lowers_it_but_never_raises_it(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    kind = JobKind.CALL_ANALYTICS
    table.set_sweep_floor(kind, "2026-03-01T00:00:00.000Z", read=None, swept_at="t0")
    # Sweeps A and B both read March. B stores May; A, holding a run of April, stores April.
    table.set_sweep_floor(
        kind, "2026-05-01T00:00:00.000Z", read="2026-03-01T00:00:00.000Z", swept_at="b"
    )
    stored = table.set_sweep_floor(
        kind, "2026-04-01T00:00:00.000Z", read="2026-03-01T00:00:00.000Z", swept_at="a"
    )
    assert stored == "2026-04-01T00:00:00.000Z"
    # A sweep that read April and wants June, while another lowered it to February: February.
    table.set_sweep_floor(
        kind, "2026-02-01T00:00:00.000Z", read="2026-04-01T00:00:00.000Z", swept_at="c"
    )
    stored = table.set_sweep_floor(
        kind, "2026-06-01T00:00:00.000Z", read="2026-04-01T00:00:00.000Z", swept_at="d"
    )
    assert stored == "2026-02-01T00:00:00.000Z"
    assert table.sweep_floor(kind) == "2026-02-01T00:00:00.000Z"
    assert table.sweep_floor(JobKind.TRANSCRIPTION) is None  # each kind its own


def test_given_an_unchanged_floor_when_a_sweep_raises_it_then_it_moves(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    kind = JobKind.TRANSCRIPTION
    table.set_sweep_floor(kind, "2026-03-01T00:00:00.000Z", read=None, swept_at="t0")
    stored = table.set_sweep_floor(
        kind, "2026-04-01T00:00:00.000Z", read="2026-03-01T00:00:00.000Z", swept_at="t1"
    )
    assert stored == table.sweep_floor(kind) == "2026-04-01T00:00:00.000Z"


# -- markers of runs that are not at rest ---------------------------------------------------------


def test_given_marked_runs_then_they_are_listed_and_cleared_only_by_their_marker(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.mark_unsettled("call-1", KEY[1], JobKind.TRANSCRIPTION, "owner-a")
    table.mark_unsettled(
        "call-2", shared_key(KEY[1], JobKind.CALL_ANALYTICS), JobKind.CALL_ANALYTICS, "owner-x"
    )
    # The run's lease is re-taken and marked again by a later owner.
    table.mark_unsettled("call-1", KEY[1], JobKind.TRANSCRIPTION, "owner-b")

    marked = {(m.job_name, m.run_key, m.kind, m.owner) for m in table.unsettled()}
    assert marked == {
        ("call-1", KEY[1], JobKind.TRANSCRIPTION, "owner-b"),
        ("call-2", shared_key(KEY[1], JobKind.CALL_ANALYTICS), JobKind.CALL_ANALYTICS, "owner-x"),
    }
    table.clear_unsettled("call-1", KEY[1], "owner-a")  # a stale owner clears nothing
    assert len(list(table.unsettled())) == 2
    table.clear_unsettled("call-1", KEY[1], "owner-b")
    assert [m.job_name for m in table.unsettled()] == ["call-2"]
    # Markers are bookkeeping: no history question sees them.
    assert table.runs("call-1") == []


def test_given_markers_over_a_query_page_then_every_page_is_read(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    names = [f"job-{n:03d}-" + "x" * 190 for n in range(600)]
    long_key = KEY[1] + "#" + "k" * 770  # ~2 KB a marker: 600 of them fill over one 1 MB page
    for name in names:
        table.mark_unsettled(name, long_key, JobKind.TRANSCRIPTION, "o")
    queries: list[str] = []
    aws["dynamodb"].meta.events.register(
        "before-call.dynamodb.Query", lambda **_: queries.append("Query")
    )

    assert sorted(m.job_name for m in table.unsettled()) == names
    assert len(queries) > 1


def test_given_a_gone_run_when_settled_then_only_an_unleased_item_changes(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    held = table.get_run(*KEY)
    assert held is not None
    assert not table.settle_gone(held, "the run no longer exists", now=150.0)  # lease live
    assert table.settle_gone(held, "the run no longer exists", now=250.0)
    after = table.get_run(*KEY)
    assert after is not None
    assert (after.archive_status, after.retry_archive, after.lease_owner) == (
        INCOMPLETE,
        False,
        None,
    )
    assert after.at_rest
    assert not table.settle_gone(held, "again", now=300.0)  # its lease is gone: stale view


def test_given_a_name_with_runs_over_a_query_page_then_every_run_is_read(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    big = {"k" + str(n): "v" * 350_000 for n in range(1)}  # ~350 KB an item: 3 a page
    keys = [f"2026-11-23T10:15:0{n}.123Z" for n in range(5)]
    for key in keys:
        assert table.put_if_absent(
            HistoryRecord.from_plain({"JobName": "big", "CreatedAt": key, "Note": big})
        )
    assert [r.created_at for r in table.runs("big")] == keys


def test_given_a_marker_of_a_kind_this_version_does_not_know_then_the_others_are_still_read(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    aws["dynamodb"].put_item(
        TableName=aws["table"],
        Item={
            "JobName": {"S": "#unsettled"},
            "CreatedAt": {"S": "a-first#x"},
            "RunName": {"S": "a-first"},
            "RunKey": {"S": "x"},
            "RunKind": {"S": "PODCAST"},
            "MarkedBy": {"S": "newer-version"},
        },
    )
    table.mark_unsettled("b-later", KEY[1], JobKind.TRANSCRIPTION, "o")
    assert [m.job_name for m in table.unsettled()] == ["b-later"]


def test_given_a_purged_run_then_its_times_are_kept_out_of_every_index(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    run = record(ARCHIVED, JobStatus="FAILED", CompletedAt="2026-11-23T10:16:40.000Z")
    table.note_purged(run)

    kept = table.purged_run(*KEY)

    assert kept is not None
    assert (kept.completed_at, kept.job_status) == ("2026-11-23T10:16:40.000Z", "FAILED")
    assert table.purged_run("call-1", "2026-01-01T00:00:00.000Z") is None
    # What docs/contract.md says the item holds: the run's name, key and kind, two facts.
    raw = aws["dynamodb"].get_item(
        TableName=aws["table"],
        Key={"JobName": {"S": "#purged"}, "CreatedAt": {"S": f"{KEY[0]}#{KEY[1]}"}},
    )["Item"]
    assert {k: v["S"] for k, v in raw.items() if k not in ("JobName", "CreatedAt")} == {
        "RunName": KEY[0],
        "RunKey": KEY[1],
        "RunKind": "TRANSCRIPTION",
        "RunCompletedAt": "2026-11-23T10:16:40.000Z",
        "RunStatus": "FAILED",
    }
    for index in ("ByStatus", "ByLanguage"):
        assert aws["dynamodb"].scan(TableName=aws["table"], IndexName=index)["Items"] == []


def test_given_a_gone_run_settled_then_it_keeps_what_it_held_and_says_why(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    stored = StoredObject("job.json", "s3://b/p/job.json", 3, "ab" * 32, "application/json")
    held = replace(
        record(INCOMPLETE, ArchiveError="cut off", Outputs={"job.json": stored.as_record()}),
        retry_archive=True,
    )
    assert table.put_if_absent(held)  # an attempt that left no lease behind

    assert table.settle_gone(held, "the run no longer exists: gone", now=500.0)

    after = table.get_run(*KEY)
    assert after is not None
    assert (after.archive_status, after.archive_error) == (
        INCOMPLETE,
        "the run no longer exists: gone",
    )
    assert after.outputs == {"job.json": stored}
    assert after.retry_archive is False and after.at_rest
    archived = record(ARCHIVED)
    table._put(archived)  # archived by another invocation meanwhile
    assert not table.settle_gone(archived, "no", now=600.0)  # never over ARCHIVED
    assert table.get_run(*KEY) == archived


def test_given_a_floor_equal_to_anothers_then_it_is_left_as_is(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    kind = JobKind.TRANSCRIPTION
    table.set_sweep_floor(kind, "2026-03-01T00:00:00.000Z", read=None, swept_at="first")
    writes = _count_calls(aws["dynamodb"])
    stored = table.set_sweep_floor(kind, "2026-03-01T00:00:00.000Z", read=None, swept_at="second")
    assert stored == "2026-03-01T00:00:00.000Z"
    assert writes.count("PutItem") == 1  # the failed conditional write, and no second
    item = aws["dynamodb"].get_item(
        TableName=aws["table"], Key={"JobName": {"S": "#sweep"}, "CreatedAt": {"S": kind.value}}
    )["Item"]
    assert item["SweptAt"] == {"S": "first"}


def test_given_an_archived_run_then_the_first_event_noted_is_kept_and_others_left_alone(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table._put(record(ARCHIVED))  # archived by the sweep: no event yet
    table._put(replace(record(INCOMPLETE), job_name="not-archived"))

    table.note_event(*KEY, "event-1")
    table.note_event(*KEY, "event-2")  # a duplicate delivery: the first stays
    table.note_event("not-archived", KEY[1], "event-3")  # only an ARCHIVED run is noted
    table.note_event("never-recorded", KEY[1], "event-4")  # nor an item that is not there

    noted = table.get_run(*KEY)
    assert noted is not None and noted.event_id == "event-1"
    assert noted == replace(record(ARCHIVED), event_id="event-1")
    other = table.get_run("not-archived", KEY[1])
    assert other is not None and other.event_id is None
    assert table.get_run("never-recorded", KEY[1]) is None


def test_given_the_table_refusing_then_noting_an_event_raises(aws: dict[str, Any]) -> None:
    """Only a failed condition is an answer; any other error is the caller's to see."""
    table = HistoryTable(aws["dynamodb"], "no-such-table")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        table.note_event(*KEY, "event-1")


def test_given_a_purged_run_then_what_is_kept_names_that_run(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.note_purged(
        record(ARCHIVED, JobStatus="COMPLETED", CompletedAt="2026-11-23T10:16:40.000Z")
    )

    assert table.purged_run(*KEY) == HistoryRecord(
        KEY[0], KEY[1], completed_at="2026-11-23T10:16:40.000Z", job_status="COMPLETED"
    )


def test_given_a_gone_run_settled_then_no_lease_is_left_on_it(aws: dict[str, Any]) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "owner-a", now=100.0, lease_until=200.0)
    held = table.get_run(*KEY)
    assert held is not None

    assert table.settle_gone(held, "the run no longer exists", now=250.0)

    after = table.get_run(*KEY)
    assert after is not None and (after.lease_owner, after.lease_expires_at) == (None, None)


def test_given_an_unleased_view_then_settling_fails_once_an_invocation_has_leased_it(
    aws: dict[str, Any],
) -> None:
    """Even a lease that has run out since: its owner may be writing, the view is stale."""
    table = HistoryTable(aws["dynamodb"], aws["table"])
    held = replace(record(INCOMPLETE, ArchiveError="cut off"), retry_archive=True)
    assert table.put_if_absent(held)  # read with no lease on it
    table.claim(START, "owner-b", now=300.0, lease_until=400.0)  # a retry leased it since

    assert not table.settle_gone(held, "the run no longer exists", now=450.0)

    after = table.get_run(*KEY)
    assert after is not None and after.lease_owner == "owner-b"


def test_given_a_kinded_run_claimed_again_then_its_kind_is_busy_and_another_kind_steps_aside(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    analytics = replace(START, job_kind=JobKind.CALL_ANALYTICS)
    assert table.claim(analytics, "owner-a", now=100.0, lease_until=200.0)[0] is Claim.CLAIMED

    again, seen = table.claim(analytics, "owner-b", now=101.0, lease_until=201.0)
    other, _ = table.claim(START, "owner-c", now=102.0, lease_until=202.0)  # a transcription run

    assert (again, seen is not None and seen.lease_owner) == (Claim.BUSY, "owner-a")
    assert other is Claim.OTHER_KIND
    # Its lease run out, a retry of its own kind takes it over; the other kind still may not.
    assert table.claim(START, "owner-d", now=300.0, lease_until=400.0)[0] is Claim.OTHER_KIND
    taken, before = table.claim(analytics, "owner-e", now=300.0, lease_until=400.0)
    assert taken is Claim.CLAIMED and before is not None and before.lease_owner == "owner-a"
    item = table.get_run(*KEY)
    assert item is not None and (item.job_kind, item.lease_owner) == (
        JobKind.CALL_ANALYTICS,
        "owner-e",
    )


@pytest.mark.parametrize(
    ("rival_settles", "expected"), [(False, Claim.BUSY), (True, Claim.SETTLED)]
)
def test_given_a_rival_between_the_put_and_the_update_then_the_claim_reports_what_it_left(
    aws: dict[str, Any], rival_settles: bool, expected: Claim
) -> None:
    """A retry's PutItem finds the run free (its lease ran out); before its UpdateItem lands,
    another invocation leases the run (and perhaps archives it): the update must fail on
    its condition and report what the rival left, never take the lease over it."""
    table = HistoryTable(aws["dynamodb"], aws["table"])
    table.claim(START, "dead", now=100.0, lease_until=200.0)  # cut off: its lease runs out
    rival = HistoryTable(boto3.client("dynamodb", region_name="us-east-1"), aws["table"])
    raced: list[bool] = []

    def rival_first(**_: Any) -> None:
        if raced:
            return
        raced.append(True)
        assert rival.claim(START, "rival", now=300.0, lease_until=900.0)[0] is Claim.CLAIMED
        if rival_settles:
            assert rival.complete(record(ARCHIVED), "rival")

    aws["dynamodb"].meta.events.register("before-call.dynamodb.UpdateItem", rival_first)

    claim, seen = table.claim(START, "late", now=300.0, lease_until=900.0)

    assert raced and claim is expected
    assert seen is not None
    item = table.get_run(*KEY)
    assert item is not None and item.lease_owner == (None if rival_settles else "rival")
    assert item.archive_status == (ARCHIVED if rival_settles else INCOMPLETE)


def test_given_a_retry_with_another_folder_then_the_run_keeps_its_first(
    aws: dict[str, Any],
) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    first = replace(START, archive_uri="s3://b/transcripts/call-1/20261123T101502Z/")
    table.claim(first, "first", now=100.0, lease_until=200.0)
    other = replace(START, archive_uri="s3://b/elsewhere/call-1/20261123T101502Z/")

    assert table.claim(other, "retry", now=300.0, lease_until=900.0)[0] is Claim.CLAIMED

    item = table.get_run(*KEY)
    assert item is not None and (item.lease_owner, item.archive_uri) == ("retry", first.archive_uri)
    # A run whose first attempt named no folder takes the retry's.
    table._put(record(INCOMPLETE, ArchiveError="x"))
    assert table.claim(other, "third", now=1000.0, lease_until=1100.0)[0] is Claim.CLAIMED
    item = table.get_run(*KEY)
    assert item is not None and item.archive_uri == other.archive_uri
