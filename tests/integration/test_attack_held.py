"""Outside review (attack round): scenarios the system HELD. Regression tests: each one is an
attack that was tried and found no fault; they pass today and must keep passing.

Driven black-box like test_attack.py (the handler, the CLI, the embedded AWS and the
Transcribe double).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe, Fault
from tests.conftest import serving
from tests.integration.attack_world import SWEEP, AttackWorld, cli

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


class ListHook(FakeTranscribe):
    """The Transcribe double, running ``hook(op, body)`` after each List…Jobs answer (a job
    changing state between two of the sweep's listings)."""

    hook: Any = None

    def handle_api(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = super().handle_api(op, body)
        if op.startswith("List") and self.hook is not None:
            self.hook(op, body)
        return answer


@pytest.fixture
def fake_transcribe(embedded_aws: EmbeddedAWS) -> Iterator[FakeTranscribe]:
    double = ListHook(s3_client=embedded_aws.client("s3"), region=embedded_aws.region)
    with serving(double) as fake:
        yield fake


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> AttackWorld:
    return AttackWorld(embedded_aws, archive_env, fake_transcribe)


def statuses(world: AttackWorld, name: str) -> list[tuple[str, str]]:
    return sorted((i.get("JobKind", ""), i["ArchiveStatus"]) for i in world.items(name))


# -- the floor -------------------------------------------------------------------------------


def test_held_a_long_queued_job_completing_after_the_floor_moved_is_swept(
    world: AttackWorld,
) -> None:
    fake = world.fake
    fake.add_job("queued", status="QUEUED", creation_time=NOW - timedelta(hours=3))
    fake.add_job("first", completion_time=NOW - timedelta(hours=2))
    world.sweep()
    fake.add_job("second", completion_time=NOW - timedelta(minutes=1))
    world.sweep()
    fake.complete_job("queued")  # its event is lost
    world.sweep()
    assert statuses(world, "queued") == [("TRANSCRIPTION", "ARCHIVED")]


@pytest.mark.parametrize("after_list_call", [1, 2, 3, 4])
def test_held_a_job_ending_between_the_sweeps_listings_is_not_missed(
    world: AttackWorld, after_list_call: int
) -> None:
    fake = world.fake
    assert isinstance(fake, ListHook)
    fake.add_job("older", completion_time=NOW - timedelta(hours=2))
    world.sweep(kinds=["TRANSCRIPTION"])
    fake.add_job("racer", status="QUEUED", creation_time=NOW - timedelta(minutes=90))
    fake.add_job("newest", completion_time=NOW - timedelta(minutes=1))
    calls: list[str] = []

    def finish_racer(op: str, body: dict[str, Any]) -> None:
        calls.append(op)
        if len(calls) == after_list_call:
            fake.complete_job("racer")  # its event is lost

    fake.hook = finish_racer
    world.sweep(kinds=["TRANSCRIPTION"])
    fake.hook = None
    world.sweep(kinds=["TRANSCRIPTION"])
    assert statuses(world, "racer") == [("TRANSCRIPTION", "ARCHIVED")]


def test_held_a_sweep_killed_mid_archive_loses_nothing(world: AttackWorld) -> None:
    fake = world.fake
    fake.add_job("base", completion_time=NOW - timedelta(hours=2))
    world.sweep()
    names = [f"k{n}" for n in range(12)]
    for n, name in enumerate(names):
        fake.add_job(name, completion_time=NOW - timedelta(minutes=30 - n))
        fake.inject(name, "transcript", [Fault.delay(20.0)])
    process = world.spawn(dict(SWEEP))
    time.sleep(4)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    fake.clear_link_faults()
    for name in names:
        for item in world.items(name):
            world.expire_lease(name, item["CreatedAt"])  # the killed sweep's leases run out
    world.sweep()
    world.sweep()
    for name in names:
        assert statuses(world, name) == [("TRANSCRIPTION", "ARCHIVED")], name


def test_held_a_negative_overlap_is_refused(world: AttackWorld) -> None:
    code, _, err = cli("sweep", "--overlap", "-60")
    assert code == 2
    assert "at least 1" in err


# -- kinds sharing a name ------------------------------------------------------------------


def test_held_four_kinds_of_one_name_and_millisecond_are_four_runs_and_purge_kind_takes_one(
    world: AttackWorld,
) -> None:
    fake = world.fake
    created = NOW.replace(microsecond=123_000) - timedelta(minutes=10)
    done = created + timedelta(minutes=2)
    fake.add_job("shared", creation_time=created, completion_time=done)
    fake.add_call_analytics_job("shared", creation_time=created, completion_time=done)
    world.medical("shared", creation_time=created, completion_time=done)
    world.scribe("shared", creation_time=created, completion_time=done)
    world.invoke(fake.event_for("shared", kind="call-analytics"))
    world.sweep()
    assert world.invoke(fake.event_for("shared", kind="transcription"))["outcome"] == "DUPLICATE"
    assert statuses(world, "shared") == [
        ("CALL_ANALYTICS", "ARCHIVED"),
        ("MEDICAL", "ARCHIVED"),
        ("MEDICAL_SCRIBE", "ARCHIVED"),
        ("TRANSCRIPTION", "ARCHIVED"),
    ]
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    code, _, err = cli("purge", "shared", "--run", stamp, "--kind", "medical", "--yes")
    assert code == 0, err
    assert statuses(world, "shared") == [
        ("CALL_ANALYTICS", "ARCHIVED"),
        ("MEDICAL", "PURGED"),
        ("MEDICAL_SCRIBE", "ARCHIVED"),
        ("TRANSCRIPTION", "ARCHIVED"),
    ]
    assert world.versions("medical/shared/") == []
    for prefix in ("transcripts/", "call-analytics/", "medical-scribe/"):
        assert world.versions(f"{prefix}shared/"), prefix


@pytest.mark.parametrize("first", ["call-analytics", "medical", "medical-scribe"])
def test_held_a_late_event_of_a_suffix_keyed_run_adds_no_item(
    world: AttackWorld, first: str
) -> None:
    fake = world.fake
    created = NOW.replace(microsecond=250_000) - timedelta(minutes=10)
    done = created + timedelta(minutes=3)
    if first == "call-analytics":
        fake.add_call_analytics_job("sh", creation_time=created, completion_time=done)
        world.invoke(fake.event_for("sh", kind="call-analytics"))
    elif first == "medical":
        world.medical("sh", creation_time=created, completion_time=done)
        world.sweep(kinds=["MEDICAL"])
    else:
        world.scribe("sh", creation_time=created, completion_time=done)
        world.sweep(kinds=["MEDICAL_SCRIBE"])
    fake.add_job("sh", creation_time=created, completion_time=done)
    late = fake.event_for("sh", kind="transcription")
    world.sweep(kinds=["TRANSCRIPTION"])  # keyed {CreatedAt}#TRANSCRIPTION, no event id
    fake.delete_job("sh", kind="transcription")
    world.invoke(late)
    assert len(world.items("sh")) == 2


def test_held_purge_kind_on_a_legacy_item_without_a_kind_refuses(world: AttackWorld) -> None:
    fake = world.fake
    fake.add_job("legacy")
    result = world.invoke(fake.event_for("legacy"))
    world.db.update_item(
        TableName=world.table,
        Key={"JobName": {"S": "legacy"}, "CreatedAt": {"S": result["createdAt"]}},
        UpdateExpression="REMOVE JobKind",
    )
    code, _, _ = cli("purge", "legacy", "--kind", "call-analytics", "--yes")
    assert code == 1
    assert statuses(world, "legacy") == [("", "ARCHIVED")]
    assert world.versions("transcripts/legacy/")


def test_held_a_call_analytics_runs_purge_folder_is_under_its_own_prefix(
    world: AttackWorld,
) -> None:
    fake = world.fake
    fake.add_call_analytics_job("ph", completion_time=NOW - timedelta(minutes=3))
    late = fake.event_for("ph", kind="call-analytics")
    fake.delete_job("ph", kind="call-analytics")
    world.invoke(late)
    code, out, err = cli("purge", "ph", "--dry-run", "--output", "json")
    assert code == 0, err
    folders = json.loads(out)["Runs"][0]["Folders"]
    assert all(f.startswith(f"s3://{world.bucket}/call-analytics/ph/") for f in folders)


# -- purge, tombstones, --also-transcribe ---------------------------------------------------


def test_held_a_tombstone_is_never_rewritten_by_any_path(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = world.fake
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "7")
    fake.add_job("t", completion_time=NOW - timedelta(minutes=3))
    event = fake.event_for("t")
    world.invoke(event)
    code, _, err = cli("purge", "t", "--yes", "--reason", "first")
    assert code == 0, err
    before = world.raw_items("t")
    assert "ExpiresAt" not in before[0]
    world.invoke(event)
    world.invoke(dict(event, id=str(uuid.uuid4())))
    world.sweep()
    cli("backfill", "--since", (NOW - timedelta(hours=1)).isoformat())
    cli("sweep", "--since", (NOW - timedelta(hours=1)).isoformat())
    sqs = world.aws.client("sqs")
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    assert cli("replay", "--queue-url", url)[0] == 0  # DUPLICATE: the message goes
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    cli("purge", "t", "--yes", "--reason", "again")
    assert world.raw_items("t") == before
    assert world.versions("transcripts/t/") == []


def test_held_also_transcribe_keeps_a_reused_names_newer_job(world: AttackWorld) -> None:
    fake = world.fake
    fake.add_job("call", completion_time=NOW - timedelta(hours=1))
    world.invoke(fake.event_for("call"))
    fake.delete_job("call")
    fake.add_job("call", status="IN_PROGRESS")
    fake.add_call_analytics_job("call")
    code, _, err = cli("purge", "call", "--kind", "transcription", "--yes", "--also-transcribe")
    assert code == 0, err
    assert fake.jobs("transcription") == ["call"]
    assert fake.jobs("call-analytics") == ["call"]
    fake.complete_job("call", kind="transcription")
    assert world.invoke(fake.event_for("call", kind="transcription"))["outcome"] == "ARCHIVED"


# -- missing sources, internals, inputs -------------------------------------------------------


def test_held_team_bucket_outputs_deleted_before_the_sweep_are_recorded_incomplete_once(
    world: AttackWorld,
) -> None:
    fake = world.fake
    world.medical("m1")
    world.scribe("s1")
    fake.add_job("t1", output_bucket=world.team)
    for name, kind, output in (
        ("m1", "medical", "transcript"),
        ("s1", "medical-scribe", "clinical_document"),
        ("t1", "transcription", "transcript"),
    ):
        bucket, key = fake.output_location(name, output, kind=kind)  # type: ignore[arg-type]
        world.s3.delete_object(Bucket=bucket, Key=key)
    world.sweep()
    world.sweep()
    for name in ("m1", "s1", "t1"):
        (item,) = world.items(name)
        assert item["ArchiveStatus"] == "INCOMPLETE"
        assert "does not exist" in item["ArchiveError"]
    assert world.unsettled_markers() == []


def test_held_internal_attributes_are_never_printed(world: AttackWorld) -> None:
    fake = world.fake
    fake.add_job("failing")
    fake.inject("failing", "transcript", [Fault.status(500)] * 5)
    with pytest.raises(Exception, match="will retry"):
        world.invoke(fake.event_for("failing"))
    for argv in (("history", "list", "--output", "json"), ("history", "show", "failing")):
        code, out, _ = cli(*argv, *(("--output", "json") if argv[1] == "show" else ()))
        assert code == 0
        for internal in ("LeaseOwner", "LeaseExpiresAt", "RetryArchive", "EventId"):
            assert internal not in out


CLEAN_EXITS = [
    ["history", "show", "#sweep"],
    ["history", "show", "#unsettled", "--all-runs"],
    ["history", "list", "--limit", "0"],
    ["history", "list", "--limit", "-1"],
    ["history", "list", "--since", "2026-13-01"],
    ["history", "list", "--since", "2026-02-30"],
    ["history", "list", "--since", "9999-12-31T23:59:59Z"],
    ["history", "list", "--until", "0001-01-01"],
    ["history", "list", "--tag", "=x"],
    ["history", "list", "--tag", "a=b=c"],
    ["history", "list", "--status", "PURGED"],
    ["purge", "ghost", "--run", "garbage", "--yes"],
    ["purge", "ghost", "--run", "2026-01-01T00:00:00.000Z", "--yes"],
    ["purge", "#unsettled", "--yes"],
    ["purge", "#sweep", "--yes"],
    ["purge", "ghost", "--kind", "bogus", "--yes"],
    ["sweep", "--since", "2999-01-01"],
    ["sweep", "--kind", "bogus"],
    ["sweep", "--overlap", "99999999999"],
    ["backfill", "--since", "2999-01-01"],
    ["replay", "--queue-url", "http://127.0.0.1:1/nope"],
    ["replay"],
    ["history", "list", "--table", "no-such-table"],
    ["purge", "x", "--table", "no-such-table", "--yes"],
    ["sweep", "--table", "no-such-table"],
    ["history", "list", "--endpoint-url", "http://127.0.0.1:1"],
]


@pytest.mark.parametrize("argv", CLEAN_EXITS, ids=[" ".join(a)[:50] for a in CLEAN_EXITS])
def test_held_odd_command_lines_exit_cleanly(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.delenv("DLQ_URL", raising=False)
    world.fake.add_job("x")
    world.invoke(world.fake.event_for("x"))
    code, _, err = cli(*argv)
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    assert "unexpected" not in err.lower()
    assert world.versions("transcripts/x/")  # no odd command erased anything


@pytest.mark.parametrize(
    "event",
    [
        {"action": "purge"},
        {"action": "SWEEP"},
        {},
        {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": '{"action":"sweep"}'}]},
    ],
    ids=["purge-action", "upper-sweep", "empty", "sweep-in-sqs-body"],
)
def test_held_odd_handler_inputs_are_rejected_not_acted_on(
    world: AttackWorld, event: dict[str, Any]
) -> None:
    fake = world.fake
    fake.add_job("y")
    world.invoke(fake.event_for("y"))
    result = world.invoke(event)
    assert result.get("outcome") == "REJECTED" or result == {"batchItemFailures": []}
    assert statuses(world, "y") == [("TRANSCRIPTION", "ARCHIVED")]


def test_held_also_transcribe_deletes_only_the_purged_kinds_job(world: AttackWorld) -> None:
    fake = world.fake
    world.medical("v", completion_time=NOW - timedelta(hours=2))
    world.scribe("v", completion_time=NOW - timedelta(hours=2))
    fake.add_job("v", completion_time=NOW - timedelta(hours=1))
    fake.add_call_analytics_job("v", completion_time=NOW - timedelta(hours=1))
    world.sweep()
    code, _, err = cli("purge", "v", "--kind", "medical", "--yes", "--also-transcribe")
    assert code == 0, err
    assert (fake.jobs("transcription"), fake.jobs("call-analytics")) == (["v"], ["v"])
    assert (fake.jobs("medical"), fake.jobs("medical-scribe")) == ([], ["v"])
    assert statuses(world, "v") == [
        ("CALL_ANALYTICS", "ARCHIVED"),
        ("MEDICAL", "PURGED"),
        ("MEDICAL_SCRIBE", "ARCHIVED"),
        ("TRANSCRIPTION", "ARCHIVED"),
    ]


def test_held_limit_applies_after_the_kind_and_tag_filters(world: AttackWorld) -> None:
    fake = world.fake
    world.medical("med", completion_time=NOW - timedelta(hours=2))
    for n in range(5):
        fake.add_job(f"tx{n}", completion_time=NOW - timedelta(minutes=n + 1), tags={"Dept": "A"})
    fake.add_job("sales", completion_time=NOW - timedelta(hours=3), tags={"Dept": "Sales"})
    world.sweep()
    for argv, expected in (
        (["--kind", "medical"], ["med"]),
        (["--tag", "Dept=Sales"], ["sales"]),
        (["--language", "en-US", "--kind", "medical"], ["med"]),
    ):
        code, out, err = cli("history", "list", *argv, "--limit", "1", "--output", "json")
        assert code == 0, err
        assert [i["JobName"] for i in json.loads(out)] == expected
