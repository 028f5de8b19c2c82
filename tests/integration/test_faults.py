"""Issue 3: faults survived inside one invocation, permanent conditions recorded, hostile
links refused, and no presigned token anywhere — all over real HTTP."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from archiver.aws import clients
from archiver.errors import RetryableArchiveError
from archiver.handler import handler
from archiver.store.archive_bucket import ArchiveBucket

from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import Fault, GeneratedContent, OtherHostServer
from tests.integration.helpers import SECRETS, assert_archived_whole, keys_under, only_run

MiB = 1024 * 1024


@pytest.fixture
def world(archive_env: Any, embedded_aws: Any, fake_transcribe: Any) -> dict[str, Any]:
    return {
        "s3": embedded_aws.client("s3"),
        "db": embedded_aws.client("dynamodb"),
        "bucket": archive_env.bucket,
        "table": archive_env.table,
        "fake": fake_transcribe,
    }


@pytest.fixture
def other_host() -> Iterator[OtherHostServer]:
    with OtherHostServer() as server:
        yield server


def deliver(world: dict[str, Any], name: str, **context: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler(world["fake"].event_for(name), FakeLambdaContext(**context))
    return result


def retries(client: Any) -> Any:
    return client.meta.config.retries


def whole(world: dict[str, Any], name: str) -> dict[str, Any]:
    w = world
    return assert_archived_whole(w["s3"], w["db"], w["bucket"], w["table"], w["fake"], name)


# -- transient faults, survived inside one invocation ------------------------------------


@pytest.mark.parametrize(
    ("fault", "label"),
    [
        (Fault.status(500), "500"),
        (Fault.slow_down(), "503 SlowDown"),
        (Fault.reset_mid_body(), "connection reset mid-body"),
        (Fault.short_read(), "short read"),
    ],
)
def test_given_a_transient_link_fault_when_archived_then_the_copy_restarts_and_is_identical(
    world: dict[str, Any], fault: Fault, label: str
) -> None:
    fake = world["fake"]
    # 12 MiB: a multipart upload, so a broken stream would leave parts, never an object.
    fake.add_job("flaky", outputs={"transcript": GeneratedContent(12 * MiB, seed=7)})
    fake.inject("flaky", "transcript", [fault, fault])
    assert deliver(world, "flaky")["outcome"] == "ARCHIVED", label
    whole(world, "flaky")
    assert fake.link_requests("flaky", "transcript") == 3


def test_given_an_expired_link_when_archived_then_fresh_links_are_fetched_and_used(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("late", subtitle_formats=["srt"])
    fake.inject("late", "transcript", [Fault.expired()])
    fake.inject("late", "srt", [Fault.expired(), Fault.expired()])
    assert deliver(world, "late")["outcome"] == "ARCHIVED"
    whole(world, "late")
    # One call for the job, then fresh links for each expiry wave (shared between outputs).
    assert 2 <= fake.api_calls("GetTranscriptionJob") <= 4


def test_given_links_already_expired_on_arrival_when_archived_then_they_are_refreshed_unfetched(
    archive_env: Any, embedded_aws: Any, fake_transcribe: Any
) -> None:
    fake = fake_transcribe
    # The first GetTranscriptionJob hands out links signed 20 minutes ago (expired).
    original_clock = fake._clock
    fake._clock = lambda: (
        original_clock() - (1200 if fake.api_calls("GetTranscriptionJob") == 0 else 0)
    )
    fake.add_job("stale", creation_time=None)
    event = fake.event_for("stale")
    fake.clear_requests()
    assert handler(event, FakeLambdaContext())["outcome"] == "ARCHIVED"
    # The stale link was never sent to S3: the archiver saw its expiry and refreshed first.
    statuses = [r.status for r in fake.requests if r.op is None]
    assert statuses == [200]
    assert fake.api_calls("GetTranscriptionJob") == 2
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    assert_archived_whole(s3, db, archive_env.bucket, archive_env.table, fake, "stale")


@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_given_transcribe_throttling_or_5xx_when_archived_then_botocore_retries_absorb_it(
    world: dict[str, Any], kind: str
) -> None:
    fake = world["fake"]
    fake.add_job("busy-api")
    fake.fail_api_next("GetTranscriptionJob", 3, kind)
    assert deliver(world, "busy-api")["outcome"] == "ARCHIVED"
    whole(world, "busy-api")
    assert fake.api_calls("GetTranscriptionJob") == 4


def test_given_clients_when_built_then_every_aws_api_has_explicit_retry_modes(
    archive_env: Any,
) -> None:
    aws = clients()
    # botocore counts the first call too: max_attempts=10 retries -> 11 calls in all.
    assert retries(aws.transcribe) == {"mode": "adaptive", "total_max_attempts": 11}
    assert retries(aws.s3) == {"mode": "standard", "total_max_attempts": 9}
    assert retries(aws.dynamodb) == {"mode": "standard", "total_max_attempts": 9}


# -- persistent failures: raise for Lambda's retries and the DLQ -------------------------


def test_given_faults_beyond_the_retry_budget_when_archived_then_it_raises_and_is_not_archived(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job(
        "doomed",
        subtitle_formats=["srt"],
        outputs={"transcript": GeneratedContent(12 * MiB, seed=3)},
    )
    fake.inject("doomed", "transcript", [Fault.reset_mid_body()] * 8)
    with pytest.raises(RetryableArchiveError, match="gave up after 5 attempts"):
        deliver(world, "doomed")
    item = only_run(world["db"], world["table"], "doomed")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "transcript.json" in item["ArchiveError"]
    folder = item["ArchiveUri"].split("/", 3)[3]
    # Nothing half-copied under the final key; the outputs that did arrive are recorded.
    assert f"{folder}transcript.json" not in keys_under(world["s3"], world["bucket"], folder)
    assert "subtitles.srt" in item["Outputs"]

    # Lambda's retry (the next delivery) copies only what is missing and completes the run.
    fake.clear_requests()
    assert deliver(world, "doomed")["outcome"] == "ARCHIVED"
    whole(world, "doomed")
    assert fake.link_requests("doomed", "srt") == 0


def test_given_little_time_left_when_faults_persist_then_it_gives_up_before_the_timeout(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("slow")
    fake.inject("slow", "transcript", [Fault.slow_down()] * 30)
    started = time.monotonic()
    with pytest.raises(RetryableArchiveError):
        deliver(world, "slow", timeout_seconds=2.5)
    assert time.monotonic() - started < 2.5
    assert only_run(world["db"], world["table"], "slow")["ArchiveStatus"] == "INCOMPLETE"


# -- permanent conditions: recorded, not retried forever ---------------------------------


@pytest.mark.parametrize("kind", ["not_found", "not_found_exception"])
def test_given_transcribe_no_longer_knows_the_job_when_handled_then_incomplete_not_raised(
    world: dict[str, Any], kind: str
) -> None:
    fake = world["fake"]
    fake.add_job("vanished")
    fake.fail_api_next("GetTranscriptionJob", 1, kind)
    assert deliver(world, "vanished")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "vanished")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert item["ArchiveError"].startswith("the run no longer exists")
    assert "couldn't be found" in item["ArchiveError"] or "can't find" in item["ArchiveError"]


def test_given_an_oversize_output_when_archived_then_it_is_skipped_and_others_are_kept(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_OUTPUT_BYTES", str(1 * MiB))
    fake = world["fake"]
    fake.add_job(
        "huge", subtitle_formats=["srt"], outputs={"transcript": GeneratedContent(3 * MiB, seed=1)}
    )
    assert deliver(world, "huge")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "huge")
    assert "transcript.json" in item["ArchiveError"]
    assert "MAX_OUTPUT_BYTES" in item["ArchiveError"]
    assert sorted(item["Outputs"]) == ["job.json", "subtitles.srt"]
    # Refused on the Content-Length header, before reading the body.
    assert f"output is {3 * MiB} bytes, over MAX_OUTPUT_BYTES" in item["ArchiveError"]


def test_given_an_oversize_team_bucket_output_when_archived_then_s3_does_not_copy_it(
    world: dict[str, Any], embedded_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_OUTPUT_BYTES", str(1 * MiB))
    embedded_aws.create_bucket("team-out-big")
    world["fake"].add_job(
        "huge-team",
        output_bucket="team-out-big",
        outputs={"transcript": GeneratedContent(2 * MiB, 5)},
    )
    assert deliver(world, "huge-team")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "huge-team")
    assert sorted(item["Outputs"]) == ["job.json"]
    assert "over MAX_OUTPUT_BYTES" in item["ArchiveError"]


def test_given_a_permanently_forbidden_link_when_archived_then_bounded_refreshes_then_incomplete(
    world: dict[str, Any],
) -> None:
    fake = world["fake"]
    fake.add_job("locked")
    fake.inject("locked", "transcript", [Fault.forbidden()] * 10)
    assert deliver(world, "locked")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "locked")
    assert "still refused after 3 fresh links" in item["ArchiveError"]
    assert fake.link_requests("locked", "transcript") == 4


# -- the link guard -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["other-host", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"],
)
def test_given_a_redirect_off_the_link_host_when_archived_then_it_is_refused_and_never_followed(
    world: dict[str, Any], other_host: OtherHostServer, target: str
) -> None:
    location = other_host.url("/stolen") if target == "other-host" else target
    fake = world["fake"]
    fake.add_job("redirected", subtitle_formats=["srt"])
    fake.inject("redirected", "transcript", [Fault.redirect(location)])
    assert deliver(world, "redirected")["outcome"] == "INCOMPLETE"
    item = only_run(world["db"], world["table"], "redirected")
    assert "refused redirect" in item["ArchiveError"]
    assert "subtitles.srt" in item["Outputs"]
    assert other_host.requests == []


@pytest.mark.parametrize(
    "hostile",
    [
        "other-host",
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example/aws-transcribe-us-east-1-prod/asrOutput.json?X-Amz-Signature=x",
        "file:///etc/passwd",
    ],
)
def test_given_a_link_to_a_host_outside_the_allow_list_when_archived_then_nothing_is_fetched(
    world: dict[str, Any], other_host: OtherHostServer, hostile: str
) -> None:
    link = other_host.url("/asrOutput.json") if hostile == "other-host" else hostile
    fake = world["fake"]
    fake.add_job("hostile")
    transcribe = clients().transcribe

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        parsed.get("TranscriptionJob", {}).get("Transcript", {})["TranscriptFileUri"] = link

    transcribe.meta.events.register("after-call.transcribe.GetTranscriptionJob", rewrite)
    try:
        assert deliver(world, "hostile")["outcome"] == "INCOMPLETE"
    finally:
        transcribe.meta.events.unregister("after-call.transcribe.GetTranscriptionJob", rewrite)
    item = only_run(world["db"], world["table"], "hostile")
    assert item["ArchiveError"].startswith("transcript.json: refused link")
    assert other_host.requests == []
    assert fake.link_requests("hostile") == 0


# -- secrets ------------------------------------------------------------------------------


def test_given_faults_and_refreshes_when_archived_then_no_presigned_token_is_logged_or_stored(
    world: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    other_host: OtherHostServer,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, third-party ones included
    fake = world["fake"]
    fake.add_job("secretive", redaction="redacted_and_unredacted", subtitle_formats=["vtt", "srt"])
    fake.inject("secretive", "transcript", [Fault.expired(), Fault.status(500)])
    fake.inject("secretive", "redacted", [Fault.reset_mid_body()])
    fake.inject("secretive", "vtt", [Fault.redirect(other_host.url())])
    fake.inject("secretive", "srt", [Fault.forbidden()] * 5)
    deliver(world, "secretive")
    out, err = capfd.readouterr()
    logged = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    item = only_run(world["db"], world["table"], "secretive")
    stored = json.dumps(item)
    folder = item["ArchiveUri"].split("/", 3)[3]
    job_json = (
        world["s3"].get_object(Bucket=world["bucket"], Key=folder + "job.json")["Body"].read()
    )
    assert "fetching fresh links" in logged  # the logs did talk about the links
    for secret in SECRETS:
        assert secret not in out
        assert secret not in err
        assert secret not in logged
        assert secret not in stored
        assert secret.encode() not in job_json


def test_given_an_unexpected_error_mid_run_when_retried_then_finished_outputs_are_not_recopied(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = world["fake"]
    fake.add_job("half-done", subtitle_formats=["srt"])
    real_put = ArchiveBucket.put_bytes

    def put_failing_job_json(self: ArchiveBucket, name: str, *args: Any, **kw: Any) -> Any:
        if name == "job.json":
            raise RuntimeError("S3 went away")
        return real_put(self, name, *args, **kw)

    monkeypatch.setattr(ArchiveBucket, "put_bytes", put_failing_job_json)
    with pytest.raises(RuntimeError):
        deliver(world, "half-done")
    item = only_run(world["db"], world["table"], "half-done")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "unexpected RuntimeError" in item["ArchiveError"]
    assert sorted(item["Outputs"]) == ["subtitles.srt", "transcript.json"]

    monkeypatch.setattr(ArchiveBucket, "put_bytes", real_put)
    fake.clear_requests()
    assert deliver(world, "half-done")["outcome"] == "ARCHIVED"
    assert fake.link_requests("half-done") == 0  # nothing fetched twice
    whole(world, "half-done")
