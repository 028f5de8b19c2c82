"""Injected link and API faults, and API quotas, as clients see them."""

from __future__ import annotations

import hashlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3
from botocore.exceptions import ClientError

from local_aws.transcribe import FakeTranscribe, Fault, OtherHostServer
from local_aws.transcribe.content import (
    STANDARD_TRANSCRIPT,
    GeneratedContent,
    content_sha256,
    fixture_bytes,
)
from tests.local_aws.helpers import transcript_uri, xml_error

pytestmark = pytest.mark.integration


def test_given_error_faults_when_fetching_then_each_answers_like_s3_then_recovers(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("faulty")
    fake_transcribe.inject(
        "faulty",
        "transcript",
        [Fault.expired(), Fault.status(500), Fault.slow_down(), Fault.forbidden()],
    )
    uri = transcript_uri(transcribe, "faulty")

    answers = [http.request("GET", uri) for _ in range(5)]

    codes = [(a.status, xml_error(a.data)["Code"]) for a in answers[:4]]
    assert codes == [
        (403, "AccessDenied"),
        (500, "InternalError"),
        (503, "SlowDown"),
        (403, "AccessDenied"),
    ]
    assert xml_error(answers[0].data)["Message"] == "Request has expired"
    assert xml_error(answers[3].data)["Message"] == "Access Denied"
    assert answers[4].status == 200
    assert answers[4].data == fixture_bytes(STANDARD_TRANSCRIPT)
    assert [r.fault for r in fake_transcribe.requests if r.op is None] == [
        "expired",
        "status",
        "slow_down",
        "forbidden",
        None,
    ]


@pytest.mark.parametrize("fault", [Fault.reset_mid_body(), Fault.short_read()])
def test_given_a_broken_body_when_a_real_client_reads_it_then_it_sees_a_protocol_error(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager, fault: Fault
) -> None:
    big = GeneratedContent(size=4 * 1024 * 1024, seed=3)
    fake_transcribe.add_job("cut", outputs={"transcript": big})
    fake_transcribe.inject("cut", "transcript", [fault])
    uri = transcript_uri(transcribe, "cut")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        http.request("GET", uri)  # preload + enforce_content_length, like botocore

    again = http.request("GET", uri, preload_content=False)
    digest = hashlib.sha256()
    for chunk in again.stream(1024 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == content_sha256(big)
    cut, whole = (r for r in fake_transcribe.requests if r.op is None)
    # Both status lines said 200; only the log's "complete" tells the cut one apart.
    assert (cut.status, cut.fault, cut.complete) == (200, fault.kind, False)
    assert (whole.status, whole.fault, whole.complete) == (200, None, True)
    assert fake_transcribe.completed_fetches("cut", "transcript") == 1


def test_given_a_redirect_fault_when_fetching_then_302_and_the_other_host_sees_nothing(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    with OtherHostServer() as other:
        fake_transcribe.add_job("redirected", subtitle_formats=["srt"])
        fake_transcribe.inject("redirected", "transcript", [Fault.redirect(other.url())])
        fake_transcribe.inject(
            "redirected", "srt", [Fault.redirect("http://169.254.169.254/latest/meta-data/")]
        )
        job = transcribe.get_transcription_job(TranscriptionJobName="redirected")
        job = job["TranscriptionJob"]

        first = http.request("GET", job["Transcript"]["TranscriptFileUri"], redirect=False)
        metadata = http.request("GET", job["Subtitles"]["SubtitleFileUris"][0], redirect=False)
        probe = urllib3.PoolManager(retries=False).request("GET", other.url("/probe"))

        assert (first.status, first.headers["Location"]) == (302, other.url())
        assert metadata.headers["Location"] == "http://169.254.169.254/latest/meta-data/"
        assert probe.status == 200
        # Only the deliberate probe arrived: the redirect itself was not followed.
        assert [r.path for r in other.requests] == ["/probe"]


def test_given_four_delayed_outputs_when_fetched_in_parallel_then_the_server_overlaps_them(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job(
        "slow", redaction="redacted_and_unredacted", subtitle_formats=["vtt", "srt"]
    )
    for output in ("transcript", "redacted", "vtt", "srt"):
        fake_transcribe.inject("slow", output, [Fault.delay(1.5)])
    job = transcribe.get_transcription_job(TranscriptionJobName="slow")["TranscriptionJob"]
    uris = [*job["Transcript"].values(), *job["Subtitles"]["SubtitleFileUris"]]

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda u: http.request("GET", u).status, uris))
    elapsed = time.monotonic() - started

    assert statuses == [200, 200, 200, 200]
    assert 1.5 <= elapsed < 4.5  # serially it would take 6 s


def test_given_a_quota_when_bursting_without_retries_then_limit_exceeded(
    fake_transcribe: FakeTranscribe,
) -> None:
    fake_transcribe.set_rate_limits({"GetTranscriptionJob": 2})
    fake_transcribe.add_job("popular")
    no_retry = fake_transcribe.client(retries={"mode": "standard", "total_max_attempts": 1})

    def call() -> str:
        try:
            no_retry.get_transcription_job(TranscriptionJobName="popular")
        except no_retry.exceptions.LimitExceededException as error:
            return f"throttled {error.response['ResponseMetadata']['HTTPStatusCode']}"
        return "ok"

    started = time.monotonic()
    outcomes = [call() for _ in range(15)]
    elapsed = time.monotonic() - started
    time.sleep(0.6)  # more than one token's worth at 2/s
    after_pause = call()

    # A burst of 2, plus whatever refilled during the (machine-dependent) elapsed time.
    allowed = 2 + math.ceil(elapsed * 2)
    assert outcomes[:2] == ["ok", "ok"]
    assert outcomes.count("ok") <= allowed
    assert outcomes.count("throttled 400") == 15 - outcomes.count("ok") >= 1
    assert after_pause == "ok"
    assert fake_transcribe.api_calls("GetTranscriptionJob", status=400) == outcomes.count(
        "throttled 400"
    )


def test_given_injected_throttling_when_a_standard_retry_client_calls_then_it_succeeds(
    fake_transcribe: FakeTranscribe,
) -> None:
    fake_transcribe.add_job("retry-me")
    fake_transcribe.fail_api_next("GetTranscriptionJob", 2, "throttle")
    patient = fake_transcribe.client(retries={"mode": "standard", "total_max_attempts": 4})

    job = patient.get_transcription_job(TranscriptionJobName="retry-me")["TranscriptionJob"]

    assert job["TranscriptionJobName"] == "retry-me"
    faults = [r.fault for r in fake_transcribe.requests if r.op == "GetTranscriptionJob"]
    assert faults == ["throttle", "throttle", None]


def test_given_injected_api_faults_when_called_once_then_each_kind_surfaces(
    fake_transcribe: FakeTranscribe,
) -> None:
    fake_transcribe.add_job("victim")
    once = fake_transcribe.client(retries={"mode": "standard", "total_max_attempts": 1})
    fake_transcribe.fail_api_next("GetTranscriptionJob", 1, "internal")
    fake_transcribe.fail_api_next("GetTranscriptionJob", 1, "not_found")
    fake_transcribe.fail_api_next("GetTranscriptionJob", 1, "not_found_exception")

    errors = []
    for _ in range(3):
        with pytest.raises(ClientError) as raised:
            once.get_transcription_job(TranscriptionJobName="victim")
        errors.append(
            (
                raised.value.response["Error"]["Code"],
                raised.value.response["ResponseMetadata"]["HTTPStatusCode"],
            )
        )

    assert errors == [
        ("InternalFailureException", 500),
        ("BadRequestException", 400),
        ("NotFoundException", 400),
    ]
    assert once.get_transcription_job(TranscriptionJobName="victim")["TranscriptionJob"]
