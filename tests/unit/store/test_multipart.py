"""Streamed multipart uploads: each part's CRC32 and the whole object's go to S3 as values
(botocore hashes nothing again), few parts are held at once, and a failure leaves nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from archiver.aws import AwsClients
from archiver.errors import OutOfTimeError, TransientOutputError
from archiver.sources.https import StreamingReader
from archiver.store.archive_bucket import ArchiveBucket

from local_aws.embedded_aws import EmbeddedAWS

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part
TAGS = {"archive-object": "transcript.json", "job-redacted": "false"}
DATA = bytes(range(256)) * (3 * PART // 256) + b"tail"  # three full parts and four bytes


class Body:
    """A response body that hands out small, uneven pieces, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, amount: int) -> bytes:
        return self._data.read(min(amount, 70_001))


def crc_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class Reader:
    """A HashingReader over bytes that counts the parts it handed out."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._data = data
        self._fail_after = fail_after
        self.bytes_read = 0
        self.reads = 0
        self._sha = hashlib.sha256()

    def read(self, amount: int) -> bytes:
        if self._fail_after is not None and self.reads >= self._fail_after:
            raise OutOfTimeError("out of time mid-output")
        chunk = self._data[self.bytes_read : self.bytes_read + amount]
        self.bytes_read += len(chunk)
        self.reads += 1
        self._sha.update(chunk)
        return chunk

    def readinto(self, buffer: memoryview) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    @property
    def sha256_hex(self) -> str:
        return self._sha.hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self._sha.digest()).decode()


@pytest.fixture
def s3(embedded_aws: EmbeddedAWS) -> Iterator[Any]:
    """The function's own S3 client (aws.py's configuration) against moto over HTTP.

    Not moto's in-process mock: it cannot take a bytearray request body, which parts are
    sent as (botocore and S3 take any bytes-like body).
    """
    client = AwsClients(region="us-east-1", endpoint_url=embedded_aws.endpoint_url).s3
    client.create_bucket(Bucket="archive")
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="archive"):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket="archive", Key=obj["Key"])
    for upload in client.list_multipart_uploads(Bucket="archive").get("Uploads", []):
        client.abort_multipart_upload(
            Bucket="archive", Key=upload["Key"], UploadId=upload["UploadId"]
        )
    client.delete_bucket(Bucket="archive")


def test_given_a_multipart_output_then_every_request_carries_our_crc32_and_no_payload_hash(
    s3: Any,
) -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((request.url, headers))

    s3.meta.events.register("before-send.s3.*", record)
    stored = ArchiveBucket(s3, "archive", part_size=PART).upload_stream(
        "transcript.json", "k/transcript.json", Reader(DATA), "application/json", {"a": "b"}, TAGS
    )
    assert stored.sha256_hex == hashlib.sha256(DATA).hexdigest()
    parts = [headers for url, headers in sent if "partNumber=" in url]
    bodies = [DATA[i : i + PART] for i in range(0, len(DATA), PART)]
    assert sorted(h["x-amz-checksum-crc32"] for h in parts) == sorted(map(crc_b64, bodies))
    for _, headers in sent:
        # Signed as UNSIGNED-PAYLOAD: botocore never read the bytes to hash them.
        assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
        assert "aws-chunked" not in headers.get("Content-Encoding", "")
    complete = [h for url, h in sent if "uploadId=" in url and "partNumber=" not in url][-1]
    assert complete["x-amz-checksum-crc32"] == crc_b64(DATA)
    assert complete["x-amz-checksum-type"] == "FULL_OBJECT"
    obj = s3.get_object(Bucket="archive", Key="k/transcript.json", ChecksumMode="ENABLED")
    assert obj["Body"].read() == DATA
    assert obj["ChecksumCRC32"] == crc_b64(DATA)
    assert obj["Metadata"] == {"a": "b"}
    assert obj["ContentType"] == "application/json"


def test_given_slow_part_uploads_then_no_more_parts_are_held_than_the_concurrency(
    s3: Any,
) -> None:
    reader = Reader(bytes(8 * PART + 1))
    done = 0
    worst = 0
    lock = threading.Lock()
    gate = threading.Semaphore(0)

    def hold(**_: Any) -> None:
        gate.acquire(timeout=0.05)  # parts finish slowly: reading must wait for them

    def finished(**_: Any) -> None:
        nonlocal done, worst
        with lock:
            worst = max(worst, reader.reads - done)
            done += 1

    s3.meta.events.register("before-send.s3.UploadPart", hold)
    s3.meta.events.register("after-call.s3.UploadPart", finished)
    ArchiveBucket(s3, "archive", part_size=PART, upload_concurrency=3).upload_stream(
        "t", "k/big", reader, "application/json", {}, TAGS
    )
    assert done == 9
    assert worst <= 3


def test_given_s3_rejects_a_part_as_damaged_then_the_output_is_retried_and_nothing_is_left(
    s3: Any,
) -> None:
    class Answer:
        status_code = 400

    def reject(**_: Any) -> tuple[Answer, dict[str, Any]]:
        error = {"Code": "BadDigest", "Message": "The CRC32 you specified did not match"}
        return Answer(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    s3.meta.events.register("before-call.s3.UploadPart", reject)
    bucket = ArchiveBucket(s3, "archive", part_size=PART)
    with pytest.raises(TransientOutputError, match="BadDigest"):
        bucket.upload_stream("t", "k/bad", Reader(DATA), "application/json", {}, TAGS)
    assert s3.list_objects_v2(Bucket="archive").get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket="archive").get("Uploads", []) == []


def test_given_the_stream_fails_midway_then_no_object_and_no_upload_is_left(s3: Any) -> None:
    bucket = ArchiveBucket(s3, "archive", part_size=PART)
    with pytest.raises(OutOfTimeError):
        bucket.upload_stream("t", "k/cut", Reader(DATA, fail_after=3), "application/json", {}, TAGS)
    assert s3.list_objects_v2(Bucket="archive").get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket="archive").get("Uploads", []) == []


@pytest.mark.parametrize("size", [0, 1, PART])
def test_given_an_output_of_at_most_one_part_then_one_put_carries_the_readers_sha256(
    s3: Any, size: int
) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sent: list[str] = []
    s3.meta.events.register("before-call.s3.*", lambda model, **_: sent.append(model.name))
    ArchiveBucket(s3, "archive", part_size=PART).upload_stream(
        "t", "k/small", Reader(data), "application/json", {}, TAGS
    )
    assert sent == ["PutObject"]
    obj = s3.get_object(Bucket="archive", Key="k/small", ChecksumMode="ENABLED")
    assert obj["Body"].read() == data
    assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- through the hashing reader, as the function streams a link -----------------------


def test_given_a_multipart_upload_then_s3_holds_the_bytes_with_their_full_object_crc32(
    s3: Any,
) -> None:
    data = bytes(range(256)) * (20 * MiB // 256 + 7)  # 20 MiB and a bit: three parts
    bucket = ArchiveBucket(s3, "archive")
    reader = StreamingReader(Body(data), max_bytes=10**9)  # type: ignore[arg-type]
    stored = bucket.upload_stream(
        "transcript.json", "t/x.json", reader, "application/json", {}, TAGS
    )
    assert stored.sha256_hex == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    obj = s3.get_object(Bucket="archive", Key="t/x.json", ChecksumMode="ENABLED")
    assert obj["Body"].read() == data
    assert obj["ChecksumType"] == "FULL_OBJECT"
    assert obj["ChecksumCRC32"] == crc_b64(data)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_given_sizes_around_one_part_when_uploaded_then_bytes_and_checksums_match(
    s3: Any, extra: int
) -> None:
    part = 5 * MiB  # S3's smallest multipart part
    data = bytes(range(251)) * ((part + extra) // 251) + b"z" * ((part + extra) % 251)
    assert len(data) == part + extra
    bucket = ArchiveBucket(s3, "archive", part_size=part)
    reader = StreamingReader(Body(data), max_bytes=10**9)  # type: ignore[arg-type]
    stored = bucket.upload_stream(
        "t", "edge.json", reader, "application/json", {"job-name": "x"}, TAGS
    )
    obj = s3.get_object(Bucket="archive", Key="edge.json", ChecksumMode="ENABLED")
    assert obj["Body"].read() == data
    assert stored.sha256_hex == hashlib.sha256(data).hexdigest()
    if len(data) <= part:  # one PutObject: the SHA-256 S3 verified on arrival
        assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    else:  # multipart: the whole object's CRC32
        assert (
            obj["ChecksumCRC32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        )
    assert obj["Metadata"] == {"job-name": "x"}
