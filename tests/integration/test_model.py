"""A model of the whole system that hunts interleavings (Hypothesis' stateful testing).

Hypothesis picks rules at random: jobs of both kinds finish (COMPLETED or FAILED, outputs
behind presigned links or in the team's bucket) or run for a while first; names are deleted
and reused, sometimes by both kinds at one creation millisecond; events are delivered,
duplicated, reordered, lost or parked in the dead-letter queue; an invocation is killed
mid-copy holding its lease; links fault; scheduled sweeps run, alone or two at once, and an
operator sweeps with ``--since``; the DLQ is replayed; a name is purged. Everything runs the
real code: the handler (as the queue and the schedule invoke it), and the CLI, against the
embedded AWS and the local Transcribe, while the model keeps what Transcribe holds.

After every step: no run has two items and no item stands for no run; every ARCHIVED item's
objects are its Outputs; every finished run without an item is within the next scheduled
sweep's reach (or its event is still to come). After a quiet phase (faults off, leases of
killed invocations run out, every pending event delivered, the DLQ replayed, scheduled
sweeps until nothing changes): every finished run the world could know of is recorded
exactly once and at rest, archived whole if Transcribe still has it, and every purged run
has no bytes left.

Hypothesis shrinks a failure to a minimal interleaving; each one found is kept as a plain
regression test (test_never_lose_round_three.py). ``make test`` runs a fixed seed and a few
examples; ``make soak`` runs many more (MODEL_EXAMPLES, MODEL_STEPS).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import archiver.logic.archive as archive_module
import pytest
from archiver.aws import clients
from archiver.cli import main
from archiver.contract import PURGED, JobKind
from archiver.deadline import Deadline
from archiver.handler import handler
from archiver.logic.archive import Archiver
from archiver.logic.copying import RetryPolicy
from archiver.settings import Settings
from archiver.store.record import from_dynamo
from archiver.timefmt import folder_stamp, iso_ms, parse_iso
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from local_aws.archive_env import ArchiveEnv, drop_archive, new_archive
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe, Fault

EXAMPLES: Final = int(os.environ.get("MODEL_EXAMPLES", "12"))
STEPS: Final = int(os.environ.get("MODEL_STEPS", "25"))
KINDS: Final = ("transcription", "call-analytics", "medical")
JOB_KIND: Final = {
    "transcription": "TRANSCRIPTION",
    "call-analytics": "CALL_ANALYTICS",
    "medical": "MEDICAL",
}
PREFIX: Final = {
    "transcription": "transcripts/",
    "call-analytics": "call-analytics/",
    "medical": "medical/",
}
#: Kinds with an EventBridge event of their own (Medical has none: the sweep finds it).
EVENT_KINDS: Final = ("transcription", "call-analytics")
NAMES: Final = ("m0", "m1", "m2")
TEAM_BUCKET: Final = "team-output"
#: The first sweep's reach (logic/sweep.py FIRST_SWEEP) and the schedule's overlap.
FIRST_SWEEP: Final = timedelta(hours=24)
OVERLAP: Final = timedelta(minutes=15)
#: Whole-output restarts without the production backoff: the model is about interleavings.
FAST_RETRY: Final = RetryPolicy(base_delay=0.001, max_delay=0.005, busy_poll=0.05)


class Killed(BaseException):
    """The invocation dies here (Lambda's timeout, an out-of-memory kill): nothing after runs."""


@dataclass
class Run:
    """What Transcribe holds (or held) of one job run, as the model knows it."""

    kind: str
    name: str
    created: datetime
    status: str  # COMPLETED | FAILED | IN_PROGRESS
    completed: datetime | None = None
    event: dict[str, Any] | None = None
    exists: bool = True
    #: Its event was delivered at least once (an item exists from then on).
    delivered: bool = False
    #: Its event is gone for good (lost, never delivered).
    lost: bool = False
    purged: bool = False

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETED", "FAILED")

    @property
    def created_at(self) -> str:
        return iso_ms(self.created)

    @property
    def event_key(self) -> str | None:
        """The sort key of its item if it was recorded from its event after deletion."""
        return self.event["time"].replace("Z", ".000Z") if self.event else None

    @property
    def folder(self) -> str:
        return f"{PREFIX[self.kind]}{self.name}/{folder_stamp(self.created)}/"


@dataclass
class Pending:
    """An event on its way (in the queue), with how often it failed so far."""

    run: Run
    failures: int = 0


@dataclass
class Model:
    runs: list[Run] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    dlq: list[dict[str, Any]] = field(default_factory=list)
    #: An invocation was killed holding a lease that has not run out yet.
    dead_leases: bool = False

    def current(self, kind: str, name: str) -> Run | None:
        found = [r for r in self.runs if r.kind == kind and r.name == name and r.exists]
        return found[-1] if found else None

    def of_name(self, name: str) -> list[Run]:
        return [r for r in self.runs if r.name == name]


class ArchiveModel(RuleBasedStateMachine):
    def __init__(self, aws: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.aws = aws
        self.fake = FakeTranscribe(s3_client=aws.client("s3"), region=aws.region)
        self.fake.__enter__()
        self.env: ArchiveEnv = new_archive(aws, self.fake)
        for key, value in self.env.environ.items():
            monkeypatch.setenv(key, value)
        self.s3 = aws.client("s3")
        self.db = aws.client("dynamodb")
        self.sqs = aws.client("sqs")
        self.dlq_url = self.sqs.create_queue(QueueName=f"dlq-{self.env.table}")["QueueUrl"]
        self.model = Model()
        self.clock = datetime.now(UTC).replace(microsecond=123_000) - timedelta(hours=3)
        self.killer = self._killer()

    # -- the world -------------------------------------------------------------------------

    def _killer(self) -> Archiver:
        """An archiver that dies after taking a run's lease: mid-copy or before recording."""
        archiver = Archiver(Settings.from_env(), clients(), retry=FAST_RETRY)
        table = archiver.table

        def die(*_: Any, **__: Any) -> bool:
            raise Killed

        table.complete = die  # type: ignore[method-assign]
        return archiver

    def _tick(self, seconds: int) -> datetime:
        """Advance the model's clock; completions stay seconds apart, like real runs'."""
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def _invoke(self, event: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any] | None:
        """The handler as the event source mapping invokes it; None when it raised."""
        try:
            result: dict[str, Any] = handler(event, FakeLambdaContext(timeout_seconds=timeout))
        except Exception:
            return None
        return result

    def _cli(self, *argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return code, out.getvalue() + err.getvalue()

    # -- rules: Transcribe ------------------------------------------------------------------

    @initialize()
    def team_bucket(self) -> None:
        with contextlib.suppress(Exception):
            self.aws.create_bucket(TEAM_BUCKET)

    @rule(
        kind=st.sampled_from(KINDS),
        name=st.sampled_from(NAMES),
        status=st.sampled_from(["COMPLETED", "COMPLETED", "FAILED"]),
        team=st.booleans(),
        took=st.integers(min_value=5, max_value=40),
    )
    def finish(self, kind: str, name: str, status: str, team: bool, took: int) -> None:
        """A job of ``name`` runs and ends (the name must be free: its last run deleted)."""
        if self.model.current(kind, name) is not None:
            return
        completed = self._tick(took)
        created = completed - timedelta(seconds=took) + timedelta(milliseconds=1)
        self._add(kind, name, status, created, completed, team)

    @rule(name=st.sampled_from(NAMES), took=st.integers(min_value=5, max_value=40))
    def finish_twins(self, name: str, took: int) -> None:
        """A transcription job and a Call Analytics job with one name and one creation ms."""
        if any(self.model.current(kind, name) for kind in KINDS):
            return
        completed = self._tick(took)
        created = completed - timedelta(seconds=took) + timedelta(milliseconds=1)
        for n, kind in enumerate(KINDS):
            # One creation millisecond, completions seconds apart: a transcription event and
            # a Medical job of the name that ended in the same second cannot be told apart
            # (the contract takes such an event for the Medical run).
            self._add(kind, name, "COMPLETED", created, completed + timedelta(seconds=5 * n), False)

    def _add(
        self, kind: str, name: str, status: str, created: datetime, completed: datetime, team: bool
    ) -> None:
        previous = [r for r in self.model.runs if r.kind == kind and r.name == name]
        if previous and previous[-1].created >= created - timedelta(seconds=1):
            return  # the double keeps a reused name's runs a second apart; so does the model
        times = {"creation_time": created, "completion_time": completed}
        if kind == "transcription":
            extra: dict[str, Any] = {"output_bucket": TEAM_BUCKET} if team else {}
            if status == "FAILED":
                extra["failure_reason"] = "Unsupported media format"
            self.fake.add_job(name, status=status, **times, **extra)  # type: ignore[arg-type]
        elif kind == "call-analytics":
            extra = {"output_location": f"s3://{TEAM_BUCKET}/ca/"} if team else {}
            if status == "FAILED":
                extra["failure_reason"] = "Unsupported media format"
            self.fake.add_call_analytics_job(name, status=status, **times, **extra)
        else:
            extra = {"failure_reason": "Unsupported media format"} if status == "FAILED" else {}
            self.fake.add_medical_job(
                name, output_bucket=TEAM_BUCKET, status=status, **times, **extra
            )
        run = Run(kind, name, created, status, completed)
        self.model.runs.append(run)
        if kind in EVENT_KINDS:
            run.event = self.fake.event_for(name, kind=kind)  # type: ignore[arg-type]
            self.model.pending.append(Pending(run))
        else:
            run.lost = True  # no event: only the sweep can find it

    @rule(kind=st.sampled_from(KINDS), name=st.sampled_from(NAMES))
    def start_long_job(self, kind: str, name: str) -> None:
        """A job that runs for a while: the sweep's floor must wait for it."""
        if self.model.current(kind, name) is not None or kind != "transcription":
            return
        created = self._tick(5)
        self.fake.add_job(name, status="IN_PROGRESS", creation_time=created)
        self.model.runs.append(Run(kind, name, created, "IN_PROGRESS"))

    @rule(data=st.data())
    def long_job_ends(self, data: st.DataObject) -> None:
        running = [r for r in self.model.runs if r.status == "IN_PROGRESS" and r.exists]
        if not running:
            return
        run = data.draw(st.sampled_from(running))
        job = self.fake.complete_job(run.name, kind=run.kind)  # type: ignore[arg-type]
        run.status, run.completed = "COMPLETED", job["CompletionTime"]
        run.event = self.fake.event_for(run.name, kind=run.kind)  # type: ignore[arg-type]
        self.model.pending.append(Pending(run))

    @rule(data=st.data())
    def delete_job(self, data: st.DataObject) -> None:
        """A team deletes a finished job (to reuse its name): Transcribe forgets the run."""
        finished = [r for r in self.model.runs if r.exists and r.finished]
        if not finished:
            return
        run = data.draw(st.sampled_from(finished))
        self.fake.delete_job(run.name, kind=run.kind)  # type: ignore[arg-type]
        run.exists = False

    @rule(data=st.data(), hard=st.booleans())
    def link_fault(self, data: st.DataObject, hard: bool) -> None:
        """A presigned link expires, or answers 500 (past every retry, when ``hard``)."""
        runs = [
            r
            for r in self.model.runs
            if r.exists and r.status == "COMPLETED" and r.kind == "transcription"
        ]
        runs = [
            r
            for r in runs
            if self.fake.describe(r.name, kind="transcription")
            .get("Transcript", {})
            .get("TranscriptFileUri", "")
            .find(TEAM_BUCKET)
            < 0
        ]
        if not runs:
            return
        run = data.draw(st.sampled_from(runs))
        faults = [Fault.status(500)] * 5 if hard else [Fault.expired()]
        self.fake.inject(run.name, "transcript", faults, kind="transcription")

    # -- rules: events ----------------------------------------------------------------------

    @rule(data=st.data(), as_batch=st.booleans())
    def deliver(self, data: st.DataObject, as_batch: bool) -> None:
        """The queue hands the function an event (any of those waiting: reordered)."""
        if not self.model.pending:
            return
        pending = data.draw(st.sampled_from(self.model.pending))
        event = pending.run.event
        assert event is not None
        if as_batch:
            body = {
                "Records": [
                    {
                        "messageId": f"m-{time.monotonic_ns()}",
                        "receiptHandle": "r",
                        "body": json.dumps(event),
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "md5OfBody": "",
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
                        "awsRegion": "us-east-1",
                    }
                ]
            }
            answer = self._invoke(body)
            ok = answer is not None and not answer.get("batchItemFailures")
        else:
            ok = self._invoke(event) is not None
        pending.run.delivered = True
        if ok:
            self.model.pending.remove(pending)
        else:
            pending.failures += 1  # back in the queue; SQS parks it after a few receives

    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        """EventBridge delivers an event twice: one copy now, the other stays queued."""
        if not self.model.pending:
            return
        pending = data.draw(st.sampled_from(self.model.pending))
        assert pending.run.event is not None
        self._invoke(pending.run.event)
        pending.run.delivered = True

    @rule(data=st.data())
    def lose(self, data: st.DataObject) -> None:
        """EventBridge drops an event (best effort): only the sweep can find its run now."""
        if not self.model.pending:
            return
        pending = data.draw(st.sampled_from(self.model.pending))
        self.model.pending.remove(pending)
        if not pending.run.delivered:
            pending.run.lost = True

    @rule(data=st.data())
    def park(self, data: st.DataObject) -> None:
        """SQS gives up on an event after its last receive: it waits in the DLQ."""
        if not self.model.pending:
            return
        pending = data.draw(st.sampled_from(self.model.pending))
        assert pending.run.event is not None
        self.model.pending.remove(pending)
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(pending.run.event))
        self.model.dlq.append(pending.run.event)

    @precondition(lambda self: not self.model.dead_leases)
    @rule()
    def replay(self) -> None:
        """An operator replays the DLQ (`transcribe-archiver replay`)."""
        if not self.model.dlq:
            return
        code, out = self._cli("replay", "--queue-url", self.dlq_url)
        assert code in (0, 1), out
        for event in self.model.dlq:
            for run in self.model.runs:
                if run.event is event:
                    run.delivered = True
        self.model.dlq = [
            json.loads(m["Body"])
            for m in self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
        ]

    @rule(data=st.data(), after_copy=st.booleans())
    def kill_mid_copy(self, data: st.DataObject, after_copy: bool) -> None:
        """An invocation takes the run's lease and dies, mid-copy or before recording."""
        waiting = [p for p in self.model.pending if p.run.exists]
        if not waiting:
            return
        pending = data.draw(st.sampled_from(waiting))
        run, event = pending.run, pending.run.event
        assert event is not None
        copier = self.killer._copier
        original = copier.copy
        if not after_copy:

            def dies(*_: Any, **__: Any) -> None:
                raise Killed

            copier.copy = dies  # type: ignore[method-assign]
        try:
            with contextlib.suppress(Killed, Exception):
                self.killer.archive_job(
                    run.name,
                    kind=JobKind(JOB_KIND[run.kind]),
                    event_time=parse_iso(event["time"]),
                    event_status=run.status,
                    event_id=event["id"],
                    deadline=Deadline.after(8),
                )
        finally:
            copier.copy = original  # type: ignore[method-assign]
        self.model.dead_leases = True  # the message comes back after its visibility timeout

    @rule()
    def leases_run_out(self) -> None:
        """Time passes beyond every lease a killed invocation left (deadline + 90 s)."""
        for name in NAMES:
            for item in self._items(name):
                if "LeaseExpiresAt" in item:
                    self.db.update_item(
                        TableName=self.env.table,
                        Key={"JobName": {"S": name}, "CreatedAt": {"S": item["CreatedAt"]}},
                        UpdateExpression="SET LeaseExpiresAt = :past",
                        ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
                    )
        self.model.dead_leases = False

    # -- rules: the nets --------------------------------------------------------------------

    @rule()
    def scheduled_sweep(self) -> None:
        self._invoke({"action": "sweep", "overlapMinutes": 15}, timeout=120)

    @rule()
    def two_sweeps_at_once(self) -> None:
        threads = [threading.Thread(target=self.scheduled_sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @rule(minutes_back=st.integers(min_value=1, max_value=240))
    def operator_sweep(self, minutes_back: int) -> None:
        since = iso_ms(self.clock - timedelta(minutes=minutes_back))
        code, out = self._cli("sweep", "--since", since)
        assert code in (0, 1), out
        assert "unexpected" not in out, out

    @rule(name=st.sampled_from(NAMES), also_transcribe=st.booleans())
    def purge(self, name: str, also_transcribe: bool) -> None:
        """A data-subject request: erase every run of the name."""
        before = self._items(name)
        argv = ["purge", name, "--yes", "--reason", "model"]
        if also_transcribe:
            argv.append("--also-transcribe")
        code, _ = self._cli(*argv)
        if code != 0:
            return  # refused (nothing recorded, or a run being archived): nothing erased
        for item in before:
            for run in self._runs_of(item):
                run.purged = True
                if also_transcribe and run.exists and run.finished:
                    current = self.model.current(run.kind, run.name)
                    if current is run:
                        run.exists = False

    # -- what the table holds -----------------------------------------------------------------

    def _items(self, name: str) -> list[dict[str, Any]]:
        page = self.db.query(
            TableName=self.env.table,
            KeyConditionExpression="JobName = :n",
            ExpressionAttributeValues={":n": {"S": name}},
            ConsistentRead=True,
        )
        return [from_dynamo(i) for i in page["Items"]]

    def _runs_of(self, item: dict[str, Any]) -> list[Run]:
        """The run an item stands for: by its CreationTime, or (recorded from its event
        after Transcribe deleted it) by its event's time."""
        key = str(item["CreatedAt"])
        created = key.split("#", maxsplit=1)[0]
        kind = item.get("JobKind")
        runs = [
            r
            for r in self.model.of_name(str(item["JobName"]))
            if kind is None or JOB_KIND[r.kind] == kind
        ]
        by_creation = [r for r in runs if r.created_at == created]
        if by_creation:
            return by_creation
        return [r for r in runs if r.event_key == created]

    @invariant()
    def each_run_has_at_most_one_item_and_each_item_a_run(self) -> None:
        owners: dict[int, str] = {}
        for name in NAMES:
            for item in self._items(name):
                runs = self._runs_of(item)
                assert runs, f"an item stands for no run: {item['JobName']} {item['CreatedAt']}"
                if item.get("ArchiveStatus") == PURGED and item.get("JobKind") is None:
                    continue  # a tombstone without a kind (written before they kept one)
                assert len(runs) == 1, f"{item['CreatedAt']} fits {len(runs)} runs"
                key = id(runs[0])
                assert key not in owners, (
                    f"{name}: run {runs[0].created_at} ({runs[0].kind}) has two items: "
                    f"{owners[key]} and {item['CreatedAt']}"
                )
                owners[key] = str(item["CreatedAt"])

    @invariant()
    def archived_items_hold_their_outputs(self) -> None:
        for name in NAMES:
            for item in self._items(name):
                if item.get("ArchiveStatus") != "ARCHIVED":
                    continue
                folder = item["ArchiveUri"].removeprefix(f"s3://{self.env.bucket}/")
                listed = self.s3.list_objects_v2(Bucket=self.env.bucket, Prefix=folder)
                sizes = {
                    o["Key"].removeprefix(folder): o["Size"] for o in listed.get("Contents", [])
                }
                wanted = {n: o["Bytes"] for n, o in item["Outputs"].items()}
                assert sizes == wanted, f"{name} {item['CreatedAt']}: {sizes} != {wanted}"

    @invariant()
    def every_finished_run_is_recorded_or_within_reach(self) -> None:
        floors = {kind: self._floor(kind) for kind in KINDS}
        now = datetime.now(UTC)
        for run in self.model.runs:
            if not run.finished or run.purged or self._items_of(run):
                continue
            if any(p.run is run for p in self.model.pending) or run.event in self.model.dlq:
                continue  # its event is still to come
            if not run.exists:
                assert run.lost or not run.delivered, f"{run.name} {run.created_at}: unrecorded"
                continue  # deleted before anything could see it, its event lost: unknowable
            floor = floors[run.kind]
            reach = parse_iso(floor) - OVERLAP if floor else now - FIRST_SWEEP
            assert run.created >= reach, (
                f"{run.kind} {run.name} {run.created_at} finished, unrecorded, and below the "
                f"floor {floor}: no sweep will ever find it"
            )

    def _items_of(self, run: Run) -> list[dict[str, Any]]:
        return [i for i in self._items(run.name) if run in self._runs_of(i)]

    def _floor(self, kind: str) -> str | None:
        item = self.db.get_item(
            TableName=self.env.table,
            Key={"JobName": {"S": "#sweep"}, "CreatedAt": {"S": JOB_KIND[kind]}},
            ConsistentRead=True,
        ).get("Item")
        return item["Floor"]["S"] if item else None

    # -- the quiet phase ------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            self._quiet_phase()
            self._check_settled()
        finally:
            self.fake.__exit__(None, None, None)
            drop_archive(self.aws, self.env)
            with contextlib.suppress(Exception):
                self.sqs.delete_queue(QueueUrl=self.dlq_url)

    def _quiet_phase(self) -> None:
        self.fake.clear_link_faults()
        self.leases_run_out()
        while self.model.pending:
            pending = self.model.pending.pop(0)
            assert pending.run.event is not None
            self._invoke(pending.run.event)
            pending.run.delivered = True
        self.replay()
        before: list[Any] = []
        for _ in range(4):  # scheduled sweeps until nothing changes (bounded)
            self.scheduled_sweep()
            now = [self._items(n) for n in NAMES]
            if now == before:
                break
            before = now

    def _check_settled(self) -> None:
        for run in self.model.runs:
            if not run.finished:
                continue
            items = self._items_of(run)
            if run.purged:
                assert all(i["ArchiveStatus"] == PURGED for i in items), items
                self._assert_no_bytes(run)
                continue
            if not items:
                assert not run.exists and run.lost, (
                    f"{run.kind} {run.name} {run.created_at} ({run.status}) ended unrecorded"
                )
                continue
            assert len(items) == 1, f"{run.name} {run.created_at}: {len(items)} items"
            item = items[0]
            at_rest = item["ArchiveStatus"] == "ARCHIVED" or (
                item["ArchiveStatus"] == "INCOMPLETE" and item.get("RetryArchive") is not True
            )
            assert at_rest, f"{run.name} {run.created_at} unsettled: {item.get('ArchiveError')}"
            if run.exists:
                assert item["ArchiveStatus"] == "ARCHIVED", (
                    f"{run.name} {run.created_at} still at Transcribe yet "
                    f"{item['ArchiveStatus']}: {item.get('ArchiveError')}"
                )
                self._assert_whole(item)

    def _assert_whole(self, item: dict[str, Any]) -> None:
        folder = item["ArchiveUri"].removeprefix(f"s3://{self.env.bucket}/")
        for name, out in item["Outputs"].items():
            body = self.s3.get_object(Bucket=self.env.bucket, Key=f"{folder}{name}")["Body"].read()
            assert hashlib.sha256(body).hexdigest() == out["Sha256"], name

    def _assert_no_bytes(self, run: Run) -> None:
        versions = self.s3.list_object_versions(Bucket=self.env.bucket, Prefix=run.folder)
        left = [v["Key"] for v in versions.get("Versions", [])]
        assert not left, f"purged {run.name} {run.created_at} still has {left}"
        uploads = self.s3.list_multipart_uploads(Bucket=self.env.bucket, Prefix=run.folder)
        assert not uploads.get("Uploads"), f"purged {run.name} has unfinished uploads"


@pytest.mark.timeout(60 + EXAMPLES * STEPS * 3)
def test_no_interleaving_loses_or_doubles_a_run(
    embedded_aws: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retries without production backoff, in the handler and the CLI alike.
    monkeypatch.setattr(archive_module, "RetryPolicy", lambda: FAST_RETRY)
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL_") or key in {"AWS_PROFILE", "AWS_SESSION_TOKEN"}:
            monkeypatch.delenv(key)
    run_state_machine_as_test(
        lambda: ArchiveModel(embedded_aws, monkeypatch),  # type: ignore[arg-type]
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=os.environ.get("MODEL_RANDOM") != "1",
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )
