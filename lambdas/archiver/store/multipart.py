"""Streamed multipart uploads whose full-object CRC32 S3 verifies, each byte hashed once.

Why not s3transfer (``upload_fileobj``)? It takes a full-object checksum only before the
upload starts, while a stream's is known at its end; and it cannot pass on per-part checksum
values, so botocore would hash every part again. Here each part's CRC32 is computed once,
in the thread that sends it, and goes with the part (S3 checks it on arrival); the whole
object's CRC32 is combined from the parts' (:mod:`archiver.store.crc32`) and goes with
CompleteMultipartUpload (``ChecksumType=FULL_OBJECT``: S3 checks it against the parts).

Memory: parts are read into a few buffers that are reused, part after part. Allocating a
fresh buffer per part would let the C allocator keep freed parts around (glibc raises its
mmap threshold after the first large free), so the peak would depend on timing. Any
failure aborts the upload, so a partial object never appears under the key.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from archiver.store import crc32

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


class PartReader(Protocol):
    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer``; fewer bytes only at the end of the stream."""
        ...


class Part(NamedTuple):
    """A buffer from a :class:`PartPool` and how many of its bytes are the part."""

    buffer: bytearray
    size: int

    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.size]

    def body(self) -> bytearray:
        """The buffer itself, sent without a copy (a short last part is cut down in place)."""
        del self.buffer[self.size :]
        return self.buffer


class PartPool:
    """At most ``size`` part buffers exist for one upload; each is reused part after part."""

    def __init__(self, size: int, part_size: int) -> None:
        self.size = size
        self.part_size = part_size
        self._slots = threading.BoundedSemaphore(size)
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def fill(self, reader: PartReader) -> Part:
        """Wait for a free buffer, then read the stream's next part into it."""
        buffer = self._take()
        try:
            return Part(buffer, reader.readinto(memoryview(buffer)))
        except BaseException:
            self.release(buffer)
            raise

    def hold(self, data: bytes) -> Part:
        """A part already read (as bytes) moves into a buffer of its own."""
        buffer = self._take()
        buffer[: len(data)] = data
        return Part(buffer, len(data))

    def release(self, buffer: bytearray) -> None:
        if len(buffer) == self.part_size:  # a cut-down last part is not reused
            with self._lock:
                self._free.append(buffer)
        self._slots.release()

    def _take(self) -> bytearray:
        self._slots.acquire()
        with self._lock:
            return self._free.pop() if self._free else bytearray(self.part_size)


class Uploaded(NamedTuple):
    """What S3 was told (and checked) about the object."""

    size: int
    crc32: int
    parts: int

    @property
    def crc32_b64(self) -> str:
        return crc32.to_b64(self.crc32)


class _Sent(NamedTuple):
    number: int
    size: int
    crc32: int
    etag: str


def upload_multipart(
    s3: S3Client,
    bucket: str,
    key: str,
    first: list[Part],
    reader: PartReader,
    pool: PartPool,
    *,
    object_args: dict[str, Any],
) -> Uploaded:
    """Upload the parts in ``first``, then the rest of ``reader``, as one object."""
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT", **object_args
    )["UploadId"]

    def next_part() -> Part:
        return first.pop(0) if first else pool.fill(reader)

    try:
        sent = _send_all(s3, bucket, key, upload_id, next_part, pool)
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
    next_part: Callable[[], Part],
    pool: PartPool,
) -> list[_Sent]:
    """Send parts side by side (as many as the pool has buffers) until the stream ends."""

    def send(number: int, part: Part) -> _Sent:
        try:
            checksum = zlib.crc32(part.view())  # releases the GIL: reading goes on meanwhile
            answer = s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=part.body(),  # type: ignore[arg-type]  # any bytes-like will do
                ChecksumCRC32=crc32.to_b64(checksum),
            )
            return _Sent(number, part.size, checksum, answer["ETag"])
        finally:
            pool.release(part.buffer)

    futures: list[Future[_Sent]] = []
    with ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="part") as workers:
        try:
            while True:
                part = next_part()  # waits for a free buffer: bounded memory
                failed = next((f for f in futures if f.done() and f.exception()), None)
                if part.size == 0 or failed is not None:
                    pool.release(part.buffer)
                    if failed is not None:
                        failed.result()  # raises: stop reading, the caller aborts
                    break
                futures.append(workers.submit(send, len(futures) + 1, part))
                if part.size < pool.part_size:
                    break
        except BaseException:
            for future in futures:
                future.cancel()  # parts not yet started; the others finish or fail
            raise
    return [future.result() for future in futures]
