"""Never lose a job, round two: every scenario an outside review found ending unrecorded,
recorded twice, or recorded as something it is not — driven through the handler, the CLI
and Replay over real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from archiver.aws import clients
from archiver.cli import main
from archiver.errors import JobNotFinishedError, RetryableArchiveError
from archiver.logic.archive import Archiver
from archiver.logic.replay import Replay
from archiver.settings import Settings
from archiver.sources.dead_letters import DeadLetterQueue

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe, Fault, GeneratedContent
from tests.integration.helpers import World, assert_archived_whole, only_run, runs

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


class NeverLoseWorld(World):
    def deliver(self, event: dict[str, Any], **context: Any) -> dict[str, Any]:
        return self.invoke(event, **context)

    def history(self, *argv: str) -> list[dict[str, Any]]:
        return cli_json(*argv)


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> NeverLoseWorld:
    return NeverLoseWorld(embedded_aws, archive_env, fake_transcribe)


def cli_json(*argv: str) -> list[dict[str, Any]]:
    out = _run_cli(*argv, "--output", "json")
    data: list[dict[str, Any]] = json.loads(out)
    return data


def _run_cli(*argv: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(argv))
    assert code == 0, buffer.getvalue()
    return buffer.getvalue()


def unfinished_event(fake: FakeTranscribe, name: str, status: str = "COMPLETED") -> dict[str, Any]:
    """An event that says the run ended, for a job whose API answer does not say so yet."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Transcribe Job State Change",
        "source": "aws.transcribe",
        "account": fake.account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": fake.region,
        "resources": [],
        "detail": {"TranscriptionJobName": name, "TranscriptionJobStatus": status},
    }


# -- 1. a late event of a reused name ---------------------------------------------------


