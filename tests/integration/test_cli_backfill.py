"""`transcribe-archiver backfill` against moto and the Transcribe double, over real HTTP.

Jobs the table already holds as ARCHIVED stay untouched; the others are archived by the
function's own code, so their objects appear in S3 and their items in the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.cli import main
from archiver.handler import handler
from archiver.store.record import to_dynamo
from archiver.timefmt import iso_ms

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import assert_archived_whole, keys_under, only_run, runs

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns off a terminal


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> dict[str, Any]:
    """Two archived jobs, three the table lacks or holds INCOMPLETE, an old one, a running one."""
    fake = fake_transcribe
    db, s3 = embedded_aws.client("dynamodb"), embedded_aws.client("s3")
    fake.add_job("archived-1", completion_time=NOW - timedelta(hours=5))
    fake.add_job("archived-2", status="FAILED", completion_time=NOW - timedelta(hours=4))
    for name in ("archived-1", "archived-2"):
        assert handler(fake.event_for(name), FakeLambdaContext())["outcome"] == "ARCHIVED"

    fake.add_job("missed-call", subtitle_formats=["vtt"], tags={"Department": "Sales"})
    fake.add_job(
        "missed-failure",
        status="FAILED",
        failure_reason="Unsupported media format",
        completion_time=NOW - timedelta(hours=3),
    )
    fake.add_job("half-done", language_code="de-DE", completion_time=NOW - timedelta(hours=2))
    half = fake.describe("half-done")
    db.put_item(
        TableName=archive_env.table,
        Item=to_dynamo(
            {
                "JobName": "half-done",
                "CreatedAt": iso_ms(half["CreationTime"]),
                "JobStatus": "COMPLETED",
                "ArchiveStatus": "INCOMPLETE",
                "ArchiveError": "archive: out of time before the copy finished",
            }
        ),
    )
    fake.add_job(
        "last-month",
        creation_time=NOW - timedelta(days=30),
        completion_time=NOW - timedelta(days=30) + timedelta(minutes=2),
    )
    fake.add_job("still-running", status="IN_PROGRESS")
    return {"fake": fake, "db": db, "s3": s3, "env": archive_env}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def archived_at(world: dict[str, Any], name: str) -> str:
    return str(only_run(world["db"], world["env"].table, name)["ArchivedAt"])


def since_yesterday() -> str:
    return iso_ms(NOW - timedelta(days=1))


def test_given_jobs_missing_from_the_table_when_backfilled_then_exactly_those_are_archived(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    env, fake = world["env"], world["fake"]
    before = {n: archived_at(world, n) for n in ("archived-1", "archived-2")}

    code, out, err = cli(capsys, "backfill", "--since", since_yesterday())

    assert code == 0, err
    for name in ("missed-call", "missed-failure", "half-done"):
        assert_archived_whole(world["s3"], world["db"], env.bucket, env.table, fake, name)
    assert {n: archived_at(world, n) for n in before} == before  # not archived again
    assert runs(world["db"], env.table, "last-month") == []  # older than --since
    assert runs(world["db"], env.table, "still-running") == []
    item = only_run(world["db"], env.table, "missed-call")
    assert item["Tags"] == {"Department": "Sales"}
    assert "subtitles.vtt" in item["Outputs"]
    summary = " ".join(out.split())
    assert "listed │ 5" in summary
    assert "already archived │ 2" in summary
    assert "archived │ 3" in summary
    assert "failed │ 0" in summary


def test_given_no_since_when_backfilled_then_older_jobs_are_archived_too(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    env, fake = world["env"], world["fake"]

    code, _, err = cli(capsys, "backfill", "--status", "COMPLETED")

    assert code == 0, err
    for name in ("missed-call", "half-done", "last-month"):
        assert_archived_whole(world["s3"], world["db"], env.bucket, env.table, fake, name)
    assert runs(world["db"], env.table, "missed-failure") == []  # FAILED was not asked for


def test_given_a_dry_run_then_it_lists_what_is_missing_and_changes_nothing(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    env = world["env"]
    objects_before = keys_under(world["s3"], env.bucket, "")

    code, out, err = cli(capsys, "backfill", "--since", since_yesterday(), "--dry-run")

    assert code == 0, err
    for name in ("missed-call", "missed-failure", "half-done"):
        assert name in out
    assert "not in the table" in out
    assert "INCOMPLETE: archive: out of time" in " ".join(out.split())
    for name in ("archived-1", "archived-2", "last-month", "still-running"):
        assert name not in out
    assert keys_under(world["s3"], env.bucket, "") == objects_before
    assert runs(world["db"], env.table, "missed-call") == []
    assert only_run(world["db"], env.table, "half-done")["ArchiveStatus"] == "INCOMPLETE"


def test_given_listing_is_throttled_when_backfilled_then_it_still_completes(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    env, fake = world["env"], world["fake"]
    fake.fail_api_next("ListTranscriptionJobs", 2, kind="throttle")

    code, _, err = cli(capsys, "backfill", "--since", since_yesterday())

    assert code == 0, err
    for name in ("missed-call", "missed-failure", "half-done"):
        assert_archived_whole(world["s3"], world["db"], env.bucket, env.table, fake, name)


def test_given_a_job_deleted_after_the_listing_then_it_is_recorded_incomplete_not_dropped(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    env, fake = world["env"], world["fake"]
    listed = fake.describe("missed-failure")
    # Deleted between the listing and its turn: GetTranscriptionJob no longer knows it.
    fake.fail_api_next("GetTranscriptionJob", 1, kind="not_found")

    code, out, err = cli(capsys, "backfill", "--since", since_yesterday(), "--status", "FAILED")

    # The run the listing showed is recorded under its own CreationTime, INCOMPLETE with
    # the reason, never silently skipped.
    assert code == 0, err
    item = only_run(world["db"], env.table, "missed-failure")
    assert item["CreatedAt"] == iso_ms(listed["CreationTime"])
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert item["JobStatus"] == "FAILED"
    assert item["CompletedAt"] == iso_ms(listed["CompletionTime"])
    assert "the run no longer exists" in item["ArchiveError"]
    assert "the run no longer exists" in " ".join(out.split())
    assert "Traceback" not in out + err

    # An operator's backfill re-drives it once Transcribe answers again.
    code, _, err = cli(capsys, "backfill", "--since", since_yesterday(), "--status", "FAILED")
    assert code == 0, err
    assert_archived_whole(world["s3"], world["db"], env.bucket, env.table, fake, "missed-failure")


def test_given_a_job_that_cannot_be_archived_then_the_others_are_and_exit_is_1(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = world["fake"]
    fake.fail_api_next("GetTranscriptionJob", 11, kind="internal")  # its first try and 10 retries

    code, out, err = cli(capsys, "backfill", "--since", since_yesterday(), "--status", "FAILED")

    assert code == 1
    assert "missed-failure" in out
    assert "InternalFailureException" in " ".join(out.split())
    assert "1 job could not be archived" in err
    assert "Traceback" not in out + err


def test_given_hundreds_of_jobs_when_listing_then_requests_stay_under_the_quota(
    archive_env: ArchiveEnv, fake_transcribe: FakeTranscribe, capsys: pytest.CaptureFixture[str]
) -> None:
    # The double enforces 5 ListTranscriptionJobs per second (burst 5); 6 pages are needed.
    for i in range(520):
        fake_transcribe.add_job(f"bulk-{i:03d}", completion_time=NOW - timedelta(minutes=i))

    code, out, err = cli(capsys, "backfill", "--dry-run")

    assert code == 0, err
    assert fake_transcribe.api_calls("ListTranscriptionJobs") >= 7  # 6 COMPLETED + 1 FAILED
    throttled = fake_transcribe.api_calls(
        "ListTranscriptionJobs", status=fake_transcribe.throttle_status
    )
    assert throttled == 0
    assert "Would archive 520 of 520" in " ".join(out.split())
