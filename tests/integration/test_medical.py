"""Issue 21: Transcribe Medical and AWS HealthScribe jobs archived too, through the handler and
the CLI, over real HTTP (moto's server and the Transcribe double).

Neither kind has a documented event, so the sweep (``{"action": "sweep"}``) finds them; their
outputs are always in the team's bucket, so S3 copies them. Assertions read S3 and DynamoDB
as a user would: byte-identical objects with the right checksum under ``medical/`` and
``medical-scribe/``, one item per run with its ``JobKind`` and fields, listed by ``--kind``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
from archiver.aws import clients

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe
from local_aws.transcribe.content import fixture_bytes
from local_aws.transcribe.model import JobType
from tests.integration.helpers import World, assert_archived_whole, cli, keys_under, only_run, runs

pytestmark = pytest.mark.integration

SWEEP: Final = {"action": "sweep", "overlapMinutes": 15}
MED: Final[JobType] = "medical"
SCRIBE: Final[JobType] = "medical-scribe"
CHANNELS: Final = [
    {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
    {"ChannelId": 1, "ParticipantRole": "PATIENT"},
]


class MedicalWorld(World):
    def __init__(self, aws: EmbeddedAWS, env: ArchiveEnv, fake: FakeTranscribe) -> None:
        super().__init__(aws, env, fake)
        self.team = f"clinic-out-{env.bucket.removeprefix('archive-')}"

    def sweep(self) -> dict[str, Any]:
        return self.invoke(dict(SWEEP))

    def medical(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.fake.add_medical_job(name, output_bucket=self.team, **spec)

    def scribe(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.fake.add_medical_scribe_job(name, output_bucket=self.team, **spec)

    def whole_of(self, name: str, kind: JobType) -> dict[str, Any]:
        """The run of ``kind``, checked archived whole (byte-identical, checksummed)."""
        return assert_archived_whole(
            self.s3, self.db, self.bucket, self.table, self.fake, name, kind=kind
        )

    def folder(self, item: dict[str, Any]) -> str:
        return str(item["ArchiveUri"]).removeprefix(f"s3://{self.bucket}/")


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> MedicalWorld:
    return MedicalWorld(embedded_aws, archive_env, fake_transcribe)


@contextlib.contextmanager
def s3_calls() -> Iterator[list[str]]:
    """Every S3 operation the function's own client sends."""
    recorded: list[str] = []
    s3 = clients().s3

    def record(model: Any, **_: Any) -> None:
        recorded.append(model.name)

    s3.meta.events.register("before-call.s3", record)
    try:
        yield recorded
    finally:
        s3.meta.events.unregister("before-call.s3", record)


def stamp(created: datetime) -> str:
    return created.strftime("%Y%m%dT%H%M%SZ")


# -- the sweep finds them ----------------------------------------------------------------------


