"""Issue 2: every job shape archived through the handler, over real HTTP.

The handler runs with the contract's environment against moto's server and the
Transcribe double; assertions read S3 and DynamoDB as a user would.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.handler import handler
from archiver.timefmt import iso_ms, parse_iso

from local_aws.lambda_context import FakeLambdaContext
from tests.integration.helpers import assert_archived_whole, keys_under, only_run, runs


@pytest.fixture
def world(archive_env: Any, embedded_aws: Any, fake_transcribe: Any) -> dict[str, Any]:
    s3 = embedded_aws.client("s3")
    return {
        "s3": s3,
        "db": embedded_aws.client("dynamodb"),
        "bucket": archive_env.bucket,
        "table": archive_env.table,
        "fake": fake_transcribe,
        "aws": embedded_aws,
    }


def archive(world: dict[str, Any], name: str, **event_kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler(
        world["fake"].event_for(name, **event_kwargs), FakeLambdaContext()
    )
    return result


def whole(world: dict[str, Any], name: str) -> dict[str, Any]:
    w = world
    return assert_archived_whole(w["s3"], w["db"], w["bucket"], w["table"], w["fake"], name)


def test_given_a_service_bucket_job_when_it_completes_then_transcript_and_job_json_are_archived(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job("plain-call")
    assert archive(world, "plain-call")["outcome"] == "ARCHIVED"
    item = whole(world, "plain-call")
    assert sorted(item["Outputs"]) == ["job.json", "transcript.json"]
    job = world["fake"].describe("plain-call")
    stamp = job["CreationTime"].strftime("%Y%m%dT%H%M%SZ")
    assert item["ArchiveUri"] == f"s3://{world['bucket']}/transcripts/plain-call/{stamp}/"
    assert item["CreatedAt"] == job["CreationTime"].strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{job['CreationTime'].microsecond // 1000:03d}Z"
    )
    for attribute in ("StartedAt", "CompletedAt", "ArchivedAt", "MediaFileUri", "MediaFormat"):
        assert attribute in item
    assert item["LanguageCode"] == "en-US"
    assert item["MediaSampleRateHertz"] == 44100


def test_given_a_team_bucket_job_when_archived_then_s3_copies_it_and_no_link_is_fetched(
    world: dict[str, Any], embedded_aws: Any
) -> None:
    embedded_aws.create_bucket("team-output-bucket")
    world["fake"].add_job(
        "team-job", output_bucket="team-output-bucket", subtitle_formats=["vtt", "srt"]
    )
    world["fake"].clear_requests()
    assert archive(world, "team-job")["outcome"] == "ARCHIVED"
    item = whole(world, "team-job")
    assert sorted(item["Outputs"]) == [
        "job.json",
        "subtitles.srt",
        "subtitles.vtt",
        "transcript.json",
    ]
    assert world["fake"].link_requests() == 0  # copied by S3, not through the function


def test_given_redaction_subtitles_and_tags_when_archived_then_every_output_and_attribute_is_there(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job(
        "sales-call",
        redaction="redacted_and_unredacted",
        subtitle_formats=["vtt", "srt"],
        tags={"Department": "Sales", "Empty": ""},
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    )
    assert archive(world, "sales-call")["outcome"] == "ARCHIVED"
    item = whole(world, "sales-call")
    assert sorted(item["Outputs"]) == [
        "job.json",
        "redacted-transcript.json",
        "subtitles.srt",
        "subtitles.vtt",
        "transcript.json",
    ]
    assert item["Tags"] == {"Department": "Sales", "Empty": ""}
    assert item["ContentRedaction"]["RedactionOutput"] == "redacted_and_unredacted"
    assert item["SubtitleFormats"] == ["vtt", "srt"]
    assert item["Settings"]["MaxSpeakerLabels"] == 2


def test_given_archive_unredacted_false_when_a_redacted_job_is_archived_then_only_redacted_is_kept(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_UNREDACTED", "false")
    world["fake"].add_job("pii-call", redaction="redacted_and_unredacted")
    assert archive(world, "pii-call")["outcome"] == "ARCHIVED"
    item = whole(world, "pii-call")
    assert sorted(item["Outputs"]) == ["job.json", "redacted-transcript.json"]


def test_given_a_failed_job_when_archived_then_job_json_and_the_failure_reason_are_recorded(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job("bad-media", status="FAILED", failure_reason="Unsupported media format")
    assert archive(world, "bad-media")["outcome"] == "ARCHIVED"
    item = whole(world, "bad-media")
    assert sorted(item["Outputs"]) == ["job.json"]
    assert item["JobStatus"] == "FAILED"
    assert item["FailureReason"] == "Unsupported media format"
    body = (
        world["s3"]
        .get_object(Bucket=world["bucket"], Key=item["ArchiveUri"].split("/", 3)[3] + "job.json")[
            "Body"
        ]
        .read()
    )
    assert json.loads(body)["FailureReason"] == "Unsupported media format"


def test_given_a_multi_language_job_when_archived_then_its_languages_are_recorded(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job(
        "town-hall",
        identify_language=True,
        language_codes=[("en-US", 120.5), ("es-US", 30.0)],
        identified_language_score=0.91,
    )
    assert archive(world, "town-hall")["outcome"] == "ARCHIVED"
    item = whole(world, "town-hall")
    assert item["LanguageCodes"] == ["en-US", "es-US"]
    assert "LanguageCode" not in item


def test_given_a_korean_job_when_archived_then_utf8_bytes_are_identical(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job("seoul-call", language_code="ko-KR", identified_language_score=0.88)
    assert archive(world, "seoul-call")["outcome"] == "ARCHIVED"
    item = whole(world, "seoul-call")
    assert item["LanguageCode"] == "ko-KR"
    assert item["IdentifiedLanguageScore"] == pytest.approx(0.88)


def test_given_job_json_when_read_then_times_are_iso_utc_and_links_carry_no_query(
    world: dict[str, Any],
) -> None:
    world["fake"].add_job("described", subtitle_formats=["srt"])
    archive(world, "described")
    item = only_run(world["db"], world["table"], "described")
    key = item["Outputs"]["job.json"]["S3Uri"].split("/", 3)[3]
    job = json.loads(world["s3"].get_object(Bucket=world["bucket"], Key=key)["Body"].read())
    assert job["TranscriptionJobName"] == "described"
    assert job["CreationTime"].endswith("Z")
    assert "?" not in job["Transcript"]["TranscriptFileUri"]
    assert all("?" not in u for u in job["Subtitles"]["SubtitleFileUris"])


def test_given_a_second_delivery_when_handled_then_nothing_is_copied_twice(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("twice", subtitle_formats=["srt"])
    event = fake.event_for("twice")
    assert handler(event, FakeLambdaContext())["outcome"] == "ARCHIVED"
    fetched = fake.link_requests()
    before = {
        k: world["s3"].head_object(Bucket=world["bucket"], Key=k)["LastModified"]
        for k in keys_under(world["s3"], world["bucket"], "transcripts/twice/")
    }
    assert handler(event, FakeLambdaContext())["outcome"] == "DUPLICATE"
    assert fake.link_requests() == fetched
    after = {
        k: world["s3"].head_object(Bucket=world["bucket"], Key=k)["LastModified"]
        for k in keys_under(world["s3"], world["bucket"], "transcripts/twice/")
    }
    assert after == before
    whole(world, "twice")


def test_given_two_simultaneous_deliveries_when_handled_then_one_item_and_one_copy(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("racing", subtitle_formats=["vtt", "srt"])
    event = fake.event_for("racing")
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(handler(event, FakeLambdaContext())["outcome"])

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ARCHIVED", "DUPLICATE", "DUPLICATE"]
    whole(world, "racing")
    per_output = [
        r.path for r in fake.requests if r.op is None and r.job == "racing" and r.method == "GET"
    ]
    assert len(per_output) == len(set(per_output)) == 3  # each link fetched once


def test_given_a_name_reused_after_deletion_when_archived_then_each_run_keeps_its_own_folder(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("reused")
    archive(world, "reused")
    first = only_run(world["db"], world["table"], "reused")
    first_keys = keys_under(world["s3"], world["bucket"], first["ArchiveUri"].split("/", 3)[3])
    fake.delete_job("reused")
    fake.add_job("reused", subtitle_formats=["srt"])
    assert archive(world, "reused")["outcome"] == "ARCHIVED"
    both = runs(world["db"], world["table"], "reused")
    assert len(both) == 2
    assert len({r["ArchiveUri"] for r in both}) == 2
    assert {r["CreatedAt"] for r in both} >= {first["CreatedAt"]}
    assert first_keys == keys_under(
        world["s3"], world["bucket"], first["ArchiveUri"].split("/", 3)[3]
    )


def test_given_an_event_for_a_deleted_job_when_handled_then_an_incomplete_item_keyed_by_event_time(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("gone")
    event = fake.event_for("gone")
    fake.delete_job("gone")
    result = handler(event, FakeLambdaContext())
    assert result["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "gone")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert item["CreatedAt"] == iso_ms(parse_iso(event["time"]))
    assert "couldn't be found" in item["ArchiveError"]
    assert keys_under(world["s3"], world["bucket"], "transcripts/gone/") == []


def test_given_null_and_missing_links_when_archived_then_incomplete_with_reasons_and_the_rest_kept(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job(
        "opted-out",
        subtitle_formats=["vtt", "srt"],
        null_outputs=["transcript"],
        missing_outputs=["srt"],
    )
    assert archive(world, "opted-out")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "opted-out")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "transcript.json: link is missing or null" in item["ArchiveError"]
    assert "subtitles.srt: link is missing or null" in item["ArchiveError"]
    assert sorted(item["Outputs"]) == ["job.json", "subtitles.vtt"]


def test_given_an_event_older_than_the_current_run_when_handled_then_old_run_is_recorded_missing(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("renamed")
    old_event = fake.event_for("renamed")
    fake.delete_job("renamed")
    # A name can be reused only after deletion, so the new run starts after the old ended.
    fake.add_job("renamed", creation_time=datetime.now(UTC) + timedelta(seconds=2))
    result = handler(old_event, FakeLambdaContext())
    assert result["outcome"] == "INCOMPLETE"
    assert archive(world, "renamed")["outcome"] == "ARCHIVED"
    statuses = sorted(r["ArchiveStatus"] for r in runs(world["db"], world["table"], "renamed"))
    assert statuses == ["ARCHIVED", "INCOMPLETE"]
