"""The whole object's CRC32 from its parts' equals zlib's CRC32 of all the bytes."""

from __future__ import annotations

import random
import zlib

import pytest
from archiver.store import crc32


@pytest.mark.parametrize("sizes", [[1, 1], [0, 5], [5, 0], [3, 8 * 1024 * 1024 + 1], [7] * 9])
def test_given_parts_when_combined_then_the_crc_is_that_of_the_concatenation(
    sizes: list[int],
) -> None:
    rng = random.Random(sum(sizes))
    parts = [rng.randbytes(n) for n in sizes]
    combined = 0
    for part in parts:
        combined = crc32.combine(combined, zlib.crc32(part), len(part))
    assert combined == zlib.crc32(b"".join(parts))


def test_given_a_crc_then_it_is_shown_as_s3_shows_it() -> None:
    # S3's x-amz-checksum-crc32 of "hello world": base64 of the big-endian value.
    assert crc32.to_b64(zlib.crc32(b"hello world")) == "DUoRhQ=="
