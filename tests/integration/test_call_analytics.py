"""Issue 11: Call Analytics jobs archived too — every job shape and every hostile delivery,
through the handler and the CLI, over real HTTP (moto's server and the Transcribe double).

Assertions read S3 and DynamoDB as a user would: three outputs byte-identical with an audio
Content-Type plus job.json under ``call-analytics/NAME/STAMP/``, one item per run with
``JobKind`` CALL_ANALYTICS, and nothing of the kind leaking into transcription runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
from archiver.cli import main
from archiver.contract import JobKind
from archiver.errors import JobNotFinishedError, RetryableArchiveError
from archiver.handler import handler

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe, Fault, GeneratedContent, OtherHostServer
from local_aws.transcribe.content import FIXTURES_DIR, call_audio_size, fixture_bytes
from tests.integration.helpers import (
    SECRETS,
    assert_archived_whole,
    keys_under,
    only_run,
    runs,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
CA: Final = "call-analytics"
#: Small redacted audio: most tests are about paths, not sizes.
AUDIO = GeneratedContent(256 * 1024, seed=11)
CHANNELS = [
    {"ChannelId": 0, "ParticipantRole": "AGENT"},
    {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
]


class World:
    def __init__(self, env: ArchiveEnv, aws: EmbeddedAWS, fake: FakeTranscribe) -> None:
        self.aws, self.fake = aws, fake
        self.s3, self.db = aws.client("s3"), aws.client("dynamodb")
        self.bucket, self.table = env.bucket, env.table

    def deliver(self, name: str, **event: Any) -> dict[str, Any]:
        return self.handle(self.fake.event_for(name, kind=CA, **event))

    def handle(self, event: dict[str, Any], **context: Any) -> dict[str, Any]:
        result: dict[str, Any] = handler(event, FakeLambdaContext(**context))
        return result

    def whole(self, name: str, kind: Any = CA) -> dict[str, Any]:
        return assert_archived_whole(
            self.s3, self.db, self.bucket, self.table, self.fake, name, kind=kind
        )

    def item(self, name: str) -> dict[str, Any]:
        return only_run(self.db, self.table, name, CA)

    def folder(self, item: dict[str, Any]) -> str:
        return str(item["ArchiveUri"]).removeprefix(f"s3://{self.bucket}/")


@pytest.fixture
def world(
    archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe
) -> World:
    return World(archive_env, embedded_aws, fake_transcribe)


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, out.getvalue()


def stamp(created: datetime) -> str:
    return created.strftime("%Y%m%dT%H%M%SZ")


# -- every job shape --------------------------------------------------------------------


def test_given_a_redacted_call_in_the_service_bucket_when_announced_then_all_is_archived(
    world: World,
) -> None:
    fake = world.fake
    job = fake.add_call_analytics_job(
        "support-call-1",
        redaction="redacted_and_unredacted",
        tags={"Queue": "Billing", "Center": "Leeds"},
    )

    result = world.deliver("support-call-1")

    assert result["outcome"] == "ARCHIVED"
    item = world.whole("support-call-1")
    folder = f"call-analytics/support-call-1/{stamp(job['CreationTime'])}/"
    assert item["ArchiveUri"] == f"s3://{world.bucket}/{folder}"
    assert sorted(item["Outputs"]) == [
        "job.json",
        "redacted-media.wav",
        "redacted-transcript.json",
        "transcript.json",
    ]
    # The real redacted two-channel transcript, byte for byte; the audio as audio/wav.
    redacted = world.s3.get_object(Bucket=world.bucket, Key=f"{folder}redacted-transcript.json")
    assert redacted["Body"].read() == fixture_bytes("call-analytics-redacted-pii.json")
    media = world.s3.head_object(Bucket=world.bucket, Key=f"{folder}redacted-media.wav")
    assert media["ContentType"] == "audio/wav"
    assert (
        media["ContentLength"]
        == call_audio_size()
        == item["Outputs"]["redacted-media.wav"]["Bytes"]
    )
    # The item: kind, the run's times, channels, tags, redaction settings.
    assert item["JobKind"] == "CALL_ANALYTICS"
    assert item["JobStatus"] == "COMPLETED"
    assert item["CreatedAt"] == result["createdAt"]
    assert item["CreatedAt"].startswith(job["CreationTime"].strftime("%Y-%m-%dT%H:%M:%S."))
    assert item["StartedAt"] and item["CompletedAt"] and item["ArchivedAt"]
    assert item["ChannelDefinitions"] == CHANNELS
    assert item["Tags"] == {"Queue": "Billing", "Center": "Leeds"}
    assert item["ContentRedaction"] == {
        "RedactionType": "PII",
        "RedactionOutput": "redacted_and_unredacted",
    }
    assert item["Settings"]["ContentRedaction"] == item["ContentRedaction"]
    assert item["MediaFormat"] == "wav" and item["MediaSampleRateHertz"] == 8000
    assert item["LanguageCode"] == "en-US"
    # job.json is the CallAnalyticsJob, links without their signatures.
    body = world.s3.get_object(Bucket=world.bucket, Key=f"{folder}job.json")["Body"].read()
    described = json.loads(body)
    assert described["CallAnalyticsJobName"] == "support-call-1"
    assert described["ChannelDefinitions"] == CHANNELS
    assert described["Media"]["RedactedMediaFileUri"].endswith("/redacted-media/support-call-1.wav")
    assert not any(secret.encode() in body for secret in SECRETS)
    # Nothing landed under the transcription prefix.
    assert keys_under(world.s3, world.bucket, "transcripts/") == []


@pytest.mark.parametrize("scheme", ["s3", "https"])
def test_given_a_call_in_the_team_bucket_when_announced_then_s3_copies_it_unfetched(
    world: World, scheme: str
) -> None:
    team = f"contact-center-out-{scheme}"
    world.aws.create_bucket(team)
    fake = world.fake
    fake.add_call_analytics_job(
        f"team-call-{scheme}",
        redaction="redacted",
        media_format="flac",
        output_location=f"s3://{team}/calls/",
        team_link_scheme=scheme,
        outputs={"redacted_media": AUDIO},
    )
    links = fake.describe(f"team-call-{scheme}", kind=CA)
    assert links["Transcript"]["RedactedTranscriptFileUri"].startswith(
        f"{scheme}://" + (f"{team}/" if scheme == "s3" else "s3.")
    )
    fake.clear_requests()

    assert world.deliver(f"team-call-{scheme}")["outcome"] == "ARCHIVED"

    item = world.whole(f"team-call-{scheme}")
    assert sorted(item["Outputs"]) == [
        "job.json",
        "redacted-media.flac",
        "redacted-transcript.json",
    ]
    assert item["Outputs"]["redacted-media.flac"]["ContentType"] == "audio/flac"
    assert fake.link_requests() == 0  # copied by S3 itself, never through the function
    source = world.s3.list_objects_v2(Bucket=team, Prefix="calls/")
    assert sorted(o["Key"] for o in source["Contents"]) == [
        f"calls/redacted-analytics/team-call-{scheme}.json",
        f"calls/redacted-media/team-call-{scheme}.flac",
    ]


def test_given_a_failed_call_when_announced_then_job_json_and_the_reason_are_kept(
    world: World,
) -> None:
    world.fake.add_call_analytics_job(
        "failed-call", status="FAILED", failure_reason="Invalid sample rate for audio file"
    )
    event = world.fake.event_for("failed-call", kind=CA)
    assert event["detail"]["FailureReason"] == "Invalid sample rate for audio file"

    assert world.handle(event)["outcome"] == "ARCHIVED"

    item = world.whole("failed-call")
    assert (item["JobStatus"], item["FailureReason"]) == (
        "FAILED",
        "Invalid sample rate for audio file",
    )
    assert sorted(item["Outputs"]) == ["job.json"]
    assert item["ChannelDefinitions"] == CHANNELS


def test_given_a_skipped_summary_when_announced_then_the_item_says_what_was_skipped(
    world: World,
) -> None:
    skipped = [
        {
            "Feature": "GENERATIVE_SUMMARIZATION",
            "ReasonCode": "INSUFFICIENT_CONVERSATION_CONTENT",
            "Message": "The conversation needs to be longer.",
        }
    ]
    world.fake.add_call_analytics_job("short-call", summarization=True, skipped=skipped)
    event = world.fake.event_for("short-call", kind=CA)
    assert event["detail"]["AnalyticsJobDetails"] == {"Skipped": skipped}

    assert world.handle(event)["outcome"] == "ARCHIVED"

    item = world.whole("short-call")
    assert item["AnalyticsSkipped"] == skipped
    assert item["Settings"]["Summarization"] == {"GenerateAbstractiveSummary": True}
    assert sorted(item["Outputs"]) == ["job.json", "transcript.json"]


def test_given_null_links_when_announced_then_incomplete_with_reasons_and_job_json_kept(
    world: World,
) -> None:
    world.fake.add_call_analytics_job(
        "opted-out-call",
        redaction="redacted_and_unredacted",
        null_outputs=["transcript", "redacted_media"],
        outputs={"redacted_media": AUDIO},
    )
    assert world.deliver("opted-out-call")["outcome"] == "INCOMPLETE"
    item = world.item("opted-out-call")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert sorted(item["Outputs"]) == ["job.json", "redacted-transcript.json"]
    assert "transcript.json: link is missing or null" in item["ArchiveError"]
    assert "redacted-media.wav: link is missing or null" in item["ArchiveError"]


def test_given_archive_unredacted_false_when_announced_then_no_unredacted_transcript(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_UNREDACTED", "false")
    world.fake.add_call_analytics_job(
        "private-call", redaction="redacted_and_unredacted", outputs={"redacted_media": AUDIO}
    )
    assert world.deliver("private-call")["outcome"] == "ARCHIVED"
    item = world.item("private-call")
    assert sorted(item["Outputs"]) == ["job.json", "redacted-media.wav", "redacted-transcript.json"]
    assert world.fake.link_requests("private-call", "transcript") == 0


def test_given_a_custom_prefix_when_announced_then_the_call_lands_under_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALL_ANALYTICS_PREFIX", "contact-center/analytics")
    world.fake.add_call_analytics_job("prefixed-call")
    assert world.deliver("prefixed-call")["outcome"] == "ARCHIVED"
    item = world.whole("prefixed-call")
    assert world.folder(item).startswith("contact-center/analytics/prefixed-call/")


# -- faults: the same treatment as transcription outputs ---------------------------------


def test_given_expired_and_flaky_links_when_announced_then_fresh_links_and_retries_win(
    world: World,
) -> None:
    fake = world.fake
    # 12 MiB of audio: a multipart upload, restarted after a reset mid-body.
    fake.add_call_analytics_job(
        "flaky-call",
        redaction="redacted",
        outputs={"redacted_media": GeneratedContent(12 * MiB, seed=5)},
    )
    fake.inject("flaky-call", "redacted_media", [Fault.expired(), Fault.reset_mid_body()])
    fake.inject("flaky-call", "redacted", [Fault.status(500), Fault.expired()], kind=CA)

    assert world.deliver("flaky-call")["outcome"] == "ARCHIVED"

    world.whole("flaky-call")
    assert 2 <= fake.api_calls("GetCallAnalyticsJob") <= 4
    assert fake.api_calls("GetTranscriptionJob") == 0


def test_given_the_api_throttles_when_announced_then_botocore_retries_absorb_it(
    world: World,
) -> None:
    world.fake.add_call_analytics_job("busy-call")
    world.fake.fail_api_next("GetCallAnalyticsJob", 2, "throttle")
    assert world.deliver("busy-call")["outcome"] == "ARCHIVED"
    world.whole("busy-call")
    assert world.fake.api_calls("GetCallAnalyticsJob") == 3


def test_given_audio_over_the_size_cap_when_announced_then_it_is_refused_others_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_OUTPUT_BYTES", str(1 * MiB))
    world.fake.add_call_analytics_job(
        "long-call", redaction="redacted", outputs={"redacted_media": GeneratedContent(3 * MiB)}
    )
    assert world.deliver("long-call")["outcome"] == "INCOMPLETE"
    item = world.item("long-call")
    assert sorted(item["Outputs"]) == ["job.json", "redacted-transcript.json"]
    assert "redacted-media.wav" in item["ArchiveError"]
    assert "over MAX_OUTPUT_BYTES" in item["ArchiveError"]


def test_given_a_redirect_off_the_link_host_when_announced_then_the_guard_refuses_it(
    world: World,
) -> None:
    with OtherHostServer() as other:
        world.fake.add_call_analytics_job(
            "redirected-call", redaction="redacted", outputs={"redacted_media": AUDIO}
        )
        world.fake.inject("redirected-call", "redacted_media", [Fault.redirect(other.url("/x"))])
        assert world.deliver("redirected-call")["outcome"] == "INCOMPLETE"
        assert other.requests == []
    item = world.item("redirected-call")
    assert "redacted-media.wav: refused redirect" in item["ArchiveError"]
    assert "redacted-transcript.json" in item["Outputs"]


def test_given_faults_beyond_the_budget_then_it_raises_and_the_retry_copies_only_the_rest(
    world: World,
) -> None:
    fake = world.fake
    fake.add_call_analytics_job(
        "stubborn-call", redaction="redacted", outputs={"redacted_media": AUDIO}
    )
    fake.inject("stubborn-call", "redacted_media", [Fault.status(503)] * 6)
    with pytest.raises(RetryableArchiveError, match="gave up after 5 attempts"):
        world.deliver("stubborn-call")
    assert world.item("stubborn-call")["ArchiveStatus"] == "INCOMPLETE"

    fake.clear_requests()
    assert world.deliver("stubborn-call")["outcome"] == "ARCHIVED"
    world.whole("stubborn-call")
    assert fake.link_requests("stubborn-call", "redacted") == 0


# -- hostile deliveries --------------------------------------------------------------------


def test_given_a_duplicate_and_a_concurrent_delivery_then_one_copy_and_one_item(
    world: World,
) -> None:
    world.fake.add_call_analytics_job(
        "twice-call", redaction="redacted", outputs={"redacted_media": AUDIO}
    )
    event = world.fake.event_for("twice-call", kind=CA)
    world.fake.inject("twice-call", "redacted_media", [Fault.delay(0.5)])
    outcomes: list[str] = []

    def deliver() -> None:
        outcomes.append(world.handle(event)["outcome"])

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    outcomes.append(world.handle(event)["outcome"])

    assert sorted(outcomes) == ["ARCHIVED", "DUPLICATE", "DUPLICATE"]
    world.whole("twice-call")
    assert world.fake.completed_fetches("twice-call", "redacted_media") == 1


def test_given_a_deleted_call_when_its_event_comes_late_then_incomplete_of_its_kind(
    world: World,
) -> None:
    world.fake.add_call_analytics_job("gone-call")
    event = world.fake.event_for("gone-call", kind=CA)
    world.fake.delete_job("gone-call", kind=CA)

    assert world.handle(event)["outcome"] == "INCOMPLETE"
    assert world.handle(event)["outcome"] == "DUPLICATE"

    item = world.item("gone-call")
    assert item["JobKind"] == "CALL_ANALYTICS"
    assert item["ArchiveError"].startswith("the run no longer exists")
    assert item["CreatedAt"] == event["time"].replace("Z", ".000Z")


def test_given_a_reused_name_when_the_old_calls_event_comes_late_then_newer_run_untouched(
    world: World,
) -> None:
    fake = world.fake
    fake.add_call_analytics_job("reused-call", status="FAILED")
    late = fake.event_for("reused-call", kind=CA)
    fake.delete_job("reused-call", kind=CA)
    fake.add_call_analytics_job("reused-call")
    assert world.deliver("reused-call")["outcome"] == "ARCHIVED"
    newer = world.whole("reused-call")

    assert world.handle(late)["outcome"] == "INCOMPLETE"

    items = runs(world.db, world.table, "reused-call")
    assert len(items) == 2
    assert newer in items
    assert {i["JobStatus"] for i in items} == {"COMPLETED", "FAILED"}


def test_given_the_api_still_says_in_progress_when_the_event_comes_then_it_raises(
    world: World,
) -> None:
    fake = world.fake
    fake.add_call_analytics_job("running-call", status="IN_PROGRESS")
    event = json.loads(
        (FIXTURES_DIR / "events/docs-call-analytics-job-state-change.json").read_text()
    )
    event |= {"id": "e-1", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    # AWS's example, sent by this account and region (the example's own are placeholders).
    event |= {"account": fake.account_id, "region": fake.region}
    event["detail"] = {"JobName": "running-call", "JobStatus": "COMPLETED"}

    with pytest.raises(JobNotFinishedError, match="IN_PROGRESS"):
        world.handle(event, timeout_seconds=12)
    assert runs(world.db, world.table, "running-call") == []

    fake.complete_job("running-call", kind=CA)
    assert world.handle(event)["outcome"] == "ARCHIVED"
    world.whole("running-call")


@pytest.mark.parametrize(
    "fixture",
    [
        "real-call-analytics-post-call-job-state-change.json",
        "docs-call-analytics-post-call-job-state-change-completed.json",
    ],
)
def test_given_a_post_call_streaming_event_when_handled_then_it_is_rejected(
    world: World, fixture: str
) -> None:
    event = json.loads((FIXTURES_DIR / "events" / fixture).read_text())
    assert world.handle(event)["outcome"] == "REJECTED"
    assert world.fake.api_calls() == 0


# -- one name, two kinds ---------------------------------------------------------------------


def test_given_both_kinds_share_a_name_and_creation_time_then_both_runs_are_kept_apart(
    world: World,
) -> None:
    fake = world.fake
    created = datetime(2026, 11, 23, 10, 15, 2, 123000, tzinfo=UTC)
    done = created + timedelta(minutes=3)
    fake.add_job("shared-name", creation_time=created, completion_time=done)
    fake.add_call_analytics_job(
        "shared-name",
        creation_time=created,
        completion_time=done,
        redaction="redacted",
        outputs={"redacted_media": AUDIO},
    )

    assert (
        world.handle(fake.event_for("shared-name", kind="transcription"))["outcome"] == "ARCHIVED"
    )
    analytics = world.handle(fake.event_for("shared-name", kind=CA))
    assert analytics["outcome"] == "ARCHIVED"
    # Duplicates of either event find their own run, never the other's.
    assert world.handle(fake.event_for("shared-name", kind=CA))["outcome"] == "DUPLICATE"
    assert (
        world.handle(fake.event_for("shared-name", kind="transcription"))["outcome"] == "DUPLICATE"
    )

    transcription = world.whole("shared-name", kind="transcription")
    call = world.whole("shared-name", kind=CA)
    assert transcription["CreatedAt"] == "2026-11-23T10:15:02.123Z"
    assert call["CreatedAt"] == "2026-11-23T10:15:02.123Z#CALL_ANALYTICS"
    assert analytics["createdAt"] == call["CreatedAt"]
    assert world.folder(transcription) == "transcripts/shared-name/20261123T101502Z/"
    assert world.folder(call) == "call-analytics/shared-name/20261123T101502Z/"
    assert sorted(transcription["Outputs"]) == ["job.json", "transcript.json"]
    assert sorted(call["Outputs"]) == ["job.json", "redacted-media.wav", "redacted-transcript.json"]

    # history show says which is which.
    code, out = cli("history", "show", "shared-name", "--output", "json")
    assert code == 0
    assert sorted(r["JobKind"] for r in json.loads(out)) == ["CALL_ANALYTICS", "TRANSCRIPTION"]
    code, out = cli("history", "show", "shared-name")
    assert code == 0 and "CALL_ANALYTICS" in out and "TRANSCRIPTION" in out

    # The sweep finds each run as its own: nothing is copied or written again.
    before = runs(world.db, world.table, "shared-name")
    fake.clear_requests()
    code, _ = cli("sweep", "--since", "2026-11-23")
    assert code == 0
    assert runs(world.db, world.table, "shared-name") == before
    assert fake.link_requests() == 0


# -- the sweep, backfill and history ----------------------------------------------------------


def test_given_a_call_never_announced_when_swept_then_it_is_archived_and_listed_by_kind(
    world: World,
) -> None:
    fake = world.fake
    fake.add_job("dictation")
    fake.add_call_analytics_job(
        "heard-call", redaction="redacted", outputs={"redacted_media": AUDIO}
    )
    fake.add_call_analytics_job("failed-call", status="FAILED")
    fake.add_call_analytics_job(
        "lost-call", redaction="redacted", outputs={"redacted_media": AUDIO}
    )
    for name in ("heard-call", "failed-call"):
        assert world.deliver(name)["outcome"] == "ARCHIVED"
    assert world.handle(fake.event_for("dictation"))["outcome"] == "ARCHIVED"

    summary = world.handle({"action": "sweep", "overlapMinutes": 15})

    assert summary["recovered"] == 1
    assert set(summary["windows"]) == {kind.value for kind in JobKind}
    assert world.whole("lost-call")["Outputs"]["redacted-media.wav"]["ContentType"] == "audio/wav"
    assert fake.api_calls("ListCallAnalyticsJobs") >= 1

    code, out = cli("history", "list", "--kind", "call-analytics", "--output", "json")
    assert code == 0
    listed = json.loads(out)
    assert sorted(r["JobName"] for r in listed) == ["failed-call", "heard-call", "lost-call"]
    assert {r["JobKind"] for r in listed} == {"CALL_ANALYTICS"}
    code, out = cli("history", "list", "--kind", "transcription", "--output", "json")
    assert [r["JobName"] for r in json.loads(out)] == ["dictation"]


def test_given_calls_before_the_stack_existed_when_backfilled_then_only_that_kind_is_read(
    world: World,
) -> None:
    fake = world.fake
    fake.add_job("old-dictation")
    fake.add_call_analytics_job("old-call", outputs={"transcript": b'{"JobName":"old-call"}'})

    code, _ = cli("backfill", "--kind", "call-analytics")

    assert code == 0
    world.whole("old-call")
    assert runs(world.db, world.table, "old-dictation") == []
    assert fake.api_calls("ListTranscriptionJobs") == 0

    code, _ = cli("backfill")
    assert code == 0
    world.whole("old-dictation", kind="transcription")
    assert len(runs(world.db, world.table, "old-call")) == 1


def test_given_a_parked_call_analytics_event_when_replayed_then_it_is_archived_and_deleted(
    world: World,
) -> None:
    sqs = world.aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq-call-analytics")["QueueUrl"]
    world.fake.add_call_analytics_job(
        "parked-call", redaction="redacted", outputs={"redacted_media": AUDIO}
    )
    sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps(world.fake.event_for("parked-call", kind=CA))
    )

    code, out = cli("replay", "--queue-url", url, "--dry-run")
    assert code == 0 and "parked-call" in out

    code, _ = cli("replay", "--queue-url", url)

    assert code == 0
    assert world.whole("parked-call")["JobKind"] == "CALL_ANALYTICS"
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    sqs.delete_queue(QueueUrl=url)
