"""The hashing reader between an HTTP body and the S3 uploader."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from typing import Any

import pytest
from archiver.errors import PermanentOutputError
from archiver.sources.https import StreamingReader
from archiver.store.archive_bucket import ArchiveBucket

MiB = 1024 * 1024


class Body:
    """A response body that hands out small, uneven pieces, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, amount: int) -> bytes:
        return self._data.read(min(amount, 70_001))


def test_given_small_reads_when_asked_for_n_then_exactly_n_bytes_come_back() -> None:
    reader = StreamingReader(Body(b"x" * 300_000), max_bytes=10**9)  # type: ignore[arg-type]
    assert len(reader.read(250_000)) == 250_000
    assert len(reader.read(250_000)) == 50_000
    assert reader.read(10) == b""
    assert reader.bytes_read == 300_000


def test_given_more_bytes_than_allowed_when_read_then_copy_is_refused() -> None:
    reader = StreamingReader(Body(b"y" * 2048), max_bytes=1024)  # type: ignore[arg-type]
    with pytest.raises(PermanentOutputError, match="MAX_OUTPUT_BYTES"):
        reader.read(4096)


def test_given_a_multipart_upload_when_verified_then_s3_composite_checksum_matches(
    aws: dict[str, Any],
) -> None:
    data = bytes(range(256)) * (20 * MiB // 256 + 7)  # 20 MiB and a bit: three parts
    bucket = ArchiveBucket(aws["s3"], aws["bucket"])
    reader = StreamingReader(Body(data), max_bytes=10**9)  # type: ignore[arg-type]
    stored = bucket.upload_stream("transcript.json", "t/x.json", reader, "application/json", {})
    assert stored.sha256_hex == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    body = aws["s3"].get_object(Bucket=aws["bucket"], Key="t/x.json")["Body"].read()
    assert body == data


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_given_sizes_around_one_part_when_uploaded_then_bytes_and_checksums_match(
    aws: dict[str, Any], extra: int
) -> None:
    part = 5 * MiB  # S3's smallest multipart part
    data = bytes(range(251)) * ((part + extra) // 251) + b"z" * ((part + extra) % 251)
    assert len(data) == part + extra
    bucket = ArchiveBucket(aws["s3"], aws["bucket"], part_size=part)
    reader = StreamingReader(Body(data), max_bytes=10**9)  # type: ignore[arg-type]
    stored = bucket.upload_stream("t", "edge.json", reader, "application/json", {"job-name": "x"})
    obj = aws["s3"].get_object(Bucket=aws["bucket"], Key="edge.json", ChecksumMode="ENABLED")
    assert obj["Body"].read() == data
    assert stored.sha256_hex == hashlib.sha256(data).hexdigest()
    if len(data) <= part:  # one PutObject: the SHA-256 S3 verified on arrival
        assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    else:  # multipart: the whole object's CRC32
        assert (
            obj["ChecksumCRC32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        )
    assert obj["Metadata"] == {"job-name": "x"}
