"""`transcribe-archiver purge`: a call erased everywhere, with an audit trail, or not at all.

Over a versioned archive bucket on the embedded AWS: every version and delete marker of a
run's folder goes, its item becomes a PII-free tombstone, other jobs stay untouched, a late
event archives nothing, and Object Lock retention refuses the whole purge up front.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from archiver.aws import clients
from archiver.cli import main
from archiver.contract import JobKind
from archiver.handler import handler
from archiver.store.archive_versions import ArchiveVersions, ObjectVersion

from local_aws.archive_env import ArchiveEnv, drop_archive, new_archive
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import JOB_KIND, World, assert_archived_whole, runs

TOMBSTONE_ATTRIBUTES = {
    "JobName",
    "CreatedAt",
    "ArchiveStatus",
    "PurgedAt",
    "PurgedBy",
    "PurgeReason",
    "JobKind",
}


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), " ".join(err.getvalue().split())


def versions(s3: Any, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """Every (key, version id) under ``prefix``, delete markers included."""
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            found.append((entry["Key"], entry["VersionId"]))
    return sorted(found)


class PurgeWorld(World):
    def archive(self, name: str, **job: Any) -> dict[str, Any]:
        self.fake.add_job(name, **job)
        result = self.invoke(self.fake.event_for(name, kind="transcription"))
        assert result["outcome"] == "ARCHIVED", result
        return result

    def folder(self, result: dict[str, Any]) -> str:
        return str(result["archiveUri"]).removeprefix(f"s3://{self.bucket}/")

    def whole_of(self, name: str, kind: str) -> dict[str, Any]:
        """The run of that kind archived whole (another kind may share the name)."""
        return assert_archived_whole(
            self.s3,
            self.db,
            self.bucket,
            self.table,
            self.fake,
            name,
            kind=kind,  # type: ignore[arg-type]
        )


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> PurgeWorld:
    return PurgeWorld(embedded_aws, archive_env, fake_transcribe)


def test_given_a_redacted_job_then_every_object_carries_the_tags_retention_rules_use(
    world: PurgeWorld,
) -> None:
    result = world.archive("tagged", redaction="redacted_and_unredacted")
    plain = world.archive("untagged")

    for name in ("transcript.json", "redacted-transcript.json", "job.json"):
        tags = world.s3.get_object_tagging(Bucket=world.bucket, Key=world.folder(result) + name)
        assert {t["Key"]: t["Value"] for t in tags["TagSet"]} == {
            "archive-object": name,
            "job-redacted": "true",
        }
    tags = world.s3.get_object_tagging(
        Bucket=world.bucket, Key=world.folder(plain) + "transcript.json"
    )
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]} == {
        "archive-object": "transcript.json",
        "job-redacted": "false",
    }


def test_given_a_dry_run_then_it_lists_every_version_and_changes_nothing(world: PurgeWorld) -> None:
    result = world.archive("call-1", redaction="redacted_and_unredacted")
    folder = world.folder(result)
    # An older version and a delete marker, as a re-archive and a plain DeleteObject leave.
    world.s3.put_object(Bucket=world.bucket, Key=folder + "transcript.json", Body=b"old")
    world.s3.delete_object(Bucket=world.bucket, Key=folder + "subtitles.srt")
    before_versions = versions(world.s3, world.bucket, folder)
    before_items = runs(world.db, world.table, "call-1")

    code, out, err = cli("purge", "call-1", "--dry-run")

    assert code == 0, err
    assert "Would erase 1 run(s)" in " ".join(out.split())
    for key, version in before_versions:
        assert key.rsplit("/", 1)[-1] in out
        assert version in out
    assert versions(world.s3, world.bucket, folder) == before_versions
    assert runs(world.db, world.table, "call-1") == before_items


def test_given_yes_and_a_reason_then_every_version_goes_and_a_pii_free_tombstone_stays(
    world: PurgeWorld,
) -> None:
    first = world.archive("customer-42", redaction="redacted_and_unredacted", tags={"Caller": "x"})
    first_event = world.fake.event_for("customer-42")
    world.fake.delete_job("customer-42")
    second = world.archive("customer-42", redaction="redacted_and_unredacted")
    world.s3.delete_object(Bucket=world.bucket, Key=world.folder(second) + "job.json")
    other = world.archive("someone-else")
    other_before = runs(world.db, world.table, "someone-else")
    event = world.fake.event_for("customer-42")

    code, _, err = cli("purge", "customer-42", "--yes", "--reason", "GDPR request 2026-117")

    assert code == 0, err
    for result in (first, second):
        assert versions(world.s3, world.bucket, world.folder(result)) == []
    tombstones = runs(world.db, world.table, "customer-42")
    assert len(tombstones) == 2
    for tombstone in tombstones:
        assert set(tombstone) == TOMBSTONE_ATTRIBUTES
        assert tombstone["ArchiveStatus"] == "PURGED"
        assert tombstone["PurgeReason"] == "GDPR request 2026-117"
        assert tombstone["PurgedBy"].startswith("arn:aws:")
    # Not listed any more; other jobs untouched.
    code, out, _ = cli("history", "list", "--output", "json")
    assert [r["JobName"] for r in json.loads(out)] == ["someone-else"]
    assert runs(world.db, world.table, "someone-else") == other_before
    assert versions(world.s3, world.bucket, world.folder(other))
    # A late event of the purged run archives nothing and writes nothing.
    for late in (event, first_event):  # the second run still at Transcribe; the first gone
        result = handler(late, FakeLambdaContext())
        assert result["outcome"] == "DUPLICATE"
    for result in (first, second):
        assert versions(world.s3, world.bucket, world.folder(result)) == []
    assert runs(world.db, world.table, "customer-42") == tombstones


def test_given_run_then_only_that_run_is_purged(world: PurgeWorld) -> None:
    first = world.archive("twice")
    world.fake.delete_job("twice")
    second = world.archive("twice")

    code, _, err = cli("purge", "twice", "--run", first["createdAt"], "--yes")

    assert code == 0, err
    items = {r["CreatedAt"]: r for r in runs(world.db, world.table, "twice")}
    assert items[first["createdAt"]]["ArchiveStatus"] == "PURGED"
    assert items[second["createdAt"]]["ArchiveStatus"] == "ARCHIVED"
    assert versions(world.s3, world.bucket, world.folder(first)) == []
    assert versions(world.s3, world.bucket, world.folder(second))


def test_given_also_transcribe_then_the_job_is_deleted_there_too(world: PurgeWorld) -> None:
    world.archive("gone-everywhere")
    code, out, err = cli("purge", "gone-everywhere", "--yes", "--also-transcribe")
    assert code == 0, err
    assert "gone-everywhere" not in world.fake.jobs()
    assert "at Transcribe: deleted" in " ".join(out.split())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["purge", "nobody", "--yes"], (1, "no runs of job 'nobody'")),
        (["purge", "call-1", "--run", "2020-01-01T00:00:00Z", "--yes"], (1, "has no run")),
        (["purge", "call-1"], (2, "--yes")),  # stdin is no terminal under pytest
    ],
)
def test_given_an_unknown_job_or_no_confirmation_then_nothing_is_erased(
    world: PurgeWorld, argv: list[str], expected: tuple[int, str]
) -> None:
    result = world.archive("call-1")
    before = versions(world.s3, world.bucket, world.folder(result))

    code, _, err = cli(*argv)

    assert (code, expected[1] in err) == (expected[0], True), err
    assert versions(world.s3, world.bucket, world.folder(result)) == before
    assert runs(world.db, world.table, "call-1")[0]["ArchiveStatus"] == "ARCHIVED"


@pytest.fixture
def locked(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ArchiveEnv]:
    archive = new_archive(embedded_aws, fake_transcribe, object_lock_days=1)
    for key, value in archive.environ.items():
        monkeypatch.setenv(key, value)
    yield archive
    drop_archive(embedded_aws, archive)


def test_given_object_lock_retention_then_purge_refuses_naming_the_date_and_deletes_nothing(
    locked: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> None:
    fake_transcribe.add_job("locked-call")
    result = handler(fake_transcribe.event_for("locked-call"), FakeLambdaContext())
    assert result["outcome"] == "ARCHIVED"
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    folder = str(result["archiveUri"]).removeprefix(f"s3://{locked.bucket}/")
    before = versions(s3, locked.bucket, folder)
    item_before = runs(db, locked.table, "locked-call")

    code, _, err = cli("purge", "locked-call", "--yes")

    assert code == 1
    assert "Object Lock" in err and "GOVERNANCE until 20" in err
    assert "nothing was deleted" in err
    assert versions(s3, locked.bucket, folder) == before
    assert runs(db, locked.table, "locked-call") == item_before


def test_given_a_call_analytics_run_and_a_transcription_run_of_one_name_then_both_go(
    world: PurgeWorld,
) -> None:
    world.fake.add_call_analytics_job("shared-name", redaction="redacted_and_unredacted")
    analytics = handler(
        world.fake.event_for("shared-name", kind="call-analytics"), FakeLambdaContext()
    )
    assert analytics["outcome"] == "ARCHIVED"
    transcription = world.archive("shared-name")
    audio = next(
        key
        for key, _ in versions(world.s3, world.bucket, world.folder(analytics))
        if "redacted-media" in key
    )
    tags = world.s3.get_object_tagging(Bucket=world.bucket, Key=audio)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags}["job-redacted"] == "true"

    code, _, err = cli("purge", "shared-name", "--yes", "--also-transcribe")

    assert code == 0, err
    assert world.folder(analytics).startswith("call-analytics/")
    for result in (analytics, transcription):
        assert versions(world.s3, world.bucket, world.folder(result)) == []
    items = runs(world.db, world.table, "shared-name")
    assert len(items) == 2
    assert all(set(item) == TOMBSTONE_ATTRIBUTES for item in items)
    # Deleted at Transcribe too, both kinds.
    assert world.fake.jobs() == world.fake.jobs("call-analytics") == []


# -- issue 19: erasure you can trust -------------------------------------------------------


SWEEP = {"action": "sweep"}


def cli_json(*argv: str) -> tuple[int, Any, str]:
    """A purge with ``--output json``: the receipt parsed from stdout (None if empty)."""
    code, out, err = cli(*argv, "--output", "json")
    return code, json.loads(out) if out.strip() else None, err


def item(world: World, name: str, created_at: str) -> dict[str, Any]:
    found = [r for r in runs(world.db, world.table, name) if r["CreatedAt"] == created_at]
    assert len(found) == 1, found
    return found[0]


def uploads_under(s3: Any, bucket: str, prefix: str) -> list[tuple[str, str]]:
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return sorted((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))


def start_upload(s3: Any, bucket: str, key: str) -> str:
    """A multipart upload with one part sent, as an invocation killed mid-upload leaves."""
    upload_id = str(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)
    return upload_id


@pytest.fixture
def prompt(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A terminal that confirms the purge; each callable appended runs while it asks."""
    while_asked: list[Any] = []

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def ask(*_: Any, **__: Any) -> bool:
        for action in while_asked:
            action()
        return True

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("archiver.cli.purge.Confirm.ask", ask)
    return while_asked


