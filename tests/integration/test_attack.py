"""Outside review (attack round): scenarios that broke the never-lose / never-twice / purge
contract, found black-box by a reviewer who read only the README and the contract. Each
failed against the product as it was; each now asserts the fixed outcome a user expects.

Left as a documented limit (README, "Failure semantics"): two runs of one name and kind
created within the same second share the folder the contract's second-resolution layout
gives them (a job created, failed, deleted and recreated within one second).

Driven black-box: the handler (as EventBridge/SQS/the schedule invoke it), the CLI, the
embedded AWS and the Transcribe double. Scenarios that held are in test_attack_held.py.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.timefmt import iso_ms

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe, Fault
from tests.integration.attack_world import (
    AttackWorld,
    cli,
    cli_process,
    metrics_emitted,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> AttackWorld:
    return AttackWorld(embedded_aws, archive_env, fake_transcribe)


def kinds_of(world: AttackWorld, name: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in world.items(name):
        found.setdefault(item.get("JobKind", "TRANSCRIPTION"), []).append(item)
    return found


# -- A. a transcription run's event answered by another kind's run: the run is lost ----------


def test_given_an_archived_medical_run_of_the_name_then_a_gone_transcription_runs_event_is_recorded(
    world: AttackWorld,
) -> None:
    """Names are unique per kind only: a clinic has a Medical job `visit-0042` (finished an
    hour ago, archived by the sweep) and a transcription job `visit-0042`. The transcription
    job completes, its event waits in the queue (a backlog), and the team deletes the
    transcription job (as teams do once they have the outputs). The event is the only trace
    the archiver will ever get of that run; it must leave an item for it (as it does when no
    Medical job shares the name: INCOMPLETE, "the run no longer exists").

    Observed: the event is answered DUPLICATE by the hour-old Medical run; no transcription
    item is ever written, and no sweep can find the run again."""
    fake = world.fake
    world.medical("visit-0042", completion_time=NOW - timedelta(hours=1))
    assert world.sweep()["verdicts"] == {"ARCHIVED": 1}
    fake.add_job("visit-0042", completion_time=NOW - timedelta(minutes=2))
    event = fake.event_for("visit-0042", kind="transcription")
    fake.delete_job("visit-0042", kind="transcription")

    world.invoke(event)
    for _ in range(2):
        world.sweep()

    transcription = kinds_of(world, "visit-0042").get("TRANSCRIPTION", [])
    assert len(transcription) == 1, (
        "the transcription run that sent the event has no item: the Medical run of the same "
        "name, which finished an hour before the event, answered for it"
    )
    assert transcription[0]["JobStatus"] == "COMPLETED"


def test_given_an_older_medical_job_of_the_name_then_a_gone_transcription_run_is_not_taken_for_it(
    world: AttackWorld,
) -> None:
    """As above, before any sweep ran: the transcription event is archived as the Medical
    run (which ended an hour before the event), and the transcription run never gets an item.
    """
    fake = world.fake
    world.medical("visit-0043", completion_time=NOW - timedelta(hours=1))
    fake.add_job("visit-0043", completion_time=NOW - timedelta(minutes=2))
    event = fake.event_for("visit-0043", kind="transcription")
    fake.delete_job("visit-0043", kind="transcription")

    world.invoke(event)
    for _ in range(2):
        world.sweep()

    found = kinds_of(world, "visit-0043")
    assert len(found.get("MEDICAL", [])) == 1
    assert len(found.get("TRANSCRIPTION", [])) == 1, (
        "the transcription run is lost: its event was archived as the hour-old Medical run"
    )


# -- B. a purged older run's tombstone answers a newer run's late event ------------------------


def test_given_an_older_run_purged_when_a_newer_run_reports_late_then_it_is_recorded(
    world: AttackWorld,
) -> None:
    """`daily-standup` is reused every day. Yesterday's run is archived; today's run
    completes, its event waits in a queue backlog, and the team deletes today's job. An
    operator then purges *yesterday's* run only (`--run`). README: "An older run of a reused
    name never answers for a newer run's late event" — without the purge, the late event gets
    its INCOMPLETE "run no longer exists" item.

    Observed: yesterday's tombstone answers today's event (DUPLICATE): today's run, which
    nobody purged, has no item at all."""
    fake = world.fake
    fake.add_job("daily-standup", completion_time=NOW - timedelta(days=1))
    assert world.invoke(fake.event_for("daily-standup"))["outcome"] == "ARCHIVED"
    yesterday = world.items("daily-standup")[0]["CreatedAt"]
    fake.delete_job("daily-standup")
    fake.add_job("daily-standup", completion_time=NOW - timedelta(minutes=5))
    late = fake.event_for("daily-standup")
    fake.delete_job("daily-standup")
    code, _, err = cli("purge", "daily-standup", "--run", yesterday, "--yes")
    assert code == 0, err

    world.invoke(late)
    world.sweep()

    items = world.items("daily-standup")
    assert len(items) == 2, (
        f"today's run has no item: {[(i['CreatedAt'], i['ArchiveStatus']) for i in items]}"
    )
    today = next(i for i in items if i["CreatedAt"] != yesterday)
    assert today["ArchiveStatus"] == "INCOMPLETE"
    assert "no longer exists" in today["ArchiveError"]


# -- C. one run, two folders: the CLI archives under another prefix than the stack ------------


def test_given_a_custom_prefix_when_the_operator_backfills_then_one_folder_and_purge_erases_all(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack is deployed with `-c archivePrefix=custom/` (the function's ARCHIVE_PREFIX).
    The operator runs `transcribe-archiver backfill` as the README says: table and bucket
    from the stack (here given as variables), no ARCHIVE_PREFIX in their shell (the stack
    has no output for it, and the README never mentions it). One output fails for good
    during the backfill, and the scheduled sweep (the function) later copies it.

    Observed: the item is ARCHIVED with ArchiveUri `custom/...`, but transcript.json and
    job.json are under `transcripts/...` (the CLI's default): its Outputs lie outside its
    folder. `purge` then erases only the folder ArchiveUri names, writes the tombstone and
    exits 0, and the call's transcript stays in the bucket."""
    fake = world.fake
    world.env.environ["ARCHIVE_PREFIX"] = "custom/"
    fake.add_job("split-call", subtitle_formats=["vtt"], completion_time=NOW - timedelta(minutes=3))
    fake.inject("split-call", "vtt", [Fault.status(500)] * 5)
    monkeypatch.delenv("ARCHIVE_PREFIX")  # the operator's shell
    code, _, _ = cli("backfill", "--since", (NOW - timedelta(hours=1)).isoformat())
    assert code == 1  # the vtt failed; the operator leaves it to the sweep
    monkeypatch.setenv("ARCHIVE_PREFIX", "custom/")  # the deployed function
    world.sweep()

    item = world.items("split-call")[0]
    assert item["ArchiveStatus"] == "ARCHIVED"
    outside = {
        name: out["S3Uri"]
        for name, out in item["Outputs"].items()
        if not out["S3Uri"].startswith(item["ArchiveUri"])
    }
    code, _, err = cli("purge", "split-call", "--yes")
    assert code == 0, err
    left = world.versions("")
    assert not outside, f"ARCHIVED item {item['ArchiveUri']} has outputs elsewhere: {outside}"
    assert left == [], f"purged run's bytes remain: {left}"


