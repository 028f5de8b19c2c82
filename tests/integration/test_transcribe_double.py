"""The Transcribe double is only useful if it behaves like the service: these tests drive it
through real boto3 clients and real HTTP (urllib3, botocore's own HTTP stack) and check
the wire behaviour the archiver depends on."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.session
import pytest
import urllib3
from archiver import contract
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import (
    FAILURE_REASONS,
    JOB_NOT_FOUND_MESSAGE,
    FakeTranscribe,
    Fault,
    OtherHostServer,
)
from local_aws.transcribe.content import (
    EVENTS_DIR,
    FIXTURES_DIR,
    KOREAN_TRANSCRIPT,
    REDACTED_TRANSCRIPT,
    SILENT_TRANSCRIPT,
    STANDARD_TRANSCRIPT,
    SUBTITLED_SRT,
    SUBTITLED_TRANSCRIPT,
    GeneratedContent,
    content_sha256,
    fixture_bytes,
    srt_to_vtt,
)

pytestmark = pytest.mark.integration

TRANSCRIBE_MODEL = botocore.session.get_session().get_service_model("transcribe")
QUERY_ORDER = [
    "X-Amz-Security-Token",
    "X-Amz-Algorithm",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
    "X-Amz-Credential",
    "X-Amz-Signature",
]


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A plain client that neither retries nor follows redirects, like a careful fetcher."""
    pool = urllib3.PoolManager(retries=False, maxsize=64, timeout=urllib3.Timeout(10))
    yield pool
    pool.clear()


@pytest.fixture
def transcribe(fake_transcribe: FakeTranscribe) -> Any:
    return fake_transcribe.client()


def raw_api(
    http: urllib3.PoolManager, fake: FakeTranscribe, op: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], urllib3.BaseHTTPResponse]:
    """One API call on the wire, to see exactly what botocore would parse."""
    response = http.request(
        "POST",
        fake.endpoint_url + "/",
        body=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": f"Transcribe.{op}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
            "transcribe/aws4_request, SignedHeaders=host, Signature=00",
        },
    )
    return response.status, json.loads(response.data or b"{}"), response


def assert_matches_shape(value: Any, shape: Shape | None, where: str = "$") -> None:
    """Every key and scalar type in ``value`` exists in the botocore model ``shape``."""
    assert shape is not None
    if value is None:  # links come back null for opted-out accounts (the service does it)
        return
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), where
        for key, member_value in value.items():
            assert key in shape.members, f"{where}.{key} is not in {shape.name}"
            assert_matches_shape(member_value, shape.members[key], f"{where}.{key}")
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            assert_matches_shape(item, shape.member, f"{where}[{i}]")
    elif isinstance(shape, MapShape):
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert_matches_shape(item, shape.value, f"{where}.{key}")
    else:
        expected: dict[str, tuple[type, ...]] = {
            "string": (str,),
            "integer": (int,),
            "long": (int,),
            "float": (float, int),
            "double": (float, int),
            "boolean": (bool,),
            "timestamp": (float, int),
        }
        assert isinstance(value, expected[shape.type_name]), f"{where}: {value!r}"
        if "enum" in shape.metadata:
            assert value in shape.metadata["enum"], f"{where}: {value!r} not in enum"