def cut_off(world: PurgeWorld, name: str, created_at: str) -> None:
    """Make the run's item what an invocation cut off mid-copy leaves (its lease run out),
    so the next delivery or sweep archives it again: new versions of every object."""
    world.db.put_item(
        TableName=world.table,
        Item={
            "JobName": {"S": name},
            "CreatedAt": {"S": created_at},
            "JobKind": {"S": "TRANSCRIPTION"},
            "JobStatus": {"S": "COMPLETED"},
            "ArchiveStatus": {"S": "INCOMPLETE"},
            "ArchiveError": {"S": "archive: archiving under way"},
            "RetryArchive": {"BOOL": True},
            "LeaseOwner": {"S": "dead"},
            "LeaseExpiresAt": {"N": "1"},
        },
    )


@pytest.mark.parametrize("rearchive", ["redelivered event", "sweep"])
def test_given_a_rearchive_while_the_prompt_waits_then_purge_erases_what_it_wrote_too(
    world: PurgeWorld, prompt: list[Any], rearchive: str
) -> None:
    result = world.archive("waited-on")
    folder = world.folder(result)
    cut_off(world, "waited-on", result["createdAt"])
    shown = versions(world.s3, world.bucket, folder)
    event = world.fake.event_for("waited-on")
    rewritten: list[dict[str, Any]] = []

    def archive_again() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # the function's metrics
            again = world.invoke(event if rearchive == "redelivered event" else SWEEP)
        rewritten.append(again)
        assert len(versions(world.s3, world.bucket, folder)) == 2 * len(shown)

    prompt.append(archive_again)

    code, receipt, err = cli_json("purge", "waited-on", "--reason", "GDPR request 2026-117")

    assert code == 0, err
    assert rewritten, "the prompt was not shown"
    assert versions(world.s3, world.bucket, folder) == []
    tombstone = item(world, "waited-on", result["createdAt"])
    assert set(tombstone) == TOMBSTONE_ATTRIBUTES
    # The receipt names every version erased, and says which the prompt had not shown.
    (run,) = receipt["Runs"]
    erased = sorted((o["Key"], v) for o in run["Objects"] for v in o["VersionIds"])
    assert len(erased) == 2 * len(shown) and set(shown) < set(erased)
    assert sorted((e["Key"], e["VersionId"]) for e in run["NotShownBeforehand"]) == sorted(
        set(erased) - set(shown)
    )
    assert "written since the plan was shown" in err