def test_given_a_reused_name_when_the_old_runs_event_comes_late_then_it_gets_its_own_item(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("reused", status="FAILED", failure_reason="Unsupported media format")
    late_event = fake.event_for("reused")  # run A's event, delivered only after run B's
    fake.delete_job("reused")
    fake.add_job("reused")  # run B, same name
    assert world.deliver(fake.event_for("reused"))["outcome"] == "ARCHIVED"
    b_before = only_run(world.db, world.table, "reused")

    result = world.deliver(late_event)

    assert result["outcome"] == "INCOMPLETE"
    items = {r["CreatedAt"]: r for r in runs(world.db, world.table, "reused")}
    assert len(items) == 2
    a = items[result["createdAt"]]
    assert a["CreatedAt"] == late_event["time"].replace("Z", ".000Z")
    assert a["JobStatus"] == "FAILED"
    assert a["ArchiveStatus"] == "INCOMPLETE"
    assert "the run no longer exists" in a["ArchiveError"]
    assert items[b_before["CreatedAt"]] == b_before  # run B untouched


def test_given_the_late_event_replayed_twice_then_run_a_still_has_one_item(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("twice", status="FAILED")
    late_event = fake.event_for("twice")
    fake.delete_job("twice")
    fake.add_job("twice")
    world.deliver(fake.event_for("twice"))
    world.deliver(late_event)

    assert world.deliver(late_event)["outcome"] == "DUPLICATE"
    assert len(runs(world.db, world.table, "twice")) == 2


# -- 2. phantom runs ----------------------------------------------------------------------


def test_given_an_incomplete_run_whose_job_is_deleted_when_a_duplicate_comes_then_no_phantom(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("opted-out", null_outputs=["transcript"])
    event = fake.event_for("opted-out")
    assert world.deliver(event)["outcome"] == "INCOMPLETE"
    fake.delete_job("opted-out")

    assert world.deliver(event)["outcome"] == "DUPLICATE"

    shown = world.history("history", "show", "opted-out", "--all-runs")
    assert len(shown) == 1
    assert shown[0]["ArchiveStatus"] == "INCOMPLETE"
    assert "null" in shown[0]["ArchiveError"]


# -- 3. unfinished jobs are never acknowledged silently ------------------------------------


def test_given_the_api_still_says_in_progress_when_the_event_comes_then_it_raises_for_a_retry(
    world: NeverLoseWorld,
) -> None:
    world.fake.add_job("lagging", status="IN_PROGRESS")
    with pytest.raises(JobNotFinishedError, match="IN_PROGRESS"):
        world.deliver(unfinished_event(world.fake, "lagging"))
    assert runs(world.db, world.table, "lagging") == []  # nothing recorded, nothing lost


def test_given_read_lag_when_the_job_finishes_while_we_wait_then_it_is_archived(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("catching-up", status="IN_PROGRESS")
    event = unfinished_event(fake, "catching-up")
    threading.Timer(0.3, fake.complete_job, args=("catching-up",)).start()

    assert world.deliver(event)["outcome"] == "ARCHIVED"
    assert_archived_whole(world.s3, world.db, world.bucket, world.table, fake, "catching-up")


# -- 4. a run cut off by the timeout is visible ---------------------------------------------


def test_given_a_copy_longer_than_the_invocation_then_the_run_records_why_before_the_timeout(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("slow", outputs={"transcript": GeneratedContent(2 * MiB, seed=3)})
    fake.inject("slow", "transcript", [Fault.delay(4.0)])

    started = time.monotonic()
    with pytest.raises(RetryableArchiveError, match="out of time"):
        # 5 s left: the function stops at 4 s, a second before Lambda would kill it.
        world.deliver(fake.event_for("slow"), timeout_seconds=5.0)
    assert time.monotonic() - started < 5.0

    item = only_run(world.db, world.table, "slow")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "out of time" in item["ArchiveError"]
    assert item["JobStatus"] == "COMPLETED" and item["CompletedAt"]
    listed = world.history("history", "list")
    assert [r["JobName"] for r in listed] == ["slow"]


def test_given_an_invocation_killed_mid_copy_then_the_run_is_listed_as_under_way(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("killed", outputs={"transcript": GeneratedContent(2 * MiB, seed=4)})
    fake.inject("killed", "transcript", [Fault.delay(60.0)])
    script = (
        "import json, sys\n"
        "from archiver.handler import handler\n"
        "from local_aws.lambda_context import FakeLambdaContext\n"
        "handler(json.loads(sys.argv[1]), FakeLambdaContext())\n"
    )
    env = os.environ | world.env.environ | {"PYTHONPATH": f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(fake.event_for("killed"))],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not runs(world.db, world.table, "killed") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # well inside the 60 s the link takes to answer
    finally:
        process.send_signal(signal.SIGKILL)  # what Lambda does at its timeout
        process.wait(timeout=10)

    listed = world.history("history", "list", "--status", "COMPLETED")
    assert [r["JobName"] for r in listed] == ["killed"]
    assert listed[0]["ArchiveStatus"] == "INCOMPLETE"
    assert "under way" in listed[0]["ArchiveError"]
    assert "LeaseOwner" not in listed[0]


# -- 5. a lost lease is reported as what the table holds -----------------------------------


def _take_over(world: NeverLoseWorld, name: str, **attributes: Any) -> None:
    """Another invocation takes the run over while the first is still copying."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = runs(world.db, world.table, name)
        if found:
            break
        time.sleep(0.05)
    item = found[0]
    values = {"LeaseOwner": "someone-else"} | attributes
    world.db.update_item(
        TableName=world.table,
        Key={"JobName": {"S": name}, "CreatedAt": {"S": item["CreatedAt"]}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
        ExpressionAttributeNames={f"#{k}": k for k in values},
        ExpressionAttributeValues={
            f":{k}": {"N": str(v)} if isinstance(v, float) else {"S": v} for k, v in values.items()
        },
    )


def test_given_the_lease_lost_to_a_finished_run_then_the_invocation_reports_the_table(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("stolen")
    fake.inject("stolen", "transcript", [Fault.delay(1.5)])
    taker = threading.Thread(
        target=_take_over, args=(world, "stolen"), kwargs={"ArchiveStatus": "ARCHIVED"}
    )
    taker.start()
    result = world.deliver(fake.event_for("stolen"))
    taker.join()

    assert result["outcome"] == "DUPLICATE"  # not ARCHIVED: this invocation wrote nothing
    assert only_run(world.db, world.table, "stolen")["LeaseOwner"] == "someone-else"


def test_given_the_lease_lost_to_a_live_run_then_the_invocation_raises_for_a_retry(
    world: NeverLoseWorld,
) -> None:
    fake = world.fake
    fake.add_job("contested")
    fake.inject("contested", "transcript", [Fault.delay(1.5)])
    taker = threading.Thread(
        target=_take_over,
        args=(world, "contested"),
        kwargs={"LeaseExpiresAt": time.time() + 600},
    )
    taker.start()
    with pytest.raises(RetryableArchiveError, match="took over"):
        world.deliver(fake.event_for("contested"))
    taker.join()


# -- 6. replay ends when a pass takes longer than the visibility timeout -------------------


def test_given_slow_failing_messages_when_replayed_then_each_is_handled_once_and_replay_ends(
    world: NeverLoseWorld, embedded_aws: EmbeddedAWS
) -> None:
    sqs = embedded_aws.client("sqs")
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for number in range(3):
        name = f"still-running-{number}"
        world.fake.add_job(name, status="IN_PROGRESS")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(unfinished_event(world.fake, name)))
    archiver = Archiver(Settings.from_env(), clients())
    # Each message takes about 3.5 s (the API never says finished): longer than the 1 s
    # visibility timeout, so without care the same messages would come back forever.
    replay = Replay(DeadLetterQueue(sqs, url), archiver, visibility_timeout=1)

    done = threading.Event()
    outcome: dict[str, Any] = {}

    def drain() -> None:
        outcome["report"] = replay.run()
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    assert done.wait(timeout=60), "replay did not end"
    report = outcome["report"]
    assert sorted(r.parked.job_name for r in report.results) == [
        f"still-running-{n}" for n in range(3)
    ]
    assert {r.verdict for r in report.results} == {"KEPT"}
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"  # kept, and visible again
