"""Where purge looks for a run's objects: never beyond the run's own folder."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from archiver.contract import ARCHIVED, INCOMPLETE, PURGED, JobKind
from archiver.errors import JobNotFoundError, PurgeRefusedError
from archiver.logic.purge import Purger, PurgeStopped, base_created_at
from archiver.store.archive_versions import ArchiveVersions
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord

from local_aws import moto_object_lock

PREFIXES = {JobKind.TRANSCRIPTION: "transcripts/", JobKind.CALL_ANALYTICS: "call-analytics/"}
CREATED = "2026-11-23T10:15:02.123Z"
FOLDER = "transcripts/call-1/20261123T101502Z/"


def purger(aws: dict[str, Any]) -> Purger:
    aws["s3"].put_bucket_versioning(
        Bucket=aws["bucket"], VersioningConfiguration={"Status": "Enabled"}
    )
    return Purger(
        HistoryTable(aws["dynamodb"], aws["table"]),
        ArchiveVersions(aws["s3"], aws["bucket"]),
        PREFIXES,
        identity=lambda: DPO,
    )


def record(aws: dict[str, Any], **fields: Any) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(HistoryRecord(job_name="call-1", **fields))


def test_given_an_archive_uri_wider_than_the_runs_folder_then_purge_refuses_it(
    aws: dict[str, Any],
) -> None:
    """An item naming ``transcripts/`` would otherwise erase every job's archive."""
    for key in (FOLDER + "transcript.json", "transcripts/someone-else/20261123T101502Z/a"):
        aws["s3"].put_object(Bucket=aws["bucket"], Key=key, Body=b"x")
    record(
        aws,
        created_at=CREATED,
        archive_status=ARCHIVED,
        archive_uri=f"s3://{aws['bucket']}/transcripts/",
    )

    with pytest.raises(PurgeRefusedError, match="not a folder of that run"):
        purger(aws).plan("call-1")


def test_given_a_run_keyed_with_its_kind_and_no_archive_uri_then_its_kinds_folder_is_used(
    aws: dict[str, Any],
) -> None:
    key = f"{CREATED}#CALL_ANALYTICS"
    record(aws, created_at=key, job_kind=JobKind.CALL_ANALYTICS, archive_status=INCOMPLETE)
    folder = "call-analytics/call-1/20261123T101502Z/"
    aws["s3"].put_object(Bucket=aws["bucket"], Key=folder + "job.json", Body=b"x")

    plan = purger(aws).plan("call-1", CREATED, JobKind.CALL_ANALYTICS)

    (run,) = plan.runs
    assert base_created_at(run.created_at) == CREATED
    assert run.folders == [folder]
    assert [v.key for v in run.versions] == [folder + "job.json"]


# -- the receipt, the leases given back, a purge stopped half-way ---------------------------

CA_FOLDER = "call-analytics/call-1/20261123T101502Z/"
DPO = "arn:aws:iam::123456789012:user/dpo"


def versions_of(aws: dict[str, Any], bucket: str, prefix: str) -> list[tuple[str, str, bool]]:
    listed = aws["s3"].list_object_versions(Bucket=bucket, Prefix=prefix)
    found = [(v["Key"], v["VersionId"], False) for v in listed.get("Versions", [])]
    found += [(m["Key"], m["VersionId"], True) for m in listed.get("DeleteMarkers", [])]
    return sorted(found)