def test_given_a_run_archived_in_another_bucket_then_purge_refuses_naming_both(
    world: PurgeWorld, embedded_aws: EmbeddedAWS
) -> None:
    result = world.archive("moved-stack")
    folder = world.folder(result)
    before = versions(world.s3, world.bucket, folder)
    item_before = item(world, "moved-stack", result["createdAt"])
    # A redeploy adopted the retained table with a new bucket (or --bucket is wrong): the
    # new bucket even has an object at the same place, which must not be taken for it.
    new_bucket = f"new-{world.bucket}"
    embedded_aws.create_bucket(new_bucket)
    world.s3.put_bucket_versioning(Bucket=new_bucket, VersioningConfiguration={"Status": "Enabled"})
    world.s3.put_object(Bucket=new_bucket, Key=folder + "transcript.json", Body=b"other")
    try:
        for argv in (["--yes"], ["--dry-run"]):
            code, out, err = cli("purge", "moved-stack", "--bucket", new_bucket, *argv)

            assert code == 1, err
            assert world.bucket in err and new_bucket in err
            assert "Nothing was deleted" in err
            assert "(no objects)" not in out
            assert versions(world.s3, world.bucket, folder) == before
            assert item(world, "moved-stack", result["createdAt"]) == item_before
            assert len(versions(world.s3, new_bucket, folder)) == 1
    finally:
        for key, version in versions(world.s3, new_bucket, ""):
            world.s3.delete_object(Bucket=new_bucket, Key=key, VersionId=version)
        world.s3.delete_bucket(Bucket=new_bucket)


