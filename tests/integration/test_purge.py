"""`transcribe-archiver purge`: a call erased everywhere, with an audit trail, or not at all.

Over a versioned archive bucket on the embedded AWS: every version and delete marker of a
run's folder goes, its item becomes a PII-free tombstone, other jobs stay untouched, a late
event archives nothing, and Object Lock retention refuses the whole purge up front.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from archiver.cli import main
from archiver.handler import handler

from local_aws.archive_env import ArchiveEnv, drop_archive, new_archive
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import World, runs

TOMBSTONE_ATTRIBUTES = {
    "JobName",
    "CreatedAt",
    "ArchiveStatus",
    "PurgedAt",
    "PurgedBy",
    "PurgeReason",
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
    code, _, err = cli("purge", "gone-everywhere", "--yes", "--also-transcribe")
    assert code == 0, err
    assert "gone-everywhere" not in world.fake.jobs()
    assert "at Transcribe: deleted" in err


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
