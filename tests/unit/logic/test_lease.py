"""Taking a run's lease: wait out a live holder (with backoff and jitter) until the deadline,
step aside from the other kind's item, and lease long enough to outlive the copy."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from archiver.contract import ARCHIVED, INCOMPLETE, JobKind
from archiver.deadline import Deadline
from archiver.errors import RetryableArchiveError
from archiver.logic.lease import take_lease
from archiver.store.history_table import Claim
from archiver.store.record import HistoryRecord

CREATED = "2026-11-23T10:15:02.123Z"
START = HistoryRecord("call-1", CREATED, job_kind=JobKind.TRANSCRIPTION, job_status="COMPLETED")


@dataclass
class ScriptedTable:
    """Answers each claim with the next of ``answers``; records what it was asked."""

    answers: list[tuple[Claim, HistoryRecord | None]]
    asked: list[dict[str, Any]] = field(default_factory=list)

    def claim(
        self, start: HistoryRecord, owner: str, *, now: float, lease_until: float
    ) -> tuple[Claim, HistoryRecord | None]:
        self.asked.append(
            {"key": start.created_at, "owner": owner, "now": now, "until": lease_until}
        )
        return self.answers.pop(0)


def held(**fields: Any) -> HistoryRecord:
    return HistoryRecord("call-1", CREATED, job_kind=JobKind.TRANSCRIPTION, **fields)


def live() -> HistoryRecord:
    return held(archive_status=INCOMPLETE, lease_owner="other", lease_expires_at=time.time() + 60)


def lease(table: ScriptedTable, deadline: float = 100.0, sleeps: list[float] | None = None) -> Any:
    naps = sleeps if sleeps is not None else []
    return take_lease(
        table,  # type: ignore[arg-type]
        START,
        "me",
        deadline=Deadline.after(deadline),
        busy_poll=0.2,
        sleep=naps.append,
    )


def test_given_a_new_run_then_it_is_claimed_at_its_own_key_with_a_lease_beyond_the_deadline() -> (
    None
):
    table = ScriptedTable([(Claim.CLAIMED, None)])
    before = time.time()

    previous, key = lease(table, deadline=100.0)

    assert (previous, key) == (None, CREATED)
    (asked,) = table.asked
    assert asked["owner"] == "me"
    assert before <= asked["now"] <= time.time()
    # The deadline's time left, plus 90 s for the holder to record: never shorter.
    assert asked["until"] - asked["now"] == pytest.approx(190.0, abs=1.0)


def test_given_an_expired_deadline_then_the_lease_still_covers_the_recording() -> None:
    table = ScriptedTable([(Claim.CLAIMED, None)])
    lease(table, deadline=-30.0)
    assert table.asked[0]["until"] - table.asked[0]["now"] == pytest.approx(90.0, abs=1.0)


def test_given_a_settled_run_then_its_item_is_returned_without_waiting() -> None:
    archived = held(archive_status=ARCHIVED)
    sleeps: list[float] = []
    table = ScriptedTable([(Claim.SETTLED, archived)])

    assert lease(table, sleeps=sleeps) == (archived, CREATED)
    assert sleeps == []


def test_given_the_other_kinds_item_at_the_key_then_the_run_is_keyed_beside_it() -> None:
    table = ScriptedTable([(Claim.OTHER_KIND, held()), (Claim.CLAIMED, None)])

    previous, key = lease(table)

    assert key == f"{CREATED}#TRANSCRIPTION"
    assert previous is None
    assert [a["key"] for a in table.asked] == [CREATED, key]


def test_given_the_other_kind_at_both_keys_then_it_waits_rather_than_loop_on_keys() -> None:
    table = ScriptedTable(
        [(Claim.OTHER_KIND, held()), (Claim.OTHER_KIND, live()), (Claim.CLAIMED, None)]
    )
    sleeps: list[float] = []

    _, key = lease(table, sleeps=sleeps)

    assert key == f"{CREATED}#TRANSCRIPTION"
    assert len(sleeps) == 1  # the second OTHER_KIND came with a live lease: wait, then retry


def test_given_a_live_holder_then_it_waits_with_growing_jittered_pauses_until_it_may_claim() -> (
    None
):
    answers: list[tuple[Claim, HistoryRecord | None]] = [(Claim.BUSY, live())] * 6
    table = ScriptedTable([*answers, (Claim.CLAIMED, held())])
    sleeps: list[float] = []

    previous, key = lease(table, sleeps=sleeps)

    assert key == CREATED and previous is not None
    assert len(sleeps) == 6
    bases = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]  # doubling, capped at 5 s
    for slept, base in zip(sleeps, bases, strict=True):
        assert 0.5 * base <= slept <= 1.5 * base


def test_given_a_holder_that_finished_then_it_claims_again_without_sleeping() -> None:
    finished = held(archive_status=INCOMPLETE, retry_archive=True)  # no live lease
    table = ScriptedTable([(Claim.BUSY, finished), (Claim.CLAIMED, finished)])
    sleeps: list[float] = []

    lease(table, sleeps=sleeps)

    assert sleeps == []
    assert len(table.asked) == 2


def test_given_a_holder_past_the_deadline_then_it_raises_for_a_retry_naming_the_run() -> None:
    table = ScriptedTable([(Claim.BUSY, live())] * 50)
    sleeps: list[float] = []

    with pytest.raises(RetryableArchiveError, match=f"call-1.*still archiving run {CREATED}"):
        lease(table, deadline=5.1, sleeps=sleeps)

    assert sleeps == []  # 5.1 s left is under one pause plus the 5 s margin: no wait
    assert len(table.asked) == 1


def test_given_time_for_a_few_pauses_then_it_waits_only_while_the_deadline_allows() -> None:
    table = ScriptedTable([(Claim.BUSY, live())] * 50)
    sleeps: list[float] = []

    with pytest.raises(RetryableArchiveError):
        lease(table, deadline=5.5, sleeps=sleeps)

    assert len(sleeps) == len(table.asked) - 1 >= 1


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that stands still (at 0) and jitter at its middle: exact figures."""
    monkeypatch.setattr(time, "time", lambda: 0.0)
    monkeypatch.setattr(random, "random", lambda: 0.5)


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize(("left", "until"), [(100.0, 190.0), (-30.0, 90.0)])
def test_given_a_clock_then_the_lease_ends_exactly_90_s_after_the_deadline(
    left: float, until: float
) -> None:
    table = ScriptedTable([(Claim.CLAIMED, None)])
    lease(table, deadline=left)
    assert (table.asked[0]["now"], table.asked[0]["until"]) == (0.0, until)


@pytest.mark.usefixtures("frozen")
def test_given_a_long_wait_then_the_pauses_double_from_the_poll_and_stop_at_5_s() -> None:
    table = ScriptedTable(
        [*[(Claim.BUSY, held(lease_owner="o", lease_expires_at=60.0))] * 8, (Claim.CLAIMED, None)]
    )
    sleeps: list[float] = []
    lease(table, sleeps=sleeps)
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


@pytest.mark.usefixtures("frozen")
def test_given_exactly_one_pause_and_the_margin_left_then_it_still_waits_once() -> None:
    table = ScriptedTable([(Claim.BUSY, held(lease_owner="o", lease_expires_at=60.0))] * 3)
    sleeps: list[float] = []
    with pytest.raises(RetryableArchiveError):
        lease(table, deadline=5.2, sleeps=sleeps)  # 0.2 s pause + 5 s margin: just enough
    assert sleeps == [0.2]