def test_given_a_killed_upload_then_purge_aborts_it_and_the_receipt_says_so(
    world: PurgeWorld,
) -> None:
    result = world.archive("killed-upload")
    folder = world.folder(result)
    upload = start_upload(world.s3, world.bucket, folder + "redacted-media.wav")
    other = world.archive("bystander")
    other_upload = start_upload(world.s3, world.bucket, world.folder(other) + "big.json")
    listed = versions(world.s3, world.bucket, folder)

    code, receipt, err = cli_json("purge", "killed-upload", "--yes", "--reason", "ticket 7")

    assert code == 0, err
    assert uploads_under(world.s3, world.bucket, folder) == []
    assert versions(world.s3, world.bucket, folder) == []
    with pytest.raises(world.s3.exceptions.ClientError):  # nobody can complete it any more
        world.s3.complete_multipart_upload(
            Bucket=world.bucket,
            Key=folder + "redacted-media.wav",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "x"}]},
        )
    assert uploads_under(world.s3, world.bucket, world.folder(other)) == [
        (world.folder(other) + "big.json", other_upload)
    ]
    # The receipt: each key with its version ids, the aborted upload, the tombstone.
    assert receipt["JobName"] == "killed-upload" and receipt["Bucket"] == world.bucket
    (run,) = receipt["Runs"]
    assert run["Outcome"] == "PURGED"
    assert run["Folders"] == [result["archiveUri"]]
    assert sorted((o["Key"], v) for o in run["Objects"] for v in o["VersionIds"]) == listed
    assert run["Uploads"] == [{"Key": folder + "redacted-media.wav", "UploadId": upload}]
    assert run["Tombstone"] == item(world, "killed-upload", result["createdAt"])
    assert run["Tombstone"]["PurgeReason"] == "ticket 7"
    assert run["TranscribeJob"] is None
    assert "erased run" in err  # progress on stderr, the receipt alone on stdout