def test_given_a_medical_and_a_healthscribe_job_when_swept_then_each_is_archived_once_whole(
    world: MedicalWorld,
) -> None:
    medical = world.medical(
        "visit-1", content_identification="PHI", type="DICTATION", tags={"Clinic": "North"}
    )
    scribe = world.scribe("visit-2", tags={"Clinic": "South"}, note_template="GIRPP")
    world.fake.clear_requests()

    with s3_calls() as calls:
        summary = world.sweep()

    assert summary["recovered"] == 2
    assert summary["verdicts"] == {"ARCHIVED": 2}
    assert {"MEDICAL", "MEDICAL_SCRIBE"} <= set(summary["windows"])
    # Byte-identical, checksummed, described (assert_archived_whole), under each kind's prefix.
    item = world.whole_of("visit-1", MED)
    assert world.folder(item) == f"medical/visit-1/{stamp(medical['CreationTime'])}/"
    assert sorted(item["Outputs"]) == ["job.json", "transcript.json"]
    note = world.whole_of("visit-2", SCRIBE)
    assert world.folder(note) == f"medical-scribe/visit-2/{stamp(scribe['CreationTime'])}/"
    assert sorted(note["Outputs"]) == ["clinical-document.json", "job.json", "transcript.json"]
    # Copied by S3 itself: one CopyObject per output, the bytes never through the function.
    assert calls.count("CopyObject") == 3
    assert calls.count("PutObject") == 2  # the two job.json
    assert "CreateMultipartUpload" not in calls
    assert world.fake.link_requests() == 0
    transcript = world.s3.get_object(
        Bucket=world.bucket, Key=f"{world.folder(item)}transcript.json"
    )["Body"].read()
    assert transcript == fixture_bytes("standard-minimal.json")
    assert item["Outputs"]["transcript.json"]["Sha256"] == hashlib.sha256(transcript).hexdigest()
    # Their fields.
    assert (item["Specialty"], item["Type"], item["ContentIdentificationType"]) == (
        "PRIMARYCARE",
        "DICTATION",
        "PHI",
    )
    assert item["Tags"] == {"Clinic": "North"}
    assert item["MediaSampleRateHertz"] == 16000
    assert note["ChannelDefinitions"] == CHANNELS
    assert note["Tags"] == {"Clinic": "South"}
    assert note["Settings"]["ClinicalNoteGenerationSettings"] == {"NoteTemplate": "GIRPP"}
    assert "Specialty" not in note
    job = json.loads(
        world.s3.get_object(Bucket=world.bucket, Key=f"{world.folder(note)}job.json")["Body"].read()
    )
    assert job["MedicalScribeJobName"] == "visit-2"
    assert job["MedicalScribeOutput"]["ClinicalDocumentUri"].endswith("/visit-2/summary.json")

    # A second sweep finds them settled: nothing is copied or written again.
    before = [only_run(world.db, world.table, n) for n in ("visit-1", "visit-2")]
    with s3_calls() as again:
        second = world.sweep()
    assert second["recovered"] == 0 and again == []
    assert [only_run(world.db, world.table, n) for n in ("visit-1", "visit-2")] == before


def test_given_failed_and_half_written_runs_when_swept_then_reasons_are_recorded(
    world: MedicalWorld,
) -> None:
    world.medical("failed-visit", status="FAILED", failure_reason="Unsupported media format")
    world.scribe("noteless-visit", null_outputs=["clinical_document"])

    summary = world.sweep()

    assert summary["verdicts"] == {"ARCHIVED": 1, "INCOMPLETE": 1}
    failed = world.whole_of("failed-visit", MED)
    assert sorted(failed["Outputs"]) == ["job.json"]
    assert failed["JobStatus"] == "FAILED"
    assert failed["FailureReason"] == "Unsupported media format"
    noteless = only_run(world.db, world.table, "noteless-visit")
    assert noteless["ArchiveStatus"] == "INCOMPLETE"
    assert noteless["ArchiveError"].startswith("clinical-document.json: link is missing or null")
    assert sorted(noteless["Outputs"]) == ["job.json", "transcript.json"]