def test_given_a_purge_then_its_receipt_names_every_version_marker_upload_and_difference(
    aws: dict[str, Any],
) -> None:
    s3, bucket = aws["s3"], aws["bucket"]
    purge = purger(aws)
    for body in (b"first", b"second"):  # two versions of one key
        s3.put_object(Bucket=bucket, Key=CA_FOLDER + "transcript.json", Body=body)
    s3.put_object(Bucket=bucket, Key=CA_FOLDER + "old.json", Body=b"x")
    s3.delete_object(Bucket=bucket, Key=CA_FOLDER + "old.json")  # a delete marker
    killed = s3.create_multipart_upload(Bucket=bucket, Key=CA_FOLDER + "media.wav")["UploadId"]
    record(
        aws,
        created_at=CREATED,
        job_kind=JobKind.CALL_ANALYTICS,
        job_status="COMPLETED",
        archive_status=ARCHIVED,
        archive_uri=f"s3://{bucket}/{CA_FOLDER}",
    )
    plan = purge.plan("call-1")
    shown = versions_of(aws, bucket, CA_FOLDER)
    # While the prompt waits: one shown version goes, an object and an upload appear.
    gone_key, gone_id, _ = next(v for v in shown if v[0].endswith("transcript.json"))
    s3.delete_object(Bucket=bucket, Key=gone_key, VersionId=gone_id)
    s3.put_object(Bucket=bucket, Key=CA_FOLDER + "job.json", Body=b"{}")
    late = s3.create_multipart_upload(Bucket=bucket, Key=CA_FOLDER + "late.wav")["UploadId"]
    erased = versions_of(aws, bucket, CA_FOLDER)
    new_version = next(v for k, v, _ in erased if k == CA_FOLDER + "job.json")

    receipt = purge.execute(plan, reason="GDPR request 2026-117")

    assert versions_of(aws, bucket, CA_FOLDER) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    objects: dict[str, dict[str, list[str]]] = {}
    for key, version, marker in erased:
        entry = objects.setdefault(key, {"VersionIds": [], "DeleteMarkers": []})
        entry["DeleteMarkers" if marker else "VersionIds"].append(version)
    (run,) = receipt.runs
    assert run.tombstone is not None
    answer = receipt.as_json()
    for entry in answer["Runs"][0]["Objects"]:  # S3 lists versions newest first
        entry["VersionIds"].sort()
    for entry in objects.values():
        entry["VersionIds"].sort()
    assert answer == {
        "JobName": "call-1",
        "Bucket": bucket,
        "PurgedBy": DPO,
        "Runs": [
            {
                "CreatedAt": CREATED,
                "JobKind": "CALL_ANALYTICS",
                "Outcome": "PURGED",
                "Folders": [f"s3://{bucket}/{CA_FOLDER}"],
                "Objects": [{"Key": key} | ids for key, ids in sorted(objects.items())],
                "Uploads": sorted(
                    [
                        {"Key": CA_FOLDER + "late.wav", "UploadId": late},
                        {"Key": CA_FOLDER + "media.wav", "UploadId": killed},
                    ],
                    key=lambda u: u["Key"],
                ),
                "NotShownBeforehand": [
                    {
                        "Key": CA_FOLDER + "job.json",
                        "VersionId": new_version,
                        "DeleteMarker": False,
                    },
                    {"Key": CA_FOLDER + "late.wav", "UploadId": late},
                ],
                "AlreadyGone": [{"Key": gone_key, "VersionId": gone_id, "DeleteMarker": False}],
                "TranscribeJob": None,
                "Tombstone": run.tombstone.to_plain(),
            }
        ],
        "RunsNotErased": [],
    }
    assert answer["Runs"][0]["Tombstone"]["JobKind"] == "CALL_ANALYTICS"
    assert any(ids["DeleteMarkers"] for ids in objects.values())  # the marker was erased too


@pytest.fixture
def locked(aws: dict[str, Any]) -> Purger:
    moto_object_lock.install()  # GetObjectRetention, which moto lacks
    aws["s3"].create_bucket(Bucket="locked-bucket", ObjectLockEnabledForBucket=True)
    return Purger(
        HistoryTable(aws["dynamodb"], aws["table"]),
        ArchiveVersions(aws["s3"], "locked-bucket"),
        PREFIXES,
        identity=lambda: DPO,
    )


LATER = "2026-11-23T11:00:00.000Z"


def two_locked_runs(aws: dict[str, Any]) -> dict[str, str]:
    """Two archived runs of call-1 in the locked bucket: each run's object's version."""
    versions = {}
    for created, stamp in ((CREATED, "20261123T101502Z"), (LATER, "20261123T110000Z")):
        folder = f"transcripts/call-1/{stamp}/"
        versions[created] = aws["s3"].put_object(
            Bucket="locked-bucket", Key=folder + "transcript.json", Body=b"x"
        )["VersionId"]
        record(
            aws,
            created_at=created,
            job_status="COMPLETED",
            archive_status=ARCHIVED,
            archive_uri=f"s3://locked-bucket/{folder}",
        )
    return versions