def test_given_a_purged_run_when_purged_again_then_its_tombstone_is_kept_as_written(
    world: PurgeWorld,
) -> None:
    result = world.archive("erased-once")
    code, _, err = cli("purge", "erased-once", "--yes", "--reason", "GDPR request 2026-117")
    assert code == 0, err
    first = item(world, "erased-once", result["createdAt"])

    code, receipt, err = cli_json("purge", "erased-once", "--yes")

    assert code == 0, err
    assert "already purged" in err and "GDPR request 2026-117" in err
    assert item(world, "erased-once", result["createdAt"]) == first
    assert receipt["Runs"][0]["Outcome"] == "ALREADY_PURGED"
    assert receipt["Runs"][0]["Tombstone"] == first


def test_given_a_second_purge_that_finishes_while_the_first_asks_then_the_first_writes_nothing(
    world: PurgeWorld, prompt: list[Any]
) -> None:
    result = world.archive("raced")
    seconds: list[tuple[int, str]] = []

    def second_purge() -> None:
        code, _, err = cli("purge", "raced", "--yes", "--reason", "the first request")
        seconds.append((code, err))

    prompt.append(second_purge)

    code, receipt, err = cli_json("purge", "raced", "--reason", "")

    assert seconds and seconds[0][0] == 0, seconds
    assert code == 0, err
    tombstone = item(world, "raced", result["createdAt"])
    assert tombstone["PurgeReason"] == "the first request"
    assert receipt["Runs"][0]["Outcome"] == "ALREADY_PURGED"


def created_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@pytest.fixture
def twins(world: PurgeWorld) -> str:
    """A transcription job and a Call Analytics job of one name, created the same
    millisecond (nothing archived yet)."""
    created = datetime.now(UTC).replace(microsecond=123000) - timedelta(minutes=5)
    world.fake.add_job("twin", creation_time=created)
    world.fake.add_call_analytics_job("twin", creation_time=created)
    return created_ms(created)


def deliver(world: PurgeWorld, kind: str) -> dict[str, Any]:
    return world.invoke(world.fake.event_for("twin", kind=kind))  # type: ignore[arg-type]


def show(*argv: str) -> list[dict[str, Any]]:
    code, out, err = cli("history", "show", *argv, "--output", "json")
    assert code == 0, err
    shown: list[dict[str, Any]] = json.loads(out)
    return shown


