from __future__ import annotations

from datetime import UTC, datetime

import pytest
from archiver.errors import PermanentOutputError
from archiver.models.outputs import S3Location
from archiver.sources.links import (
    LinkGuard,
    is_presigned,
    link_expiry,
    redact,
    s3_location,
    strip_query,
)

PRESIGNED = (
    "https://s3.us-east-2.amazonaws.com/aws-transcribe-us-east-2-prod/111122223333/job-1/"
    "3f1c/asrOutput.json?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F&X-Amz-Algorithm="
    "AWS4-HMAC-SHA256&X-Amz-Date=20261123T101502Z&X-Amz-SignedHeaders=host&X-Amz-Expires=900"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20261123%2Fus-east-2%2Fs3%2Faws4_request"
    "&X-Amz-Signature=abc123"
)
guard = LinkGuard(frozenset({"127.0.0.1:8080", "localhost"}))


@pytest.mark.parametrize(
    "url",
    [
        PRESIGNED,
        "https://s3.amazonaws.com/aws-transcribe-us-east-1-prod/111122223333/job/asrOutput.json?X-Amz-Signature=x",
        "https://aws-transcribe-eu-west-1-prod.s3.eu-west-1.amazonaws.com/a/b.json",
        "https://my.bucket.s3.amazonaws.com/a/b.json",
        "https://s3-us-west-2.amazonaws.com/bucket/key.srt",
        "https://s3.dualstack.ap-southeast-2.amazonaws.com/bucket/key.vtt",
        "https://s3.cn-north-1.amazonaws.com.cn/bucket/key.json",
        "http://127.0.0.1:8080/aws-transcribe-us-east-1-prod/x.json",
        "http://localhost:9999/any/path",
    ],
)
def test_given_an_s3_or_allowed_link_when_checked_then_it_may_be_fetched(url: str) -> None:
    guard.check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://s3.amazonaws.com/bucket/key.json", "only https"),
        ("https://169.254.169.254/latest/meta-data/", "IP address"),
        ("http://169.254.169.254/latest/meta-data/iam/", "only https"),
        ("https://[::1]/x", "IP address"),
        ("https://example.com/bucket/key.json", "not an AWS S3 host"),
        ("https://s3.amazonaws.com.evil.example/bucket/key", "not an AWS S3 host"),
        ("https://s3.amazonaws.com:8443/bucket/key", "unexpected port"),
        ("https://user:pw@s3.amazonaws.com/bucket/key", "credentials in URL"),
        ("http://127.0.0.1:8081/other-port", "only https"),
        ("file:///etc/passwd", "only https"),
        ("ftp://localhost/x", "scheme"),
    ],
)
def test_given_a_hostile_link_when_checked_then_it_is_refused(url: str, why: str) -> None:
    with pytest.raises(PermanentOutputError, match=why):
        guard.check(url)


def test_given_a_presigned_link_when_refused_then_the_reason_has_no_signature() -> None:
    hostile = PRESIGNED.replace("s3.us-east-2.amazonaws.com", "evil.example")
    with pytest.raises(PermanentOutputError) as caught:
        guard.check(hostile)
    assert "X-Amz" not in caught.value.reason
    assert "abc123" not in caught.value.reason


def test_given_text_with_presigned_links_when_redacted_then_query_strings_are_gone() -> None:
    text = f"GET {PRESIGNED} failed; retry '{PRESIGNED}'"
    cleaned = redact(text)
    assert "X-Amz-Signature" not in cleaned
    assert "Security-Token" not in cleaned
    assert "asrOutput.json failed" in cleaned
    assert strip_query(PRESIGNED).endswith("/3f1c/asrOutput.json")


def test_given_links_when_parsed_then_bucket_and_key_come_from_the_uri() -> None:
    assert s3_location("https://s3.us-east-1.amazonaws.com/team-out/calls/a%20b.json") == (
        S3Location("team-out", "calls/a b.json")
    )
    assert s3_location("https://team-out.s3.us-east-1.amazonaws.com/x/y.srt") == S3Location(
        "team-out", "x/y.srt"
    )
    assert s3_location("s3://media/in.wav") == S3Location("media", "in.wav")
    assert s3_location("http://127.0.0.1:1/bucket/key") is None
    assert s3_location("https://s3.amazonaws.com/bucket-only") is None


def test_given_a_presigned_link_when_inspected_then_its_expiry_is_known() -> None:
    assert is_presigned(PRESIGNED)
    assert not is_presigned("https://s3.us-east-1.amazonaws.com/b/k.json")
    assert link_expiry(PRESIGNED) == datetime(2026, 11, 23, 10, 30, 2, tzinfo=UTC)
    assert link_expiry("https://s3.us-east-1.amazonaws.com/b/k.json") is None
