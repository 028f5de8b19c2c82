"""Streamed multipart uploads: each part's CRC32 and the whole object's go to S3 as values
(botocore hashes nothing again), few parts are held at once, and a failure leaves nothing."""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from archiver.aws import AwsClients
from archiver.errors import OutOfTimeError
from archiver.store.archive_bucket import ArchiveBucket
from moto import mock_aws

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part
DATA = bytes(range(256)) * (3 * PART // 256) + b"tail"  # three full parts and four bytes


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

    @property
    def sha256_hex(self) -> str:
        return self._sha.hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self._sha.digest()).decode()


@pytest.fixture
def s3() -> Iterator[Any]:
    """The function's own S3 client (aws.py's configuration) against in-process moto."""
    with mock_aws():
        client = AwsClients(region="us-east-1").s3
        client.create_bucket(Bucket="archive")
        yield client


def test_given_a_multipart_output_then_every_request_carries_our_crc32_and_no_payload_hash(
    s3: Any,
) -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((request.url, headers))

    s3.meta.events.register("before-send.s3.*", record)
    stored = ArchiveBucket(s3, "archive", part_size=PART).upload_stream(
        "transcript.json", "k/transcript.json", Reader(DATA), "application/json", {"a": "b"}
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
        "t", "k/big", reader, "application/json", {}
    )
    assert done == 9
    assert worst <= 3


def test_given_the_stream_fails_midway_then_no_object_and_no_upload_is_left(s3: Any) -> None:
    bucket = ArchiveBucket(s3, "archive", part_size=PART)
    with pytest.raises(OutOfTimeError):
        bucket.upload_stream("t", "k/cut", Reader(DATA, fail_after=3), "application/json", {})
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
        "t", "k/small", Reader(data), "application/json", {}
    )
    assert sent == ["PutObject"]
    obj = s3.get_object(Bucket="archive", Key="k/small", ChecksumMode="ENABLED")
    assert obj["Body"].read() == data
    assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