def test_given_both_kinds_archived_when_one_is_purged_then_the_other_stays_whole_and_shown(
    world: PurgeWorld, twins: str
) -> None:
    assert deliver(world, "transcription")["outcome"] == "ARCHIVED"
    analytics = deliver(world, "call-analytics")
    assert analytics["outcome"] == "ARCHIVED"

    code, _, err = cli("purge", "twin", "--kind", "call-analytics", "--yes")

    assert code == 0, err
    assert versions(world.s3, world.bucket, world.folder(analytics)) == []
    stone = item(world, "twin", analytics["createdAt"])
    assert set(stone) == TOMBSTONE_ATTRIBUTES and stone["JobKind"] == "CALL_ANALYTICS"
    world.whole_of("twin", "transcription")
    latest = {r["JobKind"]: r for r in show("twin")}
    assert latest["TRANSCRIPTION"]["ArchiveStatus"] == "ARCHIVED"
    assert latest["CALL_ANALYTICS"]["ArchiveStatus"] == "PURGED"


@pytest.mark.parametrize("purged", ["transcription", "call-analytics"])
@pytest.mark.parametrize("then", ["event", "sweep"])
def test_given_one_kind_purged_then_the_other_kinds_run_of_that_millisecond_is_still_archived(
    world: PurgeWorld, twins: str, purged: str, then: str
) -> None:
    other = "call-analytics" if purged == "transcription" else "transcription"
    assert deliver(world, purged)["outcome"] == "ARCHIVED"
    code, _, err = cli("purge", "twin", "--kind", purged, "--yes")
    assert code == 0, err
    stone = item(world, "twin", twins)
    assert stone["ArchiveStatus"] == "PURGED" and stone["JobKind"] == JOB_KIND[purged]

    if then == "event":
        assert deliver(world, other)["outcome"] == "ARCHIVED"
    else:
        world.invoke(SWEEP)

    world.whole_of("twin", other)
    assert item(world, "twin", twins) == stone
    latest = {r["JobKind"]: r for r in show("twin")}
    assert latest[JOB_KIND[other]]["ArchiveStatus"] == "ARCHIVED"


def test_given_one_kind_purged_when_the_other_kinds_job_is_gone_then_its_event_is_recorded(
    world: PurgeWorld, twins: str
) -> None:
    """The other kind's run, deleted at Transcribe before it was archived: its event must
    give that run its own INCOMPLETE item, not be taken for the purged run of the name."""
    assert deliver(world, "transcription")["outcome"] == "ARCHIVED"
    assert cli("purge", "twin", "--kind", "transcription", "--yes")[0] == 0
    event = world.fake.event_for("twin", kind="call-analytics")
    world.fake.delete_job("twin", kind="call-analytics")

    result = world.invoke(event)

    assert result["outcome"] == "INCOMPLETE", result
    recorded = [r for r in runs(world.db, world.table, "twin") if r["ArchiveStatus"] != "PURGED"]
    assert [r["JobKind"] for r in recorded] == ["CALL_ANALYTICS"]


def test_given_a_tombstone_without_a_kind_then_history_show_still_shows_the_live_run(
    world: PurgeWorld,
) -> None:
    """A tombstone written before tombstones kept JobKind hides no kind's live run."""
    world.archive("old-stone")
    world.db.put_item(  # newer than the live run: the newest item of the name
        TableName=world.table,
        Item={
            "JobName": {"S": "old-stone"},
            "CreatedAt": {"S": "2099-01-01T00:00:00.000Z"},
            "ArchiveStatus": {"S": "PURGED"},
            "PurgedAt": {"S": "2026-02-01T00:00:00.000Z"},
            "PurgedBy": {"S": "arn:aws:iam::123456789012:user/dpo"},
            "PurgeReason": {"S": "old request"},
        },
    )

    shown = show("old-stone")

    statuses = sorted(r["ArchiveStatus"] for r in shown)
    assert statuses == ["ARCHIVED", "PURGED"], shown
    code, _, err = cli("purge", "old-stone", "--run", "2099-01-01T00:00:00Z", "--yes")
    assert code == 0 and "already purged" in err, err


@pytest.fixture
def lock_without_retention(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ArchiveEnv]:
    """An archive bucket with Object Lock on and no default retention (versions are held
    only where a legal hold or a retention is put on them)."""
    archive = new_archive(embedded_aws, fake_transcribe)
    archive = ArchiveEnv(
        **{**archive.__dict__, "bucket": f"lock-{archive.bucket}"},
    )
    embedded_aws.create_bucket(archive.bucket, object_lock=True)
    environ = dict(archive.environ) | {"ARCHIVE_BUCKET": archive.bucket}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    yield archive
    drop_archive(embedded_aws, archive)


