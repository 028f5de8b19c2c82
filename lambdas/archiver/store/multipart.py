"""Streamed multipart uploads whose full-object CRC32 S3 verifies, each byte hashed once.

Why not s3transfer (``upload_fileobj``)? It takes a full-object checksum only before the
upload starts, while a stream's is known at its end; and it cannot pass on per-part checksum
values, so botocore would hash every part again. Here each part's CRC32 is computed once,
in the thread that sends it, and goes with the part (S3 checks it on arrival); the whole
object's CRC32 is combined from the parts' (:mod:`archiver.store.crc32`) and goes with
CompleteMultipartUpload (``ChecksumType=FULL_OBJECT``: S3 checks it against the parts).

Memory: at most ``concurrency`` parts exist at once, the one being read included. Any
failure aborts the upload, so a partial object never appears under the key.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archiver.store import crc32

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


@dataclass(frozen=True)
class Uploaded:
    """What S3 was told (and checked) about the object."""

    size: int
    crc32: int
    parts: int

    @property
    def crc32_b64(self) -> str:
        return crc32.to_b64(self.crc32)


@dataclass(frozen=True)
class _Part:
    number: int
    size: int
    crc32: int
    etag: str


def upload_multipart(
    s3: S3Client,
    bucket: str,
    key: str,
    parts: Iterator[bytes],
    *,
    concurrency: int,
    object_args: dict[str, Any],
) -> Uploaded:
    """Upload ``parts`` (in order, all but the last of one size) as one object."""
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT", **object_args
    )["UploadId"]
    try:
        sent = _send_all(s3, bucket, key, upload_id, parts, concurrency)
        total = crc = 0
        for part in sent:
            crc = crc32.combine(crc, part.crc32, part.size)
            total += part.size
        completed: list[CompletedPartTypeDef] = [
            {"PartNumber": p.number, "ETag": p.etag, "ChecksumCRC32": crc32.to_b64(p.crc32)}
            for p in sent
        ]
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": completed},
            ChecksumType="FULL_OBJECT",
            ChecksumCRC32=crc32.to_b64(crc),
            MpuObjectSize=total,
        )
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one worth reporting
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return Uploaded(total, crc, len(sent))


def _send_all(
    s3: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Iterator[bytes],
    concurrency: int,
) -> list[_Part]:
    slots = threading.BoundedSemaphore(concurrency)

    def send(number: int, body: list[bytes]) -> _Part:
        try:
            data = body.pop()  # the only reference: freed as soon as it is sent
            checksum = zlib.crc32(data)  # releases the GIL: reading goes on meanwhile
            answer = s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumCRC32=crc32.to_b64(checksum),
            )
            return _Part(number, len(data), checksum, answer["ETag"])
        finally:
            slots.release()

    futures: list[Future[_Part]] = []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="part") as pool:
        try:
            while True:
                slots.acquire()
                failed = next((f for f in futures if f.done() and f.exception()), None)
                if failed is not None:
                    failed.result()  # raises: stop reading, the caller aborts
                data = next(parts, None)
                if data is None:
                    break
                futures.append(pool.submit(send, len(futures) + 1, [data]))
                del data
        except BaseException:
            for future in futures:
                future.cancel()  # parts not yet started; the others finish or fail
            raise
    return [future.result() for future in futures]
