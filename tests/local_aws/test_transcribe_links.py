"""Output links: where outputs live, presigning, expiry, S3's answers, streaming."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe
from local_aws.transcribe.content import (
    STANDARD_TRANSCRIPT,
    SUBTITLED_SRT,
    SUBTITLED_TRANSCRIPT,
    GeneratedContent,
    content_sha256,
    fixture_bytes,
    srt_to_vtt,
)
from tests.local_aws.helpers import link_params, transcript_uri, xml_error

pytestmark = pytest.mark.integration


def test_given_a_team_bucket_job_when_fetched_then_links_are_s3_urls_of_real_objects(
    fake_transcribe: FakeTranscribe, transcribe: Any, embedded_aws: EmbeddedAWS
) -> None:
    fake_transcribe.add_job(
        "team-job", output_bucket="team-bucket", subtitle_formats=["vtt", "srt"]
    )

    job = transcribe.get_transcription_job(TranscriptionJobName="team-job")["TranscriptionJob"]

    uris = [job["Transcript"]["TranscriptFileUri"], *job["Subtitles"]["SubtitleFileUris"]]
    assert uris == [
        "https://s3.us-east-1.amazonaws.com/team-bucket/team-job.json",
        "https://s3.us-east-1.amazonaws.com/team-bucket/team-job.vtt",
        "https://s3.us-east-1.amazonaws.com/team-bucket/team-job.srt",
    ]
    s3 = embedded_aws.client("s3")
    expected = [
        fixture_bytes(SUBTITLED_TRANSCRIPT),
        srt_to_vtt(fixture_bytes(SUBTITLED_SRT)),
        fixture_bytes(SUBTITLED_SRT),
    ]
    for uri, body in zip(uris, expected, strict=True):
        bucket, _, key = urlsplit(uri).path.lstrip("/").partition("/")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    summary = transcribe.list_transcription_jobs(JobNameContains="team-job")
    assert summary["TranscriptionJobSummaries"][0]["OutputLocationType"] == "CUSTOMER_BUCKET"


def test_given_an_output_key_when_a_team_job_is_added_then_keys_follow_the_service(
    fake_transcribe: FakeTranscribe,
) -> None:
    fake_transcribe.add_job(
        "keyed", output_bucket="team-bucket", output_key="calls/2026/", redaction="redacted"
    )
    fake_transcribe.add_job("named", output_bucket="team-bucket", output_key="out/result.json")

    assert fake_transcribe.output_location("keyed", "redacted") == (
        "team-bucket",
        "calls/2026/redacted-keyed.json",
    )
    assert fake_transcribe.output_location("named", "transcript") == (
        "team-bucket",
        "out/result.json",
    )


def test_given_a_link_when_fetched_then_s3_headers_and_exact_fixture_bytes(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("fetch-me")
    uri = transcript_uri(transcribe, "fetch-me")
    body = fixture_bytes(STANDARD_TRANSCRIPT)

    got = http.request("GET", uri)
    head = http.request("HEAD", uri)
    part = http.request("GET", uri, headers={"Range": "bytes=10-19"})
    beyond = http.request("GET", uri, headers={"Range": f"bytes={len(body) + 5}-"})

    assert got.status == 200
    assert got.data == body
    assert got.headers["Content-Length"] == str(len(body))
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert got.headers["Server"] == "AmazonS3"
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(body))
    assert head.data == b""
    assert part.status == 206
    assert part.data == body[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(body)}"
    assert beyond.status == 416
    recorded = [r for r in fake_transcribe.requests if r.op is None]
    assert [(r.method, r.status, r.output) for r in recorded] == [
        ("GET", 200, "transcript"),
        ("HEAD", 200, "transcript"),
        ("GET", 206, "transcript"),
        ("GET", 416, "transcript"),
    ]
    assert all("?" not in r.path and r.client_host == "127.0.0.1" for r in recorded)


def test_given_two_get_calls_when_comparing_links_then_each_is_freshly_signed(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("fresh")

    first, second = transcript_uri(transcribe, "fresh"), transcript_uri(transcribe, "fresh")

    assert urlsplit(first).path == urlsplit(second).path
    assert link_params(first)["X-Amz-Signature"] != link_params(second)["X-Amz-Signature"]
    assert link_params(first)["X-Amz-Credential"] != link_params(second)["X-Amz-Credential"]
    assert http.request("GET", first).status == http.request("GET", second).status == 200


def test_given_tampered_or_unsigned_links_when_fetched_then_s3_refuses(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("guarded")
    uri = transcript_uri(transcribe, "guarded")
    bare = uri.split("?")[0]

    forged = http.request("GET", uri.replace("X-Amz-Expires=900", "X-Amz-Expires=3600"))
    anonymous = http.request("GET", bare)
    partial = http.request("GET", bare + "?X-Amz-Algorithm=AWS4-HMAC-SHA256")

    assert (forged.status, xml_error(forged.data)["Code"]) == (403, "SignatureDoesNotMatch")
    assert (anonymous.status, xml_error(anonymous.data)["Message"]) == (403, "Access Denied")
    assert xml_error(partial.data)["Code"] == "AuthorizationQueryParametersError"


def test_given_a_one_second_link_when_fetched_late_then_403_request_has_expired(
    embedded_aws: EmbeddedAWS, http: urllib3.PoolManager
) -> None:
    with FakeTranscribe(link_expires=1) as fake:
        fake.add_job("short-lived")
        uri = transcript_uri(fake.client(), "short-lived")

        time.sleep(1.2)  # X-Amz-Date is truncated to the second, so 1.2 s always expires
        expired = http.request("GET", uri)
        fake.link_expires = 900
        refreshed = http.request("GET", transcript_uri(fake.client(), "short-lived"))

    assert expired.status == 403
    error = xml_error(expired.data)
    assert (error["Code"], error["Message"], error["X-Amz-Expires"]) == (
        "AccessDenied",
        "Request has expired",
        "1",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", error["Expires"])
    assert error["ServerTime"] >= error["Expires"]
    assert error["RequestId"] and error["HostId"]
    assert expired.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert refreshed.status == 200


def test_given_an_injected_clock_when_16_minutes_pass_then_links_expire_without_sleeping(
    http: urllib3.PoolManager,
) -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC).timestamp()
    with FakeTranscribe(clock=lambda: start) as fake:
        fake.add_job("aged")
        uri = transcript_uri(fake.client(), "aged")
        before = http.request("GET", uri)
        fake.clock = lambda: start + 901
        after = http.request("GET", uri)

    assert before.status == 200
    assert after.status == 403
    error = xml_error(after.data)
    assert (error["Expires"], error["ServerTime"]) == (
        "2026-05-01T12:15:00Z",
        "2026-05-01T12:15:01Z",
    )


def test_given_global_link_style_when_getting_the_job_then_there_is_no_uuid_segment(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("old-style", link_style="global")

    uri = transcript_uri(transcribe, "old-style")

    assert (
        urlsplit(uri).path == "/aws-transcribe-us-east-1-prod/123456789012/old-style/asrOutput.json"
    )
    assert http.request("GET", uri).status == 200


def test_given_many_concurrent_clients_when_fetching_then_every_request_succeeds(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    for i in range(20):
        fake_transcribe.add_job(f"busy-{i}")
    uris = [transcript_uri(transcribe, f"busy-{i}") for i in range(20)] * 10
    body = fixture_bytes(STANDARD_TRANSCRIPT)

    with ThreadPoolExecutor(50) as pool:
        bodies = list(pool.map(lambda u: http.request("GET", u).data, uris))

    assert bodies == [body] * 200
    assert fake_transcribe.link_requests() == 200


def test_given_64_mib_generated_output_when_streamed_then_sha256_matches_and_rss_stays_flat(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    big = GeneratedContent(size=64 * 1024 * 1024, seed=42)
    expected = content_sha256(big)
    fake_transcribe.add_job("huge", outputs={"transcript": big})
    uri = transcript_uri(transcribe, "huge")
    baseline, peak, done = rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = http.request("GET", uri, preload_content=False)
        digest, received = hashlib.sha256(), 0
        for chunk in response.stream(1024 * 1024):
            digest.update(chunk)
            received += len(chunk)
    finally:
        done.set()
        sampler.join()

    assert response.headers["Content-Length"] == str(big.size)
    assert received == big.size
    assert digest.hexdigest() == expected
    assert peak[0] - baseline < 32 * 1024 * 1024  # neither side held the 64 MiB
    assert fake_transcribe.bytes_served >= big.size


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
