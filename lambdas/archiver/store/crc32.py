"""CRC32 of a whole object from its parts' CRC32s: the one thing zlib does not expose.

A multipart upload carries each part's CRC32 (S3 checks it on arrival) and a full-object
CRC32 (S3 checks it when the upload completes). Hashing the bytes a second time for the
whole object would cost as much CPU as the parts did; combining the parts' values costs a
few hundred integer operations each. zlib has ``crc32_combine`` but Python's ``zlib``
module does not offer it, and awscrt (botocore's fast path) is not in the Lambda runtime.

The arithmetic is zlib's own (``crc32.c``, 1.2.12 and later): polynomials over GF(2),
reflected, modulo the CRC-32 polynomial.
"""

from __future__ import annotations

import base64
from typing import Final

_POLY: Final = 0xEDB88320  # the CRC-32 polynomial, reflected
_ONE: Final = 1 << 31  # x^0 in the reflected representation


def _multiply(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC-32 polynomial."""
    product = 0
    mask = _ONE
    while mask:
        if a & mask:
            product ^= b
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
        mask >>= 1
    return product


def _powers() -> tuple[int, ...]:
    """x^(2^k) modulo the polynomial, for k = 0..31."""
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multiply(table[-1], table[-1]))
    return tuple(table)


_X_POW_2K: Final = _powers()


def _shift(length: int) -> int:
    """x^(8 * length) modulo the polynomial: appending ``length`` zero bytes."""
    result = _ONE
    k = 3  # 8 bits per byte: x^(length * 2^3)
    while length:
        if length & 1:
            result = _multiply(_X_POW_2K[k & 31], result)
        length >>= 1
        k += 1
    return result


def combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC32 of A + B, given CRC32(A), CRC32(B) and len(B)."""
    return _multiply(_shift(length2), crc1) ^ crc2


def to_b64(crc: int) -> str:
    """The form S3 uses in ``x-amz-checksum-crc32``: four big-endian bytes, base64."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode()
