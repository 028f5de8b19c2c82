"""The hashing reader between an HTTP body and the S3 uploader."""

from __future__ import annotations

import hashlib
import io

import pytest
from archiver.errors import PermanentOutputError
from archiver.sources.https import StreamingReader

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


def test_given_small_reads_when_a_part_buffer_is_filled_then_it_is_filled_whole() -> None:
    data = bytes(range(256)) * 1200  # 307,200 bytes
    reader = StreamingReader(Body(data), max_bytes=10**9)  # type: ignore[arg-type]
    buffer = bytearray(250_000)
    assert reader.readinto(memoryview(buffer)) == 250_000
    assert bytes(buffer) == data[:250_000]
    assert reader.readinto(memoryview(buffer)) == 57_200
    assert bytes(buffer[:57_200]) == data[250_000:]
    assert reader.readinto(memoryview(buffer)) == 0
    assert reader.sha256_hex == hashlib.sha256(data).hexdigest()


def test_given_more_bytes_than_allowed_when_filling_a_part_then_copy_is_refused() -> None:
    reader = StreamingReader(Body(b"y" * 2048), max_bytes=1024)  # type: ignore[arg-type]
    with pytest.raises(PermanentOutputError, match="MAX_OUTPUT_BYTES"):
        reader.readinto(memoryview(bytearray(4096)))
