"""Never lose, round three: the safety nets themselves. Every scenario an outside review
found ending with a finished run unrecorded, unsettled for good, or silent — driven through
the handler (as the schedule and the queue invoke it) and the CLI, over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from archiver.store.history_table import HistoryTable
from archiver.timefmt import iso_ms

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe, Fault, GeneratedContent
from tests.integration.helpers import World, cli, metrics_emitted, only_run, runs

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
SWEEP = {"action": "sweep", "overlapMinutes": 15}
NOW = datetime.now(UTC)


class NetWorld(World):
    def sweep(self, **request: Any) -> dict[str, Any]:
        """The sweep, invoked as the stack's schedule invokes it."""
        return self.invoke(SWEEP | request)

    def floor(self, kind: str = "TRANSCRIPTION") -> str | None:
        """The sweep's stored floor of a kind (its bookkeeping item in the table)."""
        item = self.db.get_item(
            TableName=self.table,
            Key={"JobName": {"S": "#sweep"}, "CreatedAt": {"S": kind}},
            ConsistentRead=True,
        ).get("Item")
        return item["Floor"]["S"] if item else None

    def expire_lease(self, name: str) -> None:
        """Let time pass until the run's lease runs out (lease = deadline + 90 s)."""
        item = only_run(self.db, self.table, name)
        self.db.update_item(
            TableName=self.table,
            Key={"JobName": {"S": name}, "CreatedAt": {"S": item["CreatedAt"]}},
            UpdateExpression="SET LeaseExpiresAt = :past",
            ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
        )

    def killed_mid_copy(self, request: dict[str, Any], name: str) -> None:
        """Run the handler in a process and kill it (SIGKILL, as Lambda's timeout does) once
        the run's item says archiving is under way; the job's link must be slow."""
        script = (
            "import json, sys\n"
            "from archiver.handler import handler\n"
            "from local_aws.lambda_context import FakeLambdaContext\n"
            "handler(json.loads(sys.argv[1]), FakeLambdaContext())\n"
        )
        env = os.environ | self.env.environ
        env["PYTHONPATH"] = f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"
        process = subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(request)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = runs(self.db, self.table, name)
                if found and "under way" in found[0].get("ArchiveError", ""):
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"{name} was never leased")
            time.sleep(0.3)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> NetWorld:
    return NetWorld(embedded_aws, archive_env, fake_transcribe)


# -- 1. a late event of a reused name, with an older run of that name in the table ----------