def xml_error(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def link_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def transcript_uri(transcribe: Any, name: str) -> str:
    job = transcribe.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
    uri: str = job["Transcript"]["TranscriptFileUri"]
    return uri


# --------------------------------------------------------------------------- GetTranscriptionJob
def test_given_a_service_bucket_job_when_botocore_gets_it_then_every_field_parses(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    created = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    fake_transcribe.add_job(
        "plain-job",
        creation_time=created,
        start_time=created + timedelta(seconds=1),
        completion_time=created + timedelta(seconds=61, milliseconds=456),
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    )

    job = transcribe.get_transcription_job(TranscriptionJobName="plain-job")["TranscriptionJob"]

    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert job["LanguageCode"] == "en-US"
    assert job["MediaFormat"] == "mp3"
    assert job["MediaSampleRateHertz"] == 44100
    assert job["Media"]["MediaFileUri"].startswith("s3://")
    assert job["CreationTime"] == created  # millisecond precision survives the wire
    assert job["StartTime"] == created + timedelta(seconds=1)
    assert job["CompletionTime"] == created + timedelta(seconds=61, milliseconds=456)
    assert job["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    assert "FailureReason" not in job
    link = urlsplit(job["Transcript"]["TranscriptFileUri"])
    assert link.netloc == fake_transcribe.link_host
    assert re.fullmatch(
        r"/aws-transcribe-us-east-1-prod/123456789012/plain-job/[0-9a-f]{32}/asrOutput\.json",
        link.path,
    )
    assert [pair.split("=")[0] for pair in link.query.split("&")] == QUERY_ORDER
    params = link_params(job["Transcript"]["TranscriptFileUri"])
    assert params["X-Amz-Expires"] == "900"
    assert params["X-Amz-Credential"].startswith("ASIA")
    assert params["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert re.fullmatch(r"\d{8}T\d{6}Z", params["X-Amz-Date"])
    assert re.fullmatch(r"[0-9a-f]{64}", params["X-Amz-Signature"])

    status, raw, response = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "plain-job"}
    )
    assert status == 200
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-RequestId"]
    assert raw["TranscriptionJob"]["CreationTime"] == pytest.approx(created.timestamp())
    assert list(raw["TranscriptionJob"])[:8] == [
        "TranscriptionJobName",
        "TranscriptionJobStatus",
        "LanguageCode",
        "MediaSampleRateHertz",
        "MediaFormat",
        "Media",
        "Transcript",
        "StartTime",
    ]
    assert_matches_shape(raw, TRANSCRIBE_MODEL.operation_model("GetTranscriptionJob").output_shape)


def test_given_botocore_when_it_talks_to_transcribe_then_it_uses_aws_json_1_1(
    transcribe: Any,
) -> None:
    # The double speaks awsJson1_1. The model also offers smithy-rpc-v2-cbor; if a botocore
    # upgrade ever prefers it, this fails first and points at the reason.
    assert transcribe.meta.service_model.resolved_protocol == "json"


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


def test_given_redaction_when_getting_the_job_then_the_redacted_transcript_is_linked(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("both", redaction="redacted_and_unredacted")
    fake_transcribe.add_job("only-redacted", redaction="redacted", pii_entity_types=["NAME"])

    both = transcribe.get_transcription_job(TranscriptionJobName="both")["TranscriptionJob"]
    only = transcribe.get_transcription_job(TranscriptionJobName="only-redacted")[
        "TranscriptionJob"
    ]

    assert both["ContentRedaction"] == {
        "RedactionType": "PII",
        "RedactionOutput": "redacted_and_unredacted",
    }
    assert set(both["Transcript"]) == {"TranscriptFileUri", "RedactedTranscriptFileUri"}
    redacted_uri = both["Transcript"]["RedactedTranscriptFileUri"]
    assert urlsplit(redacted_uri).path.endswith("/redacted-asrOutput.json")
    assert http.request("GET", redacted_uri).data == fixture_bytes(REDACTED_TRANSCRIPT)
    # "redacted" alone: the service writes only the redacted transcript.
    assert set(only["Transcript"]) == {"RedactedTranscriptFileUri"}
    assert only["ContentRedaction"]["PiiEntityTypes"] == ["NAME"]


def test_given_subtitles_when_fetching_them_then_srt_is_real_and_vtt_is_derived(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("subs", subtitle_formats=["vtt", "srt"])

    job = transcribe.get_transcription_job(TranscriptionJobName="subs")["TranscriptionJob"]

    assert job["Subtitles"]["Formats"] == ["vtt", "srt"]
    assert job["Subtitles"]["OutputStartIndex"] == 0
    vtt_uri, srt_uri = job["Subtitles"]["SubtitleFileUris"]
    assert urlsplit(vtt_uri).path.endswith("/subs.vtt")
    assert urlsplit(srt_uri).path.endswith("/subs.srt")
    srt = http.request("GET", srt_uri)
    vtt = http.request("GET", vtt_uri)
    assert srt.data == fixture_bytes(SUBTITLED_SRT)
    assert srt.headers["Content-Type"] == "application/x-subrip"
    assert vtt.headers["Content-Type"] == "text/vtt"
    assert vtt.data.startswith(b"WEBVTT\n\n0\n00:00:00.349 --> 00:00:05.269\n")
    assert vtt.data.count(b" --> ") == srt.data.count(b" --> ") == 34
    transcript = http.request("GET", job["Transcript"]["TranscriptFileUri"]).data
    assert transcript == fixture_bytes(SUBTITLED_TRANSCRIPT)  # the SRT's own job


def test_given_a_failed_job_when_getting_it_then_it_has_a_reason_and_no_transcript(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_job(
        "broken",
        status="FAILED",
        failure_reason=FAILURE_REASONS[2],
        subtitle_formats=["srt"],
    )

    job = transcribe.get_transcription_job(TranscriptionJobName="broken")["TranscriptionJob"]
    event = fake_transcribe.event_for("broken")

    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"] == "Invalid sample rate for audio file"
    assert "Transcript" not in job
    assert "SubtitleFileUris" not in job["Subtitles"]
    assert "MediaSampleRateHertz" not in job
    assert isinstance(job["CompletionTime"], datetime)
    assert event["detail"] == {
        "TranscriptionJobName": "broken",
        "TranscriptionJobStatus": "FAILED",
        "FailureReason": "Invalid sample rate for audio file",
    }
    listed = transcribe.list_transcription_jobs(Status="FAILED")["TranscriptionJobSummaries"]
    assert [(s["TranscriptionJobName"], s["FailureReason"]) for s in listed] == [
        ("broken", "Invalid sample rate for audio file")
    ]


def test_given_multi_language_identification_when_getting_it_then_language_codes_parse(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_job(
        "town-hall",
        language_codes=[("en-US", 1820.5), ("es-US", 611.0)],
        language_options=["en-US", "es-US"],
        identified_language_score=0.97,
    )
    fake_transcribe.add_job("lid", identify_language=True, language_code="de-DE")

    multi = transcribe.get_transcription_job(TranscriptionJobName="town-hall")["TranscriptionJob"]
    single = transcribe.get_transcription_job(TranscriptionJobName="lid")["TranscriptionJob"]

    assert "LanguageCode" not in multi  # multi-language jobs use the plural field
    assert multi["IdentifyMultipleLanguages"] is True
    assert multi["LanguageOptions"] == ["en-US", "es-US"]
    assert multi["IdentifiedLanguageScore"] == pytest.approx(0.97)
    assert multi["LanguageCodes"] == [
        {"LanguageCode": "en-US", "DurationInSeconds": 1820.5},
        {"LanguageCode": "es-US", "DurationInSeconds": 611.0},
    ]
    assert single["IdentifyLanguage"] is True
    assert single["LanguageCode"] == "de-DE"
    assert 0 < single["IdentifiedLanguageScore"] <= 1


def test_given_tags_and_special_content_when_fetched_then_tags_and_fixtures_match(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("tagged", tags={"Department": "Sales", "Empty": ""})
    fake_transcribe.add_job("seoul", language_code="ko-KR")
    fake_transcribe.add_job("silence", outputs={"transcript": fixture_bytes(SILENT_TRANSCRIPT)})

    tagged = transcribe.get_transcription_job(TranscriptionJobName="tagged")["TranscriptionJob"]

    assert tagged["Tags"] == [
        {"Key": "Department", "Value": "Sales"},
        {"Key": "Empty", "Value": ""},
    ]
    assert http.request("GET", transcript_uri(transcribe, "tagged")).data == fixture_bytes(
        STANDARD_TRANSCRIPT
    )
    korean = http.request("GET", transcript_uri(transcribe, "seoul")).data
    assert korean == fixture_bytes(KOREAN_TRANSCRIPT)
    assert json.loads(korean)["results"]["transcripts"][0]["transcript"]
    silent = http.request("GET", transcript_uri(transcribe, "silence")).data
    assert json.loads(silent)["results"]["items"] == []


def test_given_opted_out_links_when_getting_the_job_then_they_are_null_or_missing(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job(
        "opted-out", subtitle_formats=["vtt", "srt"], null_outputs=["transcript", "vtt"]
    )
    fake_transcribe.add_job("flaky", missing_outputs=["transcript"])

    opted = transcribe.get_transcription_job(TranscriptionJobName="opted-out")["TranscriptionJob"]
    flaky = transcribe.get_transcription_job(TranscriptionJobName="flaky")["TranscriptionJob"]
    _, raw, _ = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "opted-out"}
    )

    # On the wire the link is JSON null; botocore's parser drops null members, so a boto3
    # caller sees an empty Transcript (the archiver must treat "absent" and null alike).
    assert raw["TranscriptionJob"]["Transcript"] == {"TranscriptFileUri": None}
    assert opted["Transcript"] == {}
    vtt, srt = opted["Subtitles"]["SubtitleFileUris"]
    assert vtt is None
    assert urlsplit(srt).path.endswith(".srt")
    assert "Transcript" not in flaky


def test_given_no_such_job_when_getting_it_then_bad_request_with_the_real_message(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    with pytest.raises(transcribe.exceptions.BadRequestException) as raised:
        transcribe.get_transcription_job(TranscriptionJobName="never-existed")

    error = raised.value.response
    assert error["Error"]["Message"] == JOB_NOT_FOUND_MESSAGE
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    status, body, _ = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "never-existed"}
    )
    assert (status, body) == (
        400,
        {"__type": "BadRequestException", "Message": JOB_NOT_FOUND_MESSAGE},
    )


def test_given_bad_requests_when_calling_the_api_then_it_answers_like_aws(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    unsigned = http.request(
        "POST",
        fake_transcribe.endpoint_url + "/",
        body=b"{}",
        headers={"X-Amz-Target": "Transcribe.ListTranscriptionJobs"},
    )
    with pytest.raises(ClientError) as invalid_name:
        transcribe.get_transcription_job(TranscriptionJobName="has space")
    with pytest.raises(ClientError) as too_many:
        transcribe.list_transcription_jobs(MaxResults=101)  # botocore checks only the minimum
    with pytest.raises(ValueError, match="invalid job name"):
        fake_transcribe.add_job("has space")

    assert unsigned.status == 400
    assert json.loads(unsigned.data)["__type"] == "MissingAuthenticationTokenException"
    assert invalid_name.value.response["Error"]["Code"] == "ValidationException"
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 100" in too_many.value.response["Error"]["Message"]


# --------------------------------------------------------------------------- List / Delete
def test_given_250_jobs_when_listing_100_per_page_then_three_pages_newest_first(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.set_rate_limits(None)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(250):
        fake_transcribe.add_job(
            f"bulk-{i:03d}",
            status="FAILED" if i % 10 == 0 else "COMPLETED",
            creation_time=base + timedelta(minutes=i),
        )

    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 100} | ({"NextToken": token} if token else {})
        page = transcribe.list_transcription_jobs(**kwargs)
        pages.append(page["TranscriptionJobSummaries"])
        token = page.get("NextToken")
        if token is None:
            break
    failed = transcribe.list_transcription_jobs(Status="FAILED", MaxResults=100)
    default_page = transcribe.list_transcription_jobs()
    by_name = transcribe.list_transcription_jobs(JobNameContains="BULK-24", MaxResults=100)

    assert [len(p) for p in pages] == [100, 100, 50]
    names = [s["TranscriptionJobName"] for p in pages for s in p]
    assert names == [f"bulk-{i:03d}" for i in reversed(range(250))]
    created = [s["CreationTime"] for p in pages for s in p]
    assert created == sorted(created, reverse=True)
    assert failed["Status"] == "FAILED"
    assert len(failed["TranscriptionJobSummaries"]) == 25
    assert {s["TranscriptionJobStatus"] for s in failed["TranscriptionJobSummaries"]} == {"FAILED"}
    assert len(default_page["TranscriptionJobSummaries"]) == 5  # the documented default
    assert len(by_name["TranscriptionJobSummaries"]) == 10  # case-insensitive, 240-249
    status, raw, _ = raw_api(http, fake_transcribe, "ListTranscriptionJobs", {"MaxResults": 3})
    assert status == 200
    assert len(raw["TranscriptionJobSummaries"]) == 3
    assert_matches_shape(
        raw, TRANSCRIBE_MODEL.operation_model("ListTranscriptionJobs").output_shape
    )


def test_given_a_deleted_job_when_reused_then_old_links_die_and_the_run_is_new(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    first = fake_transcribe.add_job("reused")
    old_link = first["Transcript"]["TranscriptFileUri"]

    transcribe.delete_transcription_job(TranscriptionJobName="reused")

    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.get_transcription_job(TranscriptionJobName="reused")
    gone = http.request("GET", old_link)
    assert gone.status == 404
    assert xml_error(gone.data)["Code"] == "NoSuchKey"
    second = fake_transcribe.add_job("reused")
    assert second["CreationTime"] >= first["CreationTime"] + timedelta(seconds=1)
    new_link = transcript_uri(transcribe, "reused")
    assert urlsplit(new_link).path != urlsplit(old_link).path
    assert http.request("GET", new_link).status == 200
    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.delete_transcription_job(TranscriptionJobName="not-there")


# --------------------------------------------------------------------------- links
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


def test_given_global_link_style_when_getting_the_job_then_there_is_no_uuid_segment(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("old-style", link_style="global")

    uri = transcript_uri(transcribe, "old-style")

    assert (
        urlsplit(uri).path == "/aws-transcribe-us-east-1-prod/123456789012/old-style/asrOutput.json"
    )
    assert http.request("GET", uri).status == 200


# --------------------------------------------------------------------------- quotas / faults
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


# --------------------------------------------------------------------------- events, fixtures
def test_given_a_completed_job_when_building_its_event_then_it_matches_the_documented_shape(
    fake_transcribe: FakeTranscribe,
) -> None:
    completed = datetime(2026, 11, 23, 10, 15, 2, 123000, tzinfo=UTC)
    fake_transcribe.add_job("evented", completion_time=completed)
    documented = json.loads((EVENTS_DIR / "docs-transcribe-job-state-change.json").read_bytes())

    event = fake_transcribe.event_for("evented")
    late = fake_transcribe.event_for("evented", time=completed + timedelta(minutes=5))

    assert list(event) == list(documented)
    assert list(event["detail"]) == list(documented["detail"])
    assert event["version"] == "0"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert (event["detail-type"], event["source"]) == (
        "Transcribe Job State Change",
        "aws.transcribe",
    )
    assert (event["account"], event["region"], event["resources"]) == (
        "123456789012",
        "us-east-1",
        [],
    )
    assert event["time"] == "2026-11-23T10:15:02Z"
    assert late["time"] == "2026-11-23T10:20:02Z"
    assert event["detail"] == {
        "TranscriptionJobName": "evented",
        "TranscriptionJobStatus": "COMPLETED",
    }
    assert event["id"] != late["id"]
    assert all(
        event[k] in v for k, v in contract.TRANSCRIPTION_EVENT_PATTERN.items() if k != "detail"
    )  # the stack's rule would match it


def test_given_the_copied_fixtures_when_hashed_then_they_match_sources_md() -> None:
    sources = (FIXTURES_DIR / "SOURCES.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (\d+) \| ([0-9a-f]{16}) \|$", sources, re.MULTILINE)

    assert len(rows) >= 17
    for name, size, sha_prefix in rows:
        data = (FIXTURES_DIR / name).read_bytes()
        assert len(data) == int(size), name
        assert hashlib.sha256(data).hexdigest()[:16] == sha_prefix, name


# --------------------------------------------------------------------------- lifecycle
def test_given_open_connections_and_a_long_delay_when_stopping_then_all_threads_end(
    http: urllib3.PoolManager,
) -> None:
    before = set(threading.enumerate())
    fake = FakeTranscribe().start()
    port = fake.port
    fake.add_job("stuck")
    fake.inject("stuck", "transcript", [Fault.delay(60)])
    uri = transcript_uri(fake.client(), "stuck")
    idle = socket.create_connection(("127.0.0.1", fake.port))  # an idle keep-alive peer
    pending = threading.Thread(target=lambda: _swallow(lambda: http.request("GET", uri)))
    pending.start()
    time.sleep(0.2)

    started = time.monotonic()
    fake.stop()
    stop_took = time.monotonic() - started
    pending.join(5)
    idle.close()

    assert stop_took < 4  # a 60 s delay was pending
    assert not pending.is_alive()
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def _swallow(call: Any) -> None:
    try:
        call()
    except Exception:  # the connection is cut by stop(); only termination matters here
        return


def test_given_an_embedded_aws_when_stopped_then_its_port_and_threads_are_gone() -> None:
    before = set(threading.enumerate())
    with EmbeddedAWS() as aws:
        port = aws.port
        aws.create_archive("lifecycle-bucket", "lifecycle-table")
        aws.client("s3").head_bucket(Bucket="lifecycle-bucket")
        table = aws.client("dynamodb").describe_table(TableName="lifecycle-table")["Table"]
        env = aws.env(EXTRA=1)

    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == set(contract.INDEXES)
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["JobName", "CreatedAt"]
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["EXTRA"] == "1"
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_given_the_archive_env_fixture_when_used_then_the_contract_environment_is_set(
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
) -> None:
    assert os.environ["ARCHIVE_BUCKET"] == archive_env.bucket
    assert os.environ["JOBS_TABLE"] == archive_env.table
    assert os.environ["ARCHIVE_PREFIX"] == "transcripts/"
    assert os.environ["ALLOWED_SOURCE_HOSTS"] == fake_transcribe.link_host
    assert os.environ["AWS_ENDPOINT_URL"] == embedded_aws.endpoint_url
    assert os.environ["AWS_ENDPOINT_URL_TRANSCRIBE"] == fake_transcribe.endpoint_url
    assert os.environ["POWERTOOLS_METRICS_NAMESPACE"] == "TranscribeArchiver"
    assert int(os.environ["MAX_OUTPUT_BYTES"]) == 5 * 1024**3
    # A client built only from the environment reaches both doubles.
    fake_transcribe.add_job("from-env")
    session = boto3.session.Session()
    assert session.client("transcribe").get_transcription_job(TranscriptionJobName="from-env")
    session.client("s3").head_bucket(Bucket=archive_env.bucket)
    session.client("dynamodb").describe_table(TableName=archive_env.table)
