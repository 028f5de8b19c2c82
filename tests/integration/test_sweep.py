"""The sweep: every finished run ends up in the table whatever became of its event.

Events are withheld for some jobs (as when EventBridge drops one, or the rule was disabled);
the sweep, run by the CLI or by the stack's schedule through the handler, archives exactly
those, each once, and a second sweep right after copies and writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.aws import clients
from archiver.cli import main

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import World, only_run, runs

SWEEP = {"action": "sweep", "overlapMinutes": 15}


class SweepWorld(World):
    def deliver(self, name: str) -> dict[str, Any]:
        return self.invoke(self.fake.event_for(name))

    def scheduled_sweep(self) -> dict[str, Any]:
        return self.invoke(dict(SWEEP))


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> SweepWorld:
    return SweepWorld(embedded_aws, archive_env, fake_transcribe)


@contextlib.contextmanager
def writes_recorded() -> Iterator[list[str]]:
    """Every write the function's own clients send to DynamoDB and S3."""
    recorded: list[str] = []
    aws = clients()
    hooks = [
        (aws.dynamodb, "before-call.dynamodb.PutItem"),
        (aws.dynamodb, "before-call.dynamodb.UpdateItem"),
        (aws.s3, "before-call.s3.PutObject"),
        (aws.s3, "before-call.s3.CopyObject"),
        (aws.s3, "before-call.s3.CreateMultipartUpload"),
    ]

    def record(model: Any, **_: Any) -> None:
        recorded.append(model.name)

    for client, event in hooks:
        client.meta.events.register(event, record)
    try:
        yield recorded
    finally:
        for client, event in hooks:
            client.meta.events.unregister(event, record)


def sweep_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["sweep", *argv])
    return code, out.getvalue()


def test_given_withheld_events_when_swept_twice_then_exactly_those_runs_are_archived_once(
    world: SweepWorld,
) -> None:
    fake = world.fake
    delivered = [f"heard-{n}" for n in range(3)]
    withheld = [f"lost-{n}" for n in range(3)] + ["lost-failed"]
    for name in delivered + withheld[:3]:
        fake.add_job(name)
    fake.add_job("lost-failed", status="FAILED")
    for name in delivered:
        assert world.deliver(name)["outcome"] == "ARCHIVED"
    before = {name: only_run(world.db, world.table, name) for name in delivered}

    summary = world.scheduled_sweep()

    assert summary["recovered"] == len(withheld)
    assert summary["verdicts"] == {"ALREADY_ARCHIVED": 3, "ARCHIVED": 4}
    for name in withheld:
        world.whole(name)
    for name in delivered:
        assert only_run(world.db, world.table, name) == before[name]  # untouched

    fake.clear_requests()
    with writes_recorded() as writes:
        again = world.scheduled_sweep()
    assert again["recovered"] == 0
    assert writes == []  # nothing copied, nothing written, not even the watermark
    assert fake.link_requests() == 0


def test_given_a_job_running_for_hours_when_its_event_is_lost_then_a_later_sweep_takes_it(
    world: SweepWorld,
) -> None:
    fake = world.fake
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    fake.add_job("marathon", status="IN_PROGRESS", creation_time=long_ago)
    fake.add_job("quick")
    world.scheduled_sweep()  # takes "quick"; "marathon" still runs
    assert runs(world.db, world.table, "marathon") == []

    fake.complete_job("marathon")  # ...and its event is lost
    summary = world.scheduled_sweep()

    assert summary["recovered"] == 1
    world.whole("marathon")


def test_given_no_watermark_then_the_first_sweep_reaches_back_a_day_unless_since(
    world: SweepWorld,
) -> None:
    fake = world.fake
    fake.add_job("yesterday-ish", creation_time=datetime.now(UTC) - timedelta(hours=20))
    fake.add_job("older", creation_time=datetime.now(UTC) - timedelta(hours=30))

    code, _ = sweep_cli()
    assert code == 0
    world.whole("yesterday-ish")
    assert runs(world.db, world.table, "older") == []

    since = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    code, out = sweep_cli("--since", since)
    assert code == 0
    world.whole("older")
    assert "recovered" in out


def test_given_incomplete_runs_then_the_sweep_retries_only_what_retrying_can_cure(
    world: SweepWorld,
) -> None:
    fake = world.fake
    fake.add_job("opted-out", null_outputs=["transcript"])
    assert world.deliver("opted-out")["outcome"] == "INCOMPLETE"
    fake.add_job("crashed")
    fake.add_job("purged")
    world.deliver("purged")
    # An invocation that died mid-copy (its lease long gone), and a purged run's tombstone.
    crashed = fake.describe("crashed")["CreationTime"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    world.db.put_item(
        TableName=world.table,
        Item={
            "JobName": {"S": "crashed"},
            "CreatedAt": {"S": crashed},
            "JobStatus": {"S": "COMPLETED"},
            "ArchiveStatus": {"S": "INCOMPLETE"},
            "ArchiveError": {"S": "archive: archiving under way"},
            "RetryArchive": {"BOOL": True},
            "LeaseOwner": {"S": "dead"},
            "LeaseExpiresAt": {"N": "1"},
        },
    )
    purged = only_run(world.db, world.table, "purged")
    world.db.put_item(
        TableName=world.table,
        Item={
            "JobName": {"S": "purged"},
            "CreatedAt": {"S": purged["CreatedAt"]},
            "ArchiveStatus": {"S": "PURGED"},
        },
    )
    opted_out = only_run(world.db, world.table, "opted-out")

    summary = world.scheduled_sweep()

    assert summary["verdicts"] == {"SKIPPED": 1, "ALREADY_ARCHIVED": 1, "ARCHIVED": 1}
    world.whole("crashed")
    assert only_run(world.db, world.table, "opted-out") == opted_out
    assert only_run(world.db, world.table, "purged")["ArchiveStatus"] == "PURGED"


def test_given_a_dry_run_then_the_sweep_lists_what_it_would_archive_and_changes_nothing(
    world: SweepWorld,
) -> None:
    world.fake.add_job("lost")
    code, out = sweep_cli("--dry-run")
    assert code == 0
    assert "lost" in out and "Would archive 1" in out
    assert runs(world.db, world.table, "lost") == []
    code, _ = sweep_cli()
    assert code == 0
    world.whole("lost")
    # the dry run left no watermark behind: the real sweep read the full first window
    floors = world.db.query(
        TableName=world.table,
        KeyConditionExpression="JobName = :n",
        ExpressionAttributeValues={":n": {"S": "#sweep"}},
    )["Items"]
    assert [f["CreatedAt"]["S"] for f in floors] == ["TRANSCRIPTION"]


def test_given_the_watermark_item_then_history_never_lists_it(world: SweepWorld) -> None:
    world.fake.add_job("any")
    world.scheduled_sweep()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["history", "list", "--output", "json"]) == 0
    assert [r["JobName"] for r in json.loads(out.getvalue())] == ["any"]