@pytest.mark.parametrize("lock", ["legal hold", "retention"])
def test_given_a_lock_set_while_the_prompt_waits_then_every_lease_is_given_back_untouched(
    aws: dict[str, Any], locked: Purger, lock: str
) -> None:
    versions = two_locked_runs(aws)
    plan = locked.plan("call-1")
    assert plan.refusal is None
    key = "transcripts/call-1/20261123T110000Z/transcript.json"
    until = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    if lock == "legal hold":
        aws["s3"].put_object_legal_hold(
            Bucket="locked-bucket", Key=key, VersionId=versions[LATER], LegalHold={"Status": "ON"}
        )
        why = "a legal hold, until it is lifted"
    else:
        aws["s3"].put_object_retention(
            Bucket="locked-bucket",
            Key=key,
            VersionId=versions[LATER],
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
        )
        why = "GOVERNANCE until 2031-01-02T03:04:05.000Z"

    with pytest.raises(PurgeRefusedError) as refused:
        locked.execute(plan, reason="GDPR")

    assert str(refused.value) == (
        f"Object Lock protects 1 version(s) of 'call-1' (e.g. {key}: {why}); nothing was deleted"
    )
    assert [r.outcome for r in plan.runs] == ["NOT_STARTED", "NOT_STARTED"]
    table = HistoryTable(aws["dynamodb"], aws["table"])
    for created in (CREATED, LATER):
        item = table.get_run("call-1", created)
        assert item is not None
        assert (item.archive_status, item.lease_owner, item.lease_expires_at) == (
            ARCHIVED,
            None,
            None,
        )
    assert len(versions_of(aws, "locked-bucket", "transcripts/")) == 2