def test_given_a_legal_hold_on_one_version_then_purge_refuses_and_deletes_nothing(
    lock_without_retention: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> None:
    world = PurgeWorld(embedded_aws, lock_without_retention, fake_transcribe)
    result = world.archive("on-hold")
    folder = world.folder(result)
    world.s3.delete_object(Bucket=world.bucket, Key=folder + "job.json")  # a delete marker
    held_key, held_version = next(
        (k, v) for k, v in versions(world.s3, world.bucket, folder) if k.endswith("transcript.json")
    )
    world.s3.put_object_legal_hold(
        Bucket=world.bucket, Key=held_key, VersionId=held_version, LegalHold={"Status": "ON"}
    )
    before = versions(world.s3, world.bucket, folder)
    item_before = item(world, "on-hold", result["createdAt"])

    code, _, err = cli("purge", "on-hold", "--yes")

    assert code == 1
    assert "legal hold" in err and "nothing was deleted" in err
    assert versions(world.s3, world.bucket, folder) == before
    assert item(world, "on-hold", result["createdAt"]) == item_before
    world.s3.put_object_legal_hold(
        Bucket=world.bucket, Key=held_key, VersionId=held_version, LegalHold={"Status": "OFF"}
    )
    code, _, err = cli("purge", "on-hold", "--yes")
    assert code == 0, err
    assert versions(world.s3, world.bucket, folder) == []


@pytest.mark.parametrize("read", ["GetObjectRetention", "GetObjectLegalHold"])
def test_given_a_caller_not_allowed_to_read_object_lock_then_purge_refuses_before_deleting(
    locked: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
    read: str,
) -> None:
    world = PurgeWorld(embedded_aws, locked, fake_transcribe)
    result = world.archive("unreadable-lock")
    folder = world.folder(result)
    world.s3.delete_object(Bucket=world.bucket, Key=folder + "job.json")  # deletable marker
    before = versions(world.s3, world.bucket, folder)
    s3 = clients(os.environ["AWS_REGION"]).s3  # the clients the CLI's purge uses

    def deny(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Code": "AccessDenied", "Message": f"not authorized to perform s3:{read}"}
        return SimpleNamespace(status_code=403), {"Error": error, "ResponseMetadata": {}}

    s3.meta.events.register(f"before-call.s3.{read}", deny)  # type: ignore[arg-type]
    try:
        code, _, err = cli("purge", "unreadable-lock", "--yes")
    finally:
        s3.meta.events.unregister(f"before-call.s3.{read}", deny)  # type: ignore[arg-type]

    assert code == 1
    assert f"s3:{read}" in err and "nothing was deleted" in err
    assert versions(world.s3, world.bucket, folder) == before
    assert item(world, "unreadable-lock", result["createdAt"])["ArchiveStatus"] == "ARCHIVED"


def test_given_purge_is_killed_while_deleting_then_nothing_archives_it_and_a_rerun_finishes(
    world: PurgeWorld,
) -> None:
    result = world.archive("killed-purge", redaction="redacted_and_unredacted")
    folder = world.folder(result)
    event = world.fake.event_for("killed-purge")
    real_delete = ArchiveVersions.delete

    def delete_one_then_die(self: ArchiveVersions, found: list[ObjectVersion]) -> None:
        real_delete(self, found[:1])
        raise KeyboardInterrupt  # the operator's Ctrl-C, a closed laptop

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ArchiveVersions, "delete", delete_one_then_die)
        code, _, err = cli("purge", "killed-purge", "--yes", "--reason", "GDPR request 2026-117")
    assert code == 130, err
    left = versions(world.s3, world.bucket, folder)
    assert left, "the kill came before anything was left to check"

    # Never ARCHIVED without its bytes; never listed; nothing archives it again.
    half = item(world, "killed-purge", result["createdAt"])
    assert half["ArchiveStatus"] == "PURGED" and "purge under way" in half["ArchiveError"]
    code, out, _ = cli("history", "list", "--output", "json")
    assert "killed-purge" not in out
    assert world.invoke(event)["outcome"] == "DUPLICATE"
    world.invoke(SWEEP)
    assert versions(world.s3, world.bucket, folder) == left
    # A second purge waits for the first one's lease...
    code, _, err = cli("purge", "killed-purge", "--yes")
    assert code == 1 and "another purge" in err, err
    # ...and, once it has run out, finishes the erasure, keeping the first one's reason.
    world.db.update_item(
        TableName=world.table,
        Key={"JobName": {"S": "killed-purge"}, "CreatedAt": {"S": result["createdAt"]}},
        UpdateExpression="SET LeaseExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    code, _, err = cli("purge", "killed-purge", "--yes")
    assert code == 0, err
    assert versions(world.s3, world.bucket, folder) == []
    tombstone = item(world, "killed-purge", result["createdAt"])
    assert set(tombstone) == TOMBSTONE_ATTRIBUTES
    assert tombstone["PurgeReason"] == "GDPR request 2026-117"


def test_given_purge_is_killed_before_deleting_then_the_run_stays_archived_whole(
    world: PurgeWorld,
) -> None:
    result = world.archive("spared")
    folder = world.folder(result)
    before = versions(world.s3, world.bucket, folder)
    real_held = ArchiveVersions.held
    calls: list[int] = []

    def die_under_the_lease(self: ArchiveVersions, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the check under the lease (the first was the plan's)
            raise KeyboardInterrupt
        return real_held(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ArchiveVersions, "held", die_under_the_lease)
        code, _, _ = cli("purge", "spared", "--yes")

    assert code == 130
    assert versions(world.s3, world.bucket, folder) == before
    world.whole("spared")


def test_given_kind_then_its_choices_are_the_job_kinds(world: PurgeWorld) -> None:
    code, _, err = cli("purge", "x", "--kind", "podcast", "--yes")
    assert code == 2
    for kind in JobKind:
        assert kind.option in err


def test_given_an_invocation_archiving_the_run_then_purge_refuses_and_deletes_nothing(
    world: PurgeWorld,
) -> None:
    result = world.archive("in-flight")
    folder = world.folder(result)
    before = versions(world.s3, world.bucket, folder)
    cut_off(world, "in-flight", result["createdAt"])
    world.db.update_item(  # an invocation holds the run right now
        TableName=world.table,
        Key={"JobName": {"S": "in-flight"}, "CreatedAt": {"S": result["createdAt"]}},
        UpdateExpression="SET LeaseOwner = :o, LeaseExpiresAt = :t",
        ExpressionAttributeValues={":o": {"S": "inv"}, ":t": {"N": "99999999999"}},
    )
    item_before = item(world, "in-flight", result["createdAt"])

    code, _, err = cli("purge", "in-flight", "--yes")

    assert code == 1
    assert "an invocation archiving it" in err and "nothing was deleted" in err
    assert versions(world.s3, world.bucket, folder) == before
    assert item(world, "in-flight", result["createdAt"]) == item_before


def test_given_a_new_run_of_the_name_while_the_prompt_waits_then_it_is_named_not_erased(
    world: PurgeWorld, prompt: list[Any]
) -> None:
    first = world.archive("reused")
    world.fake.delete_job("reused")
    later: list[dict[str, Any]] = []

    def reuse_the_name() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            later.append(world.archive("reused"))

    prompt.append(reuse_the_name)

    code, receipt, err = cli_json("purge", "reused")

    assert code == 0, err
    assert [r["CreatedAt"] for r in receipt["Runs"]] == [first["createdAt"]]
    assert receipt["RunsNotErased"] == [later[0]["createdAt"]]
    assert "purge them with --run" in err
    assert versions(world.s3, world.bucket, world.folder(first)) == []
    assert item(world, "reused", later[0]["createdAt"])["ArchiveStatus"] == "ARCHIVED"