def test_given_an_archived_run_when_a_reused_names_deleted_run_reports_late_then_it_is_recorded(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("reused", completion_time=NOW - timedelta(minutes=10))
    assert world.invoke(fake.event_for("reused"))["outcome"] == "ARCHIVED"
    r1 = only_run(world.db, world.table, "reused")
    fake.delete_job("reused")
    fake.add_job("reused")  # R2: same name, same status, completes now
    late = fake.event_for("reused")
    fake.delete_job("reused")  # deleted before its event is handled (a queue backlog)

    result = world.invoke(late)

    assert result["outcome"] == "INCOMPLETE"
    items = {r["CreatedAt"]: r for r in runs(world.db, world.table, "reused")}
    assert len(items) == 2
    r2 = items[result["createdAt"]]
    assert r2["CreatedAt"] == late["time"].replace("Z", ".000Z")
    assert "the run no longer exists" in r2["ArchiveError"]
    assert items[r1["CreatedAt"]] == r1  # R1 untouched


def test_given_a_reused_name_failing_again_seconds_later_then_each_run_has_its_own_item(
    world: NetWorld,
) -> None:
    fake = world.fake
    completed = NOW.replace(microsecond=100_000)
    fake.add_job("retried", status="FAILED", completion_time=completed)
    first = fake.event_for("retried")
    assert world.invoke(first)["outcome"] == "ARCHIVED"
    fake.delete_job("retried")
    # A script resubmits at once; R2 fails the same way five seconds later.
    fake.add_job("retried", status="FAILED", completion_time=completed + timedelta(seconds=5))
    late = fake.event_for("retried")
    fake.delete_job("retried")

    assert world.invoke(late)["outcome"] == "INCOMPLETE"
    assert len(runs(world.db, world.table, "retried")) == 2
    # Later deliveries of either event are answered by their own item, never a third one.
    assert world.invoke(late)["outcome"] == "DUPLICATE"
    assert world.invoke(first)["outcome"] == "DUPLICATE"
    assert len(runs(world.db, world.table, "retried")) == 2


def test_given_a_run_the_sweep_archived_when_its_own_event_comes_after_deletion_then_duplicate(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("swept-first", completion_time=NOW - timedelta(minutes=3))
    event = fake.event_for("swept-first")  # held back; the sweep finds the run first
    assert world.sweep()["verdicts"] == {"ARCHIVED": 1}
    fake.delete_job("swept-first")

    assert world.invoke(event)["outcome"] == "DUPLICATE"
    assert len(runs(world.db, world.table, "swept-first")) == 1


def test_given_a_swept_run_when_a_reused_runs_event_comes_late_then_the_old_run_does_not_answer(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("swept-old", completion_time=NOW - timedelta(minutes=20))
    world.sweep()  # R1 archived by the sweep: no event id on its item
    fake.delete_job("swept-old")
    fake.add_job("swept-old")
    late = fake.event_for("swept-old")
    fake.delete_job("swept-old")

    assert world.invoke(late)["outcome"] == "INCOMPLETE"
    assert len(runs(world.db, world.table, "swept-old")) == 2


# -- 2. the floor never passes a run the table does not hold at rest ---------------------------


def test_given_an_operators_narrow_sweep_then_the_floor_does_not_pass_an_older_unswept_run(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("long-runner", status="IN_PROGRESS", creation_time=NOW - timedelta(hours=2))
    world.sweep()
    held = world.floor()
    assert held is not None
    assert held <= iso_ms(NOW - timedelta(hours=2) + timedelta(seconds=1))
    fake.complete_job("long-runner")  # its event is lost
    fake.add_job("recent", completion_time=NOW - timedelta(minutes=1))

    code, _, err = cli("sweep", "--since", iso_ms(NOW - timedelta(minutes=10)))
    assert code == 0, err

    assert world.floor() == held  # the operator's window said nothing of older runs
    world.sweep()
    world.whole("long-runner")


def test_given_an_operators_wide_sweep_then_the_floor_may_move_forward(world: NetWorld) -> None:
    fake = world.fake
    fake.add_job("old", completion_time=NOW - timedelta(hours=30))
    code, _, err = cli("sweep", "--since", iso_ms(NOW - timedelta(days=3)))
    assert code == 0, err
    world.whole("old")
    assert world.floor() == only_run(world.db, world.table, "old")["CreatedAt"]


def test_given_a_run_leased_by_another_invocation_then_the_sweep_holds_the_floor_below_it(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("earlier", completion_time=NOW - timedelta(minutes=30))
    world.sweep()
    fake.add_job("contested", completion_time=NOW - timedelta(minutes=5))
    fake.add_job("later", completion_time=NOW - timedelta(minutes=1))
    contested = fake.describe("contested")
    # A delivery of its event is copying slowly, then fails (a fault past every retry).
    fake.inject("contested", "transcript", [Fault.status(500)] * 5)  # seconds of retries
    delivery = threading.Thread(target=_deliver_quietly, args=(world, fake.event_for("contested")))
    delivery.start()
    _wait_until_leased(world, "contested")

    summary = world.sweep()
    delivery.join()

    assert summary["verdicts"].get("BUSY") == 1
    floor = world.floor()
    assert floor is not None
    assert floor <= iso_ms(contested["CreationTime"])
    assert only_run(world.db, world.table, "contested")["ArchiveStatus"] == "INCOMPLETE"
    world.sweep()
    world.whole("contested")


def test_given_two_sweeps_at_once_then_every_run_ends_archived_once(world: NetWorld) -> None:
    fake = world.fake
    for n in range(6):
        fake.add_job(f"both-{n}", completion_time=NOW - timedelta(minutes=n + 1))
    fake.inject("both-0", "transcript", [Fault.status(500)] * 5)
    answers: list[dict[str, Any]] = []
    sweeps = [threading.Thread(target=lambda: answers.append(world.sweep())) for _ in range(2)]
    for thread in sweeps:
        thread.start()
        time.sleep(0.3)
    for thread in sweeps:
        thread.join()

    floor = world.floor()
    assert floor is not None
    assert floor <= only_run(world.db, world.table, "both-0")["CreatedAt"]
    world.sweep()
    for n in range(6):
        world.whole(f"both-{n}")


def test_given_a_sweep_killed_holding_a_lease_then_the_next_sweep_holds_the_floor_and_retries(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("cut-off", outputs={"transcript": GeneratedContent(2 * MiB, seed=8)})
    fake.inject("cut-off", "transcript", [Fault.delay(60.0)])
    world.killed_mid_copy(SWEEP, "cut-off")
    cut = only_run(world.db, world.table, "cut-off")

    summary = world.sweep()  # the next scheduled sweep: the lease is still live

    assert summary["verdicts"] == {"BUSY": 1}
    floor = world.floor()
    assert floor is None or floor <= cut["CreatedAt"]
    world.expire_lease("cut-off")
    world.sweep()
    world.whole("cut-off")


# -- 3./4. the table is the second net; a re-taken lease keeps no stale state -----------------


def test_given_an_unsettled_run_below_the_floor_then_the_scheduled_sweep_retries_it(
    world: NetWorld,
) -> None:
    fake = world.fake
    # Three days old: far below any floor; its delivery failed past every retry (its event
    # then sat in a DLQ nobody replayed).
    fake.add_job("old-failure", completion_time=NOW - timedelta(days=3))
    fake.inject("old-failure", "transcript", [Fault.status(500)] * 5)
    with pytest.raises(Exception, match="will retry"):
        world.invoke(fake.event_for("old-failure"))
    fake.add_job("recent")

    summary = world.sweep()  # the first sweep's window reaches back 24 hours only

    floor = world.floor()
    assert floor is not None
    assert floor > only_run(world.db, world.table, "old-failure")["CreatedAt"]
    assert summary["retried"] == {"ARCHIVED": 1}  # found by its marker, not the listing
    world.whole("old-failure")
    assert world.sweep()["retried"] == {}  # settled: its marker is gone


def test_given_a_permanent_incomplete_redriven_and_killed_then_the_sweep_retries_it(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = world.fake
    fake.add_job(
        "too-big",
        outputs={"transcript": GeneratedContent(2 * MiB, seed=9)},
        completion_time=NOW - timedelta(days=2),
    )
    event = fake.event_for("too-big")
    monkeypatch.setenv("MAX_OUTPUT_BYTES", str(MiB))
    assert world.invoke(event)["outcome"] == "INCOMPLETE"  # over MAX_OUTPUT_BYTES: for good
    assert only_run(world.db, world.table, "too-big")["ArchiveStatus"] == "INCOMPLETE"
    world.sweep()  # far below the floor; a permanent reason: left alone
    monkeypatch.setenv("MAX_OUTPUT_BYTES", str(10 * MiB))  # the setting is raised
    world.env.environ["MAX_OUTPUT_BYTES"] = str(10 * MiB)
    fake.inject("too-big", "transcript", [Fault.delay(60.0)])

    world.killed_mid_copy(event, "too-big")  # the re-drive (a replay) is cut off

    assert "under way" in only_run(world.db, world.table, "too-big")["ArchiveError"]
    world.expire_lease("too-big")
    summary = world.sweep()
    assert summary["retried"] == {"ARCHIVED": 1}
    world.whole("too-big")


def test_given_a_marked_run_whose_job_was_deleted_then_it_is_settled_incomplete_not_retried_forever(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("vanished", completion_time=NOW - timedelta(days=3))
    fake.inject("vanished", "transcript", [Fault.status(500)] * 5)
    with pytest.raises(Exception, match="will retry"):
        world.invoke(fake.event_for("vanished"))
    fake.delete_job("vanished")

    summary = world.sweep()

    assert summary["retried"] == {"INCOMPLETE": 1}
    item = only_run(world.db, world.table, "vanished")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "the run no longer exists" in item["ArchiveError"]
    assert world.sweep()["retried"] == {}


# -- 5./6. one kind's outage stops nothing else, and nothing is silent --------------------------


def test_given_the_transcription_listing_fails_then_call_analytics_is_swept_and_it_alarms(
    world: NetWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = world.fake
    fake.add_call_analytics_job("ca-lost")  # its event was lost
    fake.add_job("tx-lost")
    world.sweep()
    floor = world.floor()
    fake.fail_api_next("ListTranscriptionJobs", 1, kind="access_denied")
    fake.add_call_analytics_job("ca-lost-2")
    capsys.readouterr()

    summary = world.sweep()

    assert "ListTranscriptionJobs" in summary["errors"]["TRANSCRIPTION"]
    assert "AccessDeniedException" in summary["errors"]["TRANSCRIPTION"]
    assert summary["kinds"]["CALL_ANALYTICS"]["verdicts"].get("ARCHIVED") == 1
    world.whole("ca-lost-2")
    assert world.floor() == floor
    assert metrics_emitted(capsys.readouterr().out).get("SweepKindsFailed") == 1


def test_given_an_html_error_page_then_the_failed_kind_is_reported_in_one_line(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("tx-ok")
    fake.fail_api_next("ListCallAnalyticsJobs", 1, kind="html_forbidden")

    summary = world.sweep()

    error = summary["errors"]["CALL_ANALYTICS"]
    assert "ListCallAnalyticsJobs" in error
    assert "HTTP 403" in error
    assert "<" not in error
    assert "\n" not in error
    world.whole("tx-ok")


def test_given_call_analytics_listing_fails_when_backfilled_then_transcription_jobs_are_archived(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("tx-backfill")
    fake.fail_api_next("ListCallAnalyticsJobs", 1, kind="access_denied")

    code, _, err = cli("backfill", "--since", iso_ms(NOW - timedelta(days=1)))

    assert code == 1
    assert "call-analytics" in err
    world.whole("tx-backfill")


def test_given_a_run_the_sweep_cannot_settle_then_it_is_counted_for_the_alarm(
    world: NetWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = world.fake
    fake.add_job("failing")
    fake.inject("failing", "transcript", [Fault.status(500)] * 5)
    capsys.readouterr()

    summary = world.sweep()

    assert summary["verdicts"] == {"FAILED": 1}
    assert metrics_emitted(capsys.readouterr().out).get("SweepRunsFailed") == 1


def test_given_a_region_without_a_kind_when_the_schedule_names_the_others_then_none_fails(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("tx-only")
    fake.fail_api_next("ListCallAnalyticsJobs", 1, kind="access_denied")

    summary = world.sweep(kinds=["TRANSCRIPTION"])

    assert "errors" not in summary
    assert list(summary["kinds"]) == ["TRANSCRIPTION"]
    world.whole("tx-only")


# -- 7. the deadline holds inside a part -------------------------------------------------------


def test_given_a_link_that_trickles_then_the_run_is_recorded_cut_off_before_the_timeout(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("trickle", outputs={"transcript": GeneratedContent(3 * MiB, seed=5)})
    fake.inject("trickle", "transcript", [Fault.trickle(0.5)])
    started = time.monotonic()

    with pytest.raises(Exception, match="out of time"):
        world.invoke(fake.event_for("trickle"), timeout_seconds=8.0)

    assert time.monotonic() - started < 8.0  # before Lambda's own timeout
    item = only_run(world.db, world.table, "trickle")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "out of time" in item["ArchiveError"]
    assert world.sweep()["verdicts"] == {"ARCHIVED": 1}
    world.whole("trickle")


# -- 8. input edges ----------------------------------------------------------------------------


def test_given_a_job_name_with_a_trailing_newline_then_the_event_is_rejected(
    world: NetWorld,
) -> None:
    fake = world.fake
    fake.add_job("plain")
    event = fake.event_for("plain")
    event["detail"]["TranscriptionJobName"] = "plain\n"

    assert world.invoke(event)["outcome"] == "REJECTED"
    assert runs(world.db, world.table, "plain\n") == []


@pytest.mark.parametrize("name", [".", ".."])
def test_given_a_job_named_with_dots_then_it_is_archived_byte_identical(
    world: NetWorld, name: str
) -> None:
    fake = world.fake
    fake.add_job(name, subtitle_formats=["vtt"])

    assert world.invoke(fake.event_for(name))["outcome"] == "ARCHIVED"

    world.whole(name)


@pytest.mark.parametrize("since", ["0099-01-01", "0001-01-01T00:00:00Z"])
def test_given_a_since_in_an_early_century_then_the_sweep_accepts_it_or_says_why(
    world: NetWorld, since: str
) -> None:
    world.fake.add_job("any")
    code, _, err = cli("sweep", "--since", since)
    assert code in (0, 2), err
    assert "unexpected" not in err
    if code == 0:
        world.whole("any")


# -- helpers -----------------------------------------------------------------------------------


def _deliver_quietly(world: NetWorld, event: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        world.invoke(event)


def _wait_until_leased(world: NetWorld, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = runs(world.db, world.table, name)
        if found and "LeaseOwner" in found[0] and "under way" in found[0].get("ArchiveError", ""):
            return
        time.sleep(0.05)
    pytest.fail(f"{name} was never leased")


# -- the marker is written while the outputs are copied -------------------------------------


def markers(world: NetWorld) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = world.db.query(
        TableName=world.table,
        KeyConditionExpression="JobName = :m",
        ExpressionAttributeValues={":m": {"S": "#unsettled"}},
        ConsistentRead=True,
    )["Items"]
    return found


def test_given_a_marker_slower_than_the_copy_then_it_lands_before_the_run_settles_and_is_cleared(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written beside the copy, the marker must still land before the settled record clears
    it: cleared first, it would land afterwards and stay, a settled run marked for good."""
    original = HistoryTable.mark_unsettled
    landed: list[float] = []

    def slow(self: HistoryTable, *args: Any) -> None:
        time.sleep(0.5)
        original(self, *args)
        landed.append(time.monotonic())

    monkeypatch.setattr(HistoryTable, "mark_unsettled", slow)
    world.fake.add_job("slow-marker")

    assert world.invoke(world.fake.event_for("slow-marker"))["outcome"] == "ARCHIVED"

    assert len(landed) == 1
    assert markers(world) == []
    world.whole("slow-marker")


def test_given_a_marker_that_cannot_be_written_then_a_run_that_settles_is_archived_anyway(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(self: HistoryTable, *args: Any) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(HistoryTable, "mark_unsettled", refused)
    world.fake.add_job("unmarked")

    assert world.invoke(world.fake.event_for("unmarked"))["outcome"] == "ARCHIVED"

    world.whole("unmarked")
    assert markers(world) == []
    assert [r.getMessage() for r in caplog.records if "could not mark" in r.getMessage()] == [
        "could not mark the run unsettled"
    ]