def test_given_custom_prefixes_when_swept_then_runs_land_under_them(
    world: MedicalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDICAL_PREFIX", "clinic/dictations")
    monkeypatch.setenv("MEDICAL_SCRIBE_PREFIX", "clinic/notes/")
    world.medical("visit-3")
    world.scribe("visit-3")

    world.sweep()

    medical = only_run(world.db, world.table, "visit-3", MED)
    scribe = only_run(world.db, world.table, "visit-3", SCRIBE)
    assert world.folder(medical).startswith("clinic/dictations/visit-3/")
    assert world.folder(scribe).startswith("clinic/notes/visit-3/")
    assert keys_under(world.s3, world.bucket, "medical") == []


# -- the CLI: --kind, history show, backfill ----------------------------------------------------


def test_given_archived_medical_kinds_then_history_lists_them_by_kind_and_shows_each(
    world: MedicalWorld,
) -> None:
    world.fake.add_job("dictation")
    world.medical("visit-4", type="DICTATION")
    world.scribe("visit-4")
    world.scribe("visit-5", status="FAILED")
    world.sweep()

    code, out, err = cli("history", "list", "--kind", "medical", "--output", "json")
    assert code == 0, err
    assert [(r["JobName"], r["JobKind"]) for r in json.loads(out)] == [("visit-4", "MEDICAL")]
    code, out, _ = cli("history", "list", "--kind", "medical-scribe", "--output", "json")
    assert code == 0
    assert sorted((r["JobName"], r["JobKind"]) for r in json.loads(out)) == [
        ("visit-4", "MEDICAL_SCRIBE"),
        ("visit-5", "MEDICAL_SCRIBE"),
    ]
    code, out, _ = cli("history", "list", "--kind", "medical-scribe", "--status", "FAILED")
    assert code == 0 and "visit-5" in out and "visit-4" not in out

    code, out, _ = cli("history", "show", "visit-4", "--output", "json")
    assert code == 0
    assert sorted(r["JobKind"] for r in json.loads(out)) == ["MEDICAL", "MEDICAL_SCRIBE"]
    code, out, _ = cli("history", "show", "visit-4")
    assert code == 0
    for text in ("MEDICAL_SCRIBE", "CLINICIAN", "Specialty", "PRIMARYCARE", "clinical-document"):
        assert text in out

    code, _, err = cli("history", "list", "--kind", "veterinary")
    assert code == 2
    assert "medical or medical-scribe" in err


def test_given_medical_jobs_before_the_stack_when_backfilled_by_kind_then_only_that_kind(
    world: MedicalWorld,
) -> None:
    world.fake.add_job("old-dictation")
    world.medical("old-visit")
    world.scribe("old-visit")

    code, _, err = cli("backfill", "--kind", "medical-scribe")
    assert code == 0, err
    world.whole_of("old-visit", SCRIBE)
    assert [r["JobKind"] for r in runs(world.db, world.table, "old-visit")] == ["MEDICAL_SCRIBE"]
    assert runs(world.db, world.table, "old-dictation") == []
    assert world.fake.api_calls("ListMedicalTranscriptionJobs") == 0

    code, _, err = cli("sweep", "--kind", "medical", "--since", "2020-01-01")
    assert code == 0, err
    world.whole_of("old-visit", MED)
    assert runs(world.db, world.table, "old-dictation") == []


# -- an event naming a Medical job ----------------------------------------------------------------


def test_given_a_transcribe_event_naming_a_medical_job_then_it_is_archived_as_medical(
    world: MedicalWorld,
) -> None:
    world.medical("visit-6", content_identification="PHI")
    event = world.fake.event_for("visit-6", kind=MED)
    assert event["detail-type"] == "Transcribe Job State Change"

    result = world.invoke(event)

    assert result["outcome"] == "ARCHIVED", result
    item = world.whole_of("visit-6", MED)
    assert item["JobKind"] == "MEDICAL"
    assert world.folder(item).startswith("medical/visit-6/")
    assert "the run no longer exists" not in json.dumps(item)
    assert len(runs(world.db, world.table, "visit-6")) == 1
    # Delivered again, and then swept: the same run, nothing added.
    assert world.invoke(event)["outcome"] == "DUPLICATE"
    world.sweep()
    assert len(runs(world.db, world.table, "visit-6")) == 1


def test_given_a_late_event_of_an_archived_medical_job_since_deleted_then_nothing_is_added(
    world: MedicalWorld,
) -> None:
    world.medical("visit-7")
    event = world.fake.event_for("visit-7", kind=MED)
    world.sweep()
    archived = only_run(world.db, world.table, "visit-7")
    world.fake.delete_job("visit-7", kind=MED)

    assert world.invoke(event)["outcome"] == "DUPLICATE"

    assert runs(world.db, world.table, "visit-7") == [archived]


def test_given_an_event_for_a_transcription_job_gone_while_a_later_medical_job_has_the_name(
    world: MedicalWorld,
) -> None:
    # The event's run (a transcription job) is gone; the Medical job of the name was created
    # after the event, so it cannot be the reported run and is left to the sweep.
    world.fake.add_job("reused", status="FAILED")
    late = world.fake.event_for("reused")
    world.fake.delete_job("reused")
    world.medical(
        "reused", creation_time=datetime.now(UTC) + timedelta(seconds=5), status="IN_PROGRESS"
    )

    result = world.invoke(late)

    assert result["outcome"] == "INCOMPLETE"
    item = only_run(world.db, world.table, "reused")
    assert item["JobKind"] == "TRANSCRIPTION"
    assert item["ArchiveError"].startswith("the run no longer exists")


# -- one name, several kinds -------------------------------------------------------------------


def test_given_a_medical_and_a_transcription_job_share_name_and_millisecond_then_both_kept(
    world: MedicalWorld,
) -> None:
    created = datetime.now(UTC).replace(microsecond=456000) - timedelta(minutes=10)
    done = created + timedelta(minutes=3)
    world.fake.add_job("shared-visit", creation_time=created, completion_time=done)
    world.medical("shared-visit", creation_time=created, completion_time=done)
    world.scribe("shared-visit", creation_time=created, completion_time=done)
    assert world.invoke(world.fake.event_for("shared-visit", kind="transcription"))["outcome"] == (
        "ARCHIVED"
    )

    summary = world.sweep()

    assert summary["verdicts"].get("ARCHIVED") == 2
    items = runs(world.db, world.table, "shared-visit")
    assert sorted((i["JobKind"], i["CreatedAt"]) for i in items) == [
        ("MEDICAL", f"{created.strftime('%Y-%m-%dT%H:%M:%S')}.456Z#MEDICAL"),
        ("MEDICAL_SCRIBE", f"{created.strftime('%Y-%m-%dT%H:%M:%S')}.456Z#MEDICAL_SCRIBE"),
        ("TRANSCRIPTION", f"{created.strftime('%Y-%m-%dT%H:%M:%S')}.456Z"),
    ]
    for kind in ("transcription", MED, SCRIBE):
        world.whole_of("shared-visit", kind)
    # The event of the transcription job still finds its own run.
    event = world.fake.event_for("shared-visit", kind="transcription")
    assert world.invoke(event)["outcome"] == "DUPLICATE"
    assert len(runs(world.db, world.table, "shared-visit")) == 3


# -- hostile: make a run end unrecorded, recorded twice, or as the wrong kind -----------------


def test_given_the_stack_does_not_grant_medical_when_an_event_names_a_gone_job_then_recorded(
    world: MedicalWorld,
) -> None:
    # A stack without the Medical grant (jobKinds) must still record a vanished transcription
    # run, not bounce its event into the dead-letter queue for want of a Medical answer.
    world.fake.add_job("vanished", status="FAILED")
    event = world.fake.event_for("vanished")
    world.fake.delete_job("vanished")
    world.fake.fail_api_next("GetMedicalTranscriptionJob", 1, "access_denied")

    result = world.invoke(event)

    assert result["outcome"] == "INCOMPLETE"
    item = only_run(world.db, world.table, "vanished")
    assert item["JobKind"] == "TRANSCRIPTION"
    assert item["ArchiveError"].startswith("the run no longer exists")
    assert world.fake.api_calls("GetMedicalTranscriptionJob", status=400) == 1


def test_given_an_event_while_the_medical_job_still_reads_in_progress_then_it_waits_as_medical(
    world: MedicalWorld,
) -> None:
    # The event comes before GetMedicalTranscriptionJob says the run ended (read lag).
    world.medical("slow-visit", status="IN_PROGRESS")
    event = {
        "version": "0",
        "id": "medical-read-lag",
        "detail-type": "Transcribe Job State Change",
        "source": "aws.transcribe",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {"TranscriptionJobName": "slow-visit", "TranscriptionJobStatus": "COMPLETED"},
    }
    finisher = threading.Timer(0.5, world.fake.complete_job, ("slow-visit",), {"kind": MED})
    finisher.start()
    try:
        result = world.invoke(event)
    finally:
        finisher.join()

    assert result["outcome"] == "ARCHIVED", result
    assert world.whole_of("slow-visit", MED)["JobKind"] == "MEDICAL"


def test_given_the_sweep_and_an_event_race_for_one_medical_run_then_one_item_one_copy(
    world: MedicalWorld,
) -> None:
    world.medical("raced-visit")
    event = world.fake.event_for("raced-visit", kind=MED)
    results: list[dict[str, Any]] = []

    def run(request: dict[str, Any]) -> None:
        try:
            results.append(world.invoke(request))
        except Exception as exc:  # told to retry later: the queue would deliver it again
            results.append({"outcome": f"raised {exc.__class__.__name__}"})

    threads = [threading.Thread(target=run, args=(r,)) for r in (dict(SWEEP), event, event)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item = world.whole_of("raced-visit", MED)
    assert len(runs(world.db, world.table, "raced-visit")) == 1
    folder = world.folder(item)
    versions = world.s3.list_object_versions(Bucket=world.bucket, Prefix=folder)
    assert sorted(v["Key"] for v in versions.get("Versions", [])) == [
        f"{folder}job.json",
        f"{folder}transcript.json",
    ]
    outcomes = sorted(r.get("outcome", "sweep") for r in results)
    assert outcomes.count("ARCHIVED") <= 1


def test_given_a_purged_medical_run_when_its_event_or_the_sweep_comes_then_nothing_returns(
    world: MedicalWorld,
) -> None:
    world.medical("erased-visit")
    event = world.fake.event_for("erased-visit", kind=MED)
    world.sweep()
    code, _, err = cli("purge", "erased-visit", "--yes", "--also-transcribe", "--reason", "test")
    assert code == 0, err
    with pytest.raises(KeyError):
        world.fake.describe("erased-visit", kind=MED)  # deleted at Transcribe too

    assert world.invoke(event)["outcome"] == "DUPLICATE"
    world.sweep()

    (tombstone,) = runs(world.db, world.table, "erased-visit")
    assert tombstone["ArchiveStatus"] == "PURGED"
    assert keys_under(world.s3, world.bucket, "medical/erased-visit/") == []


def test_given_a_transcription_job_took_the_name_when_a_medical_jobs_event_comes_late_then_medical(
    world: MedicalWorld,
) -> None:
    # The Medical job ended and its event was held up; meanwhile a transcription job of the
    # same name was started. The event can only be the Medical run's: no phantom item.
    created = datetime.now(UTC) - timedelta(minutes=5)
    world.medical(
        "taken-name", creation_time=created, completion_time=created + timedelta(1 / 1440)
    )
    event = world.fake.event_for("taken-name", kind=MED)
    world.fake.add_job("taken-name", status="IN_PROGRESS")

    result = world.invoke(event)

    assert result["outcome"] == "ARCHIVED", result
    (item,) = runs(world.db, world.table, "taken-name")
    assert item["JobKind"] == "MEDICAL"
    world.whole_of("taken-name", MED)


def test_given_a_failed_transcription_job_of_the_name_when_a_medical_event_comes_then_medical(
    world: MedicalWorld,
) -> None:
    # A transcription job of the name FAILED long ago; the event says COMPLETED: it is the
    # Medical run's, which the status tells apart.
    world.fake.add_job(
        "two-kinds", status="FAILED", creation_time=datetime.now(UTC) - timedelta(days=2)
    )
    world.medical("two-kinds")
    event = world.fake.event_for("two-kinds", kind=MED)

    assert world.invoke(event)["outcome"] == "ARCHIVED"

    (item,) = runs(world.db, world.table, "two-kinds")
    assert item["JobKind"] == "MEDICAL"