def test_given_a_lease_that_cannot_be_given_back_then_the_refusal_is_raised_and_logged(
    aws: dict[str, Any],
    locked: Purger,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    versions = two_locked_runs(aws)
    plan = locked.plan("call-1")
    aws["s3"].put_object_legal_hold(
        Bucket="locked-bucket",
        Key="transcripts/call-1/20261123T101502Z/transcript.json",
        VersionId=versions[CREATED],
        LegalHold={"Status": "ON"},
    )
    given_back: list[tuple[str, str, str]] = []

    def unreachable(job_name: str, created_at: str, owner: str) -> bool:
        given_back.append((job_name, created_at, owner))
        raise RuntimeError("DynamoDB is unreachable")

    monkeypatch.setattr(locked._table, "release_lease", unreachable)

    with pytest.raises(PurgeRefusedError, match="Object Lock protects 1 version"):
        locked.execute(plan, reason="GDPR")

    assert [(name, created) for name, created, _ in given_back] == [
        ("call-1", LATER),
        ("call-1", CREATED),
    ]
    assert all(owner.startswith("purge-") for _, _, owner in given_back)
    logged = [r for r in caplog.records if r.getMessage() == "could not give a run's lease back"]
    assert sorted(r.run for r in logged) == [CREATED, LATER]  # type: ignore[attr-defined]
    assert all(r.exc_info is not None for r in logged)


def test_given_a_delete_that_fails_midway_then_purge_stops_with_its_receipt_and_the_run_purged(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    purge = purger(aws)
    aws["s3"].put_object(Bucket=aws["bucket"], Key=FOLDER + "transcript.json", Body=b"x")
    record(
        aws,
        created_at=CREATED,
        job_status="COMPLETED",
        archive_status=ARCHIVED,
        archive_uri=f"s3://{aws['bucket']}/{FOLDER}",
    )
    plan = purge.plan("call-1")

    def s3_down(_: list[Any]) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(purge._versions, "delete", s3_down)

    with pytest.raises(PurgeStopped) as stopped:
        purge.execute(plan, reason="GDPR")

    assert str(stopped.value).startswith(f"S3 is down; run {CREATED} of 'call-1' is marked PURGED")
    receipt = stopped.value.receipt
    assert receipt.plan is plan and not receipt.complete
    ((outcome, error),) = [(r.outcome, r.error) for r in receipt.runs]
    assert (outcome, error) == ("FAILED", "S3 is down")
    item = HistoryTable(aws["dynamodb"], aws["table"]).get_run("call-1", CREATED)
    assert item is not None and item.archive_status == "PURGED"
    assert item.archive_error is not None and item.archive_error.startswith("purge under way")
    assert len(versions_of(aws, aws["bucket"], FOLDER)) == 1  # what is left, it says so


# -- at Transcribe, old tombstones, an unfinished purge's folder and reason ------------------


class Jobs:
    """Transcribe as purge sees it: which job of each name exists now (its CreationTime)."""

    def __init__(self, created: dict[str, str], kind: JobKind = JobKind.TRANSCRIPTION) -> None:
        self.created = created
        self.kind = kind  # each name's job is of this kind: asked of another, it is unknown
        self.deleted: list[tuple[JobKind, str]] = []

    def describe(self, kind: JobKind, job_name: str) -> Any:
        if job_name not in self.created or kind is not self.kind:
            raise JobNotFoundError(f"{job_name} is not known")
        return SimpleNamespace(created_at=self.created[job_name])

    def delete(self, kind: JobKind, job_name: str) -> None:
        self.deleted.append((kind, job_name))


def purger_with(aws: dict[str, Any], jobs: Jobs | None) -> Purger:
    plain = purger(aws)
    return Purger(plain._table, plain._versions, PREFIXES, identity=lambda: DPO, jobs=jobs)  # type: ignore[arg-type]


def test_given_also_transcribe_then_each_run_says_what_became_of_its_job(
    aws: dict[str, Any],
) -> None:
    earlier = "2026-11-20T09:00:00.000Z"
    record(aws, created_at=CREATED, job_kind=JobKind.CALL_ANALYTICS, archive_status=ARCHIVED)
    record(aws, created_at=earlier, archive_status=PURGED)  # a tombstone from before kinds
    jobs = Jobs({"call-1": CREATED}, JobKind.CALL_ANALYTICS)

    receipt = purger_with(aws, jobs).execute(
        purger_with(aws, jobs).plan("call-1"), reason="r", also_transcribe=True
    )

    assert [(r.created_at, r.outcome, r.transcribe) for r in receipt.runs] == [
        (CREATED, "PURGED", "deleted"),
        (earlier, "ALREADY_PURGED", "kept: this tombstone does not say of which kind the job was"),
    ]
    assert jobs.deleted == [(JobKind.CALL_ANALYTICS, "call-1")]
    assert [r["JobKind"] for r in receipt.as_json()["Runs"]] == ["CALL_ANALYTICS", None]


def test_given_an_already_purged_run_then_its_job_is_deleted_at_transcribe_if_still_that_run(
    aws: dict[str, Any],
) -> None:
    record(aws, created_at=CREATED, job_kind=JobKind.TRANSCRIPTION, archive_status=PURGED)
    for now_there, answer in (
        ({"call-1": CREATED}, "deleted"),
        (
            {"call-1": "2026-12-01T00:00:00.000Z"},
            "kept: the name now belongs to a run created 2026-12-01T00:00:00.000Z",
        ),
        ({}, "already gone"),
    ):
        jobs = Jobs(now_there)
        purge = purger_with(aws, jobs)
        receipt = purge.execute(purge.plan("call-1"), reason="", also_transcribe=True)
        assert [(r.outcome, r.transcribe) for r in receipt.runs] == [("ALREADY_PURGED", answer)]
        assert jobs.deleted == ([(JobKind.TRANSCRIPTION, "call-1")] if answer == "deleted" else [])


def test_given_a_run_not_erased_or_no_transcribe_client_then_the_job_is_kept(
    aws: dict[str, Any],
) -> None:
    record(aws, created_at=CREATED, archive_status=ARCHIVED)
    jobs = Jobs({"call-1": CREATED})
    purge = purger_with(aws, jobs)
    plan = purge.plan("call-1")
    aws["dynamodb"].delete_item(  # the item went while the prompt waited (TTL)
        TableName=aws["table"], Key={"JobName": {"S": "call-1"}, "CreatedAt": {"S": CREATED}}
    )

    receipt = purge.execute(plan, reason="r", also_transcribe=True)

    assert [(r.outcome, r.transcribe) for r in receipt.runs] == [
        ("NOT_STARTED", "kept: the run was not erased")
    ]
    assert jobs.deleted == []
    record(aws, created_at=CREATED, archive_status=ARCHIVED)
    unasked = purger_with(aws, None)
    receipt = unasked.execute(unasked.plan("call-1"), reason="r", also_transcribe=True)
    assert [r.transcribe for r in receipt.runs] == ["not asked"]


def test_given_a_kind_then_an_old_tombstone_without_one_is_reported_with_it(
    aws: dict[str, Any],
) -> None:
    record(aws, created_at=CREATED, archive_status=PURGED)  # no JobKind: written before kinds

    plan = purger(aws).plan("call-1", kind=JobKind.CALL_ANALYTICS)

    assert [(r.created_at, r.outcome, r.kind) for r in plan.runs] == [
        (CREATED, "ALREADY_PURGED", None)
    ]


def test_given_a_purge_cut_off_in_a_folder_of_other_prefixes_then_the_rerun_erases_it_there(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unfinished item keeps ArchiveUri: the run's folder need not be where this
    purge's prefixes would look (archived by a CLI or a stack with other prefixes)."""
    folder = "old-prefix/call-1/20261123T101502Z/"
    purge = purger(aws)
    aws["s3"].put_object(Bucket=aws["bucket"], Key=folder + "transcript.json", Body=b"x")
    record(
        aws,
        created_at=CREATED,
        job_status="COMPLETED",
        archive_status=ARCHIVED,
        archive_uri=f"s3://{aws['bucket']}/{folder}",
    )
    original = purge._versions.delete

    def s3_down(_: list[Any]) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(purge._versions, "delete", s3_down)
    with pytest.raises(PurgeStopped) as stopped:
        purge.execute(purge.plan("call-1"), reason="")
    assert stopped.value.receipt.as_json()["Runs"][0]["Error"] == "S3 is down"
    table = HistoryTable(aws["dynamodb"], aws["table"])
    unfinished = table.get_run("call-1", CREATED)
    assert unfinished is not None
    assert unfinished.archive_uri == f"s3://{aws['bucket']}/{folder}"
    monkeypatch.setattr(purge._versions, "delete", original)
    table._db.update_item(  # the cut-off purge's lease runs out
        TableName=table.name,
        Key={"JobName": {"S": "call-1"}, "CreatedAt": {"S": CREATED}},
        UpdateExpression="SET LeaseExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    rerun = purge.execute(purge.plan("call-1"), reason="")

    assert [r.outcome for r in rerun.runs] == ["PURGED"]
    assert versions_of(aws, aws["bucket"], folder) == []
    tombstone = table.get_run("call-1", CREATED)
    assert tombstone is not None and tombstone.purge_reason == ""
    assert "Error" not in rerun.as_json()["Runs"][0]


def test_given_a_kind_then_the_other_kinds_tombstones_are_not_in_the_plan(
    aws: dict[str, Any],
) -> None:
    earlier = "2026-11-20T09:00:00.000Z"
    record(aws, created_at=earlier, job_kind=JobKind.TRANSCRIPTION, archive_status=PURGED)
    record(aws, created_at=CREATED, job_kind=JobKind.CALL_ANALYTICS, archive_status=ARCHIVED)

    plan = purger(aws).plan("call-1", kind=JobKind.CALL_ANALYTICS)

    assert [(r.created_at, r.outcome) for r in plan.runs] == [(CREATED, "WOULD_PURGE")]


def test_given_runs_recorded_while_the_prompt_waits_then_only_those_asked_for_are_named(
    aws: dict[str, Any],
) -> None:
    """A reused name's new run is another call: named in the receipt, never erased; the
    other kind's runs (under --kind), tombstones and a purge of one --run name none."""
    record(aws, created_at=CREATED, job_kind=JobKind.CALL_ANALYTICS, archive_status=ARCHIVED)
    purge = purger(aws)
    by_kind = purge.plan("call-1", kind=JobKind.CALL_ANALYTICS)
    one_run = purge.plan("call-1", CREATED, JobKind.CALL_ANALYTICS)
    later = "2026-11-24T08:00:00.000Z"
    record(aws, created_at=later, job_kind=JobKind.CALL_ANALYTICS, archive_status=ARCHIVED)
    record(
        aws,
        created_at="2026-11-24T09:00:00.000Z",
        job_kind=JobKind.TRANSCRIPTION,
        archive_status=ARCHIVED,
    )
    record(
        aws,
        created_at="2026-11-24T10:00:00.000Z",
        job_kind=JobKind.CALL_ANALYTICS,
        archive_status=PURGED,
    )

    assert purge.execute(by_kind, reason="r").new_runs == [later]
    assert [r.outcome for r in by_kind.runs] == ["PURGED"]
    assert purge.execute(one_run, reason="r").new_runs == []
    everything = purge.plan("call-1")
    record(
        aws,
        created_at="2026-11-25T08:00:00.000Z",
        job_kind=JobKind.TRANSCRIPTION,
        archive_status=ARCHIVED,
    )
    assert purge.execute(everything, reason="r").new_runs == ["2026-11-25T08:00:00.000Z"]