# -- D. purge takes over a live invocation's lease ---------------------------------------------


def test_given_a_fast_operator_clock_when_purge_runs_mid_archive_then_nothing_lands_after_it(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation is copying a run (its transcript link is slow). The operator's laptop
    clock runs 20 minutes fast (no NTP on a VM, a wrong time zone setting) and they purge the
    call. README: purge "takes each run's lease — the same lease an archiving invocation
    takes, so no event, sweep or backfill copies into the run while purge works"; it refuses
    "while an invocation is archiving the run".

    Observed: purge judges the invocation's lease by the laptop's clock, takes it, erases
    the folder and writes the tombstone (exit 0); the live invocation then finishes its copy
    into the purged folder: a PURGED run whose transcript is in the bucket, for good (a
    second purge only reports the tombstone). The same happens with a CLI backfill whose
    laptop slept past its lease (the per-job deadline does not count the sleep)."""
    fake = world.fake
    fake.add_job("erase-me", subtitle_formats=["vtt", "srt"])
    fake.inject("erase-me", "transcript", [Fault.delay(6.0)])
    process = world.spawn(fake.event_for("erase-me"))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            items = world.items("erase-me")
            if items and "under way" in items[0].get("ArchiveError", ""):
                break
            time.sleep(0.05)
        else:
            pytest.fail("never leased")
        # The operator's machine, 20 minutes fast (AWS's clock is the embedded AWS's).
        purge = cli_process(
            world, ["purge", "erase-me", "--yes"], clock_skew_seconds=20 * 60, capture=True
        )
        _, raw_err = purge.communicate(timeout=60)
        code, err = purge.returncode, " ".join(raw_err.decode().split())
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    item = world.items("erase-me")[0]
    left = world.versions("transcripts/erase-me/")
    if code == 0:
        assert item["ArchiveStatus"] == "PURGED"
        assert left == [], f"written into the purged run after its tombstone: {left}"
    else:
        assert "archiving" in err or "lease" in err, err  # refused while an invocation holds it


# -- E. two runs of one name created in the same second share one folder ---------------------


def test_given_a_gone_runs_item_when_purged_then_a_live_run_of_that_second_is_untouched(
    world: AttackWorld,
) -> None:
    """A run is deleted before its event is handled and the name is reused within the same
    second as its end; the late event gives the documented INCOMPLETE item keyed by the
    event's time, with no ArchiveUri (nothing was archived). Purging that item (`--run`)
    erases the folder of its CreatedAt's second, which is the live second run's folder."""
    fake = world.fake
    second = NOW.replace(microsecond=0) - timedelta(minutes=10)
    fake.add_job(
        "resub",
        creation_time=second - timedelta(minutes=3),
        completion_time=second + timedelta(milliseconds=300),
    )
    late = fake.event_for("resub")
    fake.delete_job("resub")
    fake.add_job(
        "resub",
        status="FAILED",
        creation_time=second + timedelta(milliseconds=800),
        completion_time=second + timedelta(seconds=5),
    )
    gone = world.invoke(late)
    assert gone["outcome"] == "INCOMPLETE" and gone["archiveUri"] is None
    live = world.invoke(fake.event_for("resub"))
    assert live["outcome"] == "ARCHIVED"

    code, _, err = cli("purge", "resub", "--run", gone["createdAt"], "--yes")
    assert code == 0, err

    folder = str(live["archiveUri"]).removeprefix(f"s3://{world.bucket}/")
    assert world.versions(folder), (
        "purging a run that had nothing archived erased the live run's folder "
        f"{folder}, whose item still says ARCHIVED"
    )


# -- F. commands that fail with "unexpected …" or an unreadable message -----------------------


def test_given_a_huge_limit_then_history_list_answers_or_says_what_is_wrong(
    world: AttackWorld,
) -> None:
    world.fake.add_job("x")
    world.invoke(world.fake.event_for("x"))

    code, _, err = cli("history", "list", "--limit", "99999999999999999999")

    assert "unexpected" not in err, err
    assert code in (0, 2), err


def test_given_a_deeply_nested_message_in_the_dlq_then_replay_says_what_is_wrong(
    world: AttackWorld,
) -> None:
    sqs = world.aws.client("sqs")
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="[" * 100_000 + "]" * 100_000)

    code, _, err = cli("replay", "--queue-url", url)

    assert code == 1
    assert "unexpected" not in err, err


class _HtmlForbidden(http.server.BaseHTTPRequestHandler):
    """What a corporate proxy answers: a 403 web page, many lines."""

    def do_POST(self) -> None:
        body = (
            b"<!doctype html>\n<html>\n<head><title>403 Forbidden</title></head>\n"
            b"<body>\n<h1>Forbidden</h1>\n<p>Blocked by policy.</p>\n</body>\n</html>\n"
        )
        self.send_response(403)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def html_proxy() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlForbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_given_a_proxy_answering_an_html_page_then_history_list_errors_on_one_line(
    world: AttackWorld, html_proxy: str
) -> None:
    """README: "Error messages are one line each, however long." (the sweep already folds a
    proxy's HTML page into one line)."""
    code, _, err = cli("history", "list", "--endpoint-url", html_proxy)

    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "<" not in err, err


# -- G. a lease written by a fast clock: "under way" for hours, and no metric says so ---------


def test_given_a_backfill_on_a_fast_clock_then_it_refuses_before_it_takes_a_lease(
    world: AttackWorld,
) -> None:
    """An operator's laptop keeps its hardware clock in local time (a dual-boot machine), so
    its UTC clock is 9 hours fast. Was: their `backfill`, killed mid-copy, left a lease
    running out 9 hours late, and every sweep answered BUSY with no metric. Now the CLI
    compares its clock with AWS's before it takes any lease, and refuses."""
    fake = world.fake
    fake.add_job("stuck", completion_time=NOW - timedelta(minutes=3))
    since = (NOW - timedelta(hours=1)).isoformat()

    process = cli_process(
        world, ["backfill", "--since", since], clock_skew_seconds=9 * 3600, capture=True
    )
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "clock is 9.0 hours ahead of AWS's" in " ".join(err.decode().split())
    assert world.items("stuck") == []


def test_given_a_lease_longer_than_any_invocations_then_the_sweep_counts_the_run(
    world: AttackWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lease that runs out hours from now was written by a clock that was ahead (an older
    CLI, a host without NTP). The run waits for it, but never silently."""
    fake = world.fake
    fake.add_job("stuck", completion_time=NOW - timedelta(minutes=3))
    created = iso_ms(fake.describe("stuck")["CreationTime"])
    world.db.put_item(
        TableName=world.env.table,
        Item={
            "JobName": {"S": "stuck"},
            "CreatedAt": {"S": created},
            "JobKind": {"S": "TRANSCRIPTION"},
            "JobStatus": {"S": "COMPLETED"},
            "ArchiveStatus": {"S": "INCOMPLETE"},
            "ArchiveError": {"S": "archiving under way"},
            "RetryArchive": {"BOOL": True},
            "LeaseOwner": {"S": "skewed"},
            "LeaseExpiresAt": {"N": str(time.time() + 9 * 3600)},
        },
    )
    capsys.readouterr()

    verdicts = world.sweep()["verdicts"]

    assert verdicts == {"STUCK": 1}
    assert metrics_emitted(capsys.readouterr().out).get("SweepRunsFailed") == 1


def test_given_archive_unredacted_false_when_the_operator_backfills_then_no_unredacted_is_kept(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch, embedded_aws: EmbeddedAWS
) -> None:
    """The stack is deployed with `-c archiveUnredacted=false` (keep no unredacted PII). Two
    redacted calls' events were lost; the operator runs `transcribe-archiver backfill` as
    the README says, table and bucket from their shell, nothing else set.

    Was: the backfill archived the unredacted transcript.json of both (the function would
    have skipped it). Now the CLI archives with the deployed function's settings, which the
    stack publishes (output ArchiverSettings)."""
    fake = world.fake
    done = NOW - timedelta(minutes=3)
    fake.add_job("pii-call", redaction="redacted_and_unredacted", completion_time=done)
    fake.add_call_analytics_job("pii-ca", redaction="redacted_and_unredacted", completion_time=done)
    stack = f"Archiver-{uuid.uuid4().hex[:6]}"
    deploy_stack(embedded_aws, stack, {"ARCHIVE_UNREDACTED": "false"})
    monkeypatch.delenv("ARCHIVE_UNREDACTED", raising=False)  # the operator's shell

    code, _, err = cli(
        "backfill", "--since", (NOW - timedelta(hours=1)).isoformat(), "--stack", stack
    )

    assert code == 0, err
    for name in ("pii-call", "pii-ca"):
        item = world.items(name)[0]
        assert "redacted-transcript.json" in item["Outputs"]
        assert "transcript.json" not in item["Outputs"], (
            f"{name}: the unredacted transcript was archived despite archiveUnredacted=false"
        )


def test_given_a_stack_with_a_custom_prefix_when_the_operator_backfills_then_it_archives_there(
    world: AttackWorld, monkeypatch: pytest.MonkeyPatch, embedded_aws: EmbeddedAWS
) -> None:
    fake = world.fake
    fake.add_job("prefixed", completion_time=NOW - timedelta(minutes=3))
    stack = f"Archiver-{uuid.uuid4().hex[:6]}"
    deploy_stack(embedded_aws, stack, {"ARCHIVE_PREFIX": "custom/"})
    monkeypatch.delenv("ARCHIVE_PREFIX", raising=False)

    code, _, err = cli(
        "backfill", "--since", (NOW - timedelta(hours=1)).isoformat(), "--stack", stack
    )

    assert code == 0, err
    assert world.items("prefixed")[0]["ArchiveUri"].startswith(f"s3://{world.env.bucket}/custom/")


def deploy_stack(embedded_aws: EmbeddedAWS, name: str, settings: dict[str, str]) -> None:
    """A stack publishing what the real one does for the CLI (moto runs the template)."""
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ArchiverSettings": {"Value": json.dumps(settings)}},
    }
    embedded_aws.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


# -- H. `purge --run` erases another kind's run of the same millisecond -----------------------


def test_given_two_kinds_sharing_a_millisecond_when_one_run_is_purged_by_run_then_the_other_stays(
    world: AttackWorld,
) -> None:
    """A transcription job and a Call Analytics job named `sh` were created in the same
    millisecond; the second is recorded `{CreatedAt}#CALL_ANALYTICS`. The operator erases
    the transcription run: `purge sh --run <its CreatedAt>` (README: "the one --run names").

    Observed: both runs are purged: the Call Analytics run, whose CreatedAt is
    `...#CALL_ANALYTICS`, was not the one named, and its call audio and transcripts are gone."""
    fake = world.fake
    created = NOW.replace(microsecond=250_000) - timedelta(minutes=10)
    done = created + timedelta(minutes=3)
    fake.add_job("sh", creation_time=created, completion_time=done)
    tx = world.invoke(fake.event_for("sh", kind="transcription"))
    fake.add_call_analytics_job("sh", creation_time=created, completion_time=done)
    ca = world.invoke(fake.event_for("sh", kind="call-analytics"))
    assert ca["createdAt"] == f"{tx['createdAt']}#CALL_ANALYTICS"

    code, _, err = cli("purge", "sh", "--run", tx["createdAt"], "--yes")

    assert code == 0, err
    status = {i["CreatedAt"]: i["ArchiveStatus"] for i in world.items("sh")}
    assert status[tx["createdAt"]] == "PURGED"
    assert status[ca["createdAt"]] == "ARCHIVED", "the Call Analytics run was purged too"
    assert world.versions("call-analytics/sh/")


# -- I. another account's (or region's) event becomes an item here ----------------------------


@pytest.mark.parametrize(
    "origin",
    [{"account": "999999999999"}, {"region": "eu-west-1"}],
    ids=["another-account", "another-region"],
)
def test_given_an_event_from_another_account_or_region_then_no_item_is_written(
    world: AttackWorld, origin: dict[str, str]
) -> None:
    """The stack's rules match `source` and `detail-type` only (no `account`, no `region`),
    and a default bus also receives what other accounts' or regions' rules forward to it (an
    organization's central event bus). Such an event names a job this account and region
    never ran; Get…Job here says "couldn't be found".

    Observed: the handler records an INCOMPLETE "the run no longer exists" item for it (and
    raises JobsIncomplete): an item that stands for no run of this archive."""
    fake = world.fake
    fake.add_job("their-job", completion_time=NOW - timedelta(minutes=3))
    foreign = fake.event_for("their-job") | origin
    fake.delete_job("their-job")  # it never existed here

    world.invoke(foreign)

    assert world.items("their-job") == [], "an item for another account's or region's job"


# -- J. a schedule input naming kinds the sweep does not know sweeps nothing, silently ---------


@pytest.mark.parametrize("kinds", [["transcription", "call-analytics"], ["TRANSCRIPTON"]])
def test_given_a_schedule_input_with_unknown_kinds_then_the_sweep_says_so(
    world: AttackWorld, kinds: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The schedule's input is `{"action": "sweep", "overlapMinutes": N, "kinds": [...]}`. An
    operator edits it in the console (the README spells kinds `TRANSCRIPTION` "or
    transcription, call-analytics"), or mistypes one.

    Observed: the sweep lists nothing, archives nothing, reports no error and emits no
    metric: every run whose event is lost from then on is lost, and nothing says so."""
    fake = world.fake
    fake.add_job("event-lost", completion_time=NOW - timedelta(minutes=5))
    capsys.readouterr()

    summary = world.sweep(kinds=kinds)

    emitted = metrics_emitted(capsys.readouterr().out)
    archived = [i for i in world.items("event-lost") if i["ArchiveStatus"] == "ARCHIVED"]
    assert archived or summary.get("errors") or emitted.get("SweepKindsFailed"), (
        f"sweep of kinds {kinds} did nothing and said nothing: {summary}"
    )
