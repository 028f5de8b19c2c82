"""Writes into the archive bucket: streamed uploads, server-side copies, small objects.

Every object gets the contract's user metadata and an S3 SHA-256 checksum, and is
verified after writing: S3 checks each request's checksum on arrival, and we compare what
S3 stored with the digest of the bytes we read. An upload that fails midway leaves nothing
under its key (PutObject and CompleteMultipartUpload are atomic; s3transfer aborts the
multipart upload on error), so a retry simply starts again.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from archiver.errors import PermanentOutputError, TransientOutputError
from archiver.models.outputs import S3Location, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
#: Part size for streamed uploads. Memory stays near (in-memory chunks + 1) x PART_SIZE per
#: output, whatever the output's size.
PART_SIZE = 8 * MiB
#: Largest object a single CopyObject may copy; larger ones use UploadPartCopy.
MAX_SINGLE_COPY = 5 * 1024 * MiB


class HashingReader(Protocol):
    """What an upload reads from: a stream that hashes and counts what passes through it."""

    bytes_read: int

    def read(self, amount: int = -1) -> bytes: ...

    @property
    def sha256_hex(self) -> str: ...

    @property
    def sha256_b64(self) -> str: ...

    def composite_b64(self) -> str: ...


class ArchiveBucket:
    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        part_size: int = PART_SIZE,
        upload_concurrency: int = 3,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.part_size = part_size
        self._transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=upload_concurrency,
            use_threads=True,
        )
        # s3transfer's knob (boto3's TransferConfig does not take it as an argument): bounds
        # the parts buffered from a non-seekable stream, so memory stays flat at any size.
        self._transfer.max_in_memory_upload_chunks = upload_concurrency

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def upload_stream(
        self,
        name: str,
        key: str,
        reader: HashingReader,
        content_type: str,
        metadata: dict[str, str],
        tags: Mapping[str, str],
    ) -> StoredObject:
        """Stream ``reader`` into ``key`` and verify what S3 stored against what we read.

        An output that fits in one part (nearly all transcripts) goes up in one PutObject
        carrying the SHA-256 of the bytes we read, which S3 checks before it stores
        anything. Larger ones stream through s3transfer's bounded multipart upload and are
        compared afterwards with S3's composite checksum.
        """
        first = reader.read(self.part_size)
        more = reader.read(1)
        if not more:
            return self.put_bytes(name, key, first, content_type, metadata, tags)
        body = _Prefixed([first, more], reader)
        del first, more  # body holds the only references and lets go of them once read
        try:
            self._upload(body, key, content_type, metadata, tags)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                raise TransientOutputError(f"S3 answered {status} while uploading") from None
            raise
        head = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        stored = head.get("ChecksumSHA256", "").split("-")[0]
        if head["ContentLength"] != reader.bytes_read or stored not in {
            reader.sha256_b64,
            reader.composite_b64(),
        }:
            raise TransientOutputError(
                f"{name}: stored object does not match the bytes read "
                f"({head['ContentLength']} vs {reader.bytes_read} bytes)"
            )
        return StoredObject(name, self.uri(key), reader.bytes_read, reader.sha256_hex, content_type)

    def _upload(
        self,
        body: _Prefixed,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        tags: Mapping[str, str],
    ) -> None:
        self._s3.upload_fileobj(
            body,  # type: ignore[arg-type]  # read() is all s3transfer needs
            self.bucket,
            key,
            ExtraArgs={
                "ContentType": content_type,
                "Metadata": metadata,
                "ChecksumAlgorithm": "SHA256",
                "Tagging": urlencode(tags),
            },
            Config=self._transfer,
        )

    def put_bytes(
        self,
        name: str,
        key: str,
        body: bytes,
        content_type: str,
        metadata: dict[str, str],
        tags: Mapping[str, str],
    ) -> StoredObject:
        """A small object in one request; S3 rejects it unless it matches our SHA-256."""
        digest = hashlib.sha256(body).digest()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            Metadata=metadata,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest).decode(),
            Tagging=urlencode(tags),
        )
        return StoredObject(name, self.uri(key), len(body), digest.hex(), content_type)

    def copy_from(
        self,
        name: str,
        source: S3Location,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        max_bytes: int,
        tags: Mapping[str, str],
    ) -> StoredObject:
        """Server-side copy from the team's output bucket: the bytes never pass through us."""
        try:
            head = self._s3.head_object(Bucket=source.bucket, Key=source.key)
        except ClientError as exc:
            raise _source_error(name, source, exc) from None
        size = head["ContentLength"]
        if size > max_bytes:
            raise PermanentOutputError(
                f"{name}: s3://{source.bucket}/{source.key} is {size} bytes, "
                f"over MAX_OUTPUT_BYTES ({max_bytes}): not copied"
            )
        copy_source = {"Bucket": source.bucket, "Key": source.key}
        if "VersionId" in head:
            copy_source["VersionId"] = head["VersionId"]  # copy exactly what we measured
        try:
            if size <= MAX_SINGLE_COPY:
                result = self._s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource=copy_source,  # type: ignore[arg-type]
                    CopySourceIfMatch=head["ETag"],
                    MetadataDirective="REPLACE",
                    # The source's tags stay behind (reading them would need more rights);
                    # the archive's own tags replace them.
                    TaggingDirective="REPLACE",
                    ContentType=content_type,
                    Metadata=metadata,
                    ChecksumAlgorithm="SHA256",
                    Tagging=urlencode(tags),
                )
                # S3 may leave the checksum out of a copy's answer (docs/transcribe-facts.md,
                # "Encrypted output buckets"): then ask the stored object itself.
                checksum = result.get("CopyObjectResult", {}).get(
                    "ChecksumSHA256"
                ) or self._stored_checksum(key)
            else:
                self._s3.copy(
                    copy_source,  # type: ignore[arg-type]
                    self.bucket,
                    key,
                    ExtraArgs={
                        "ContentType": content_type,
                        "Metadata": metadata,
                        "MetadataDirective": "REPLACE",
                        "TaggingDirective": "REPLACE",
                        "ChecksumAlgorithm": "SHA256",
                        "Tagging": urlencode(tags),
                    },
                    Config=TransferConfig(multipart_threshold=MAX_SINGLE_COPY),
                )
                checksum = self._stored_checksum(key)
        except ClientError as exc:
            if _code(exc) in {"PreconditionFailed", "412"}:
                raise TransientOutputError(f"{name}: source changed while being copied") from None
            raise _source_error(name, source, exc) from None
        if not checksum:
            raise TransientOutputError(f"{name}: S3 returned no SHA-256 checksum for the copy")
        # S3 computed this over the bytes it wrote; for a multipart copy it is the composite
        # checksum ("<digest>-<parts>") and is recorded as such.
        digest, _, parts = checksum.partition("-")
        sha_hex = base64.b64decode(digest).hex() + (f"-{parts}" if parts else "")
        return StoredObject(name, self.uri(key), size, sha_hex, content_type)

    def _stored_checksum(self, key: str) -> str:
        head = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return str(head.get("ChecksumSHA256", ""))


class _Prefixed:
    """Bytes already read, then the rest of the stream, with exact-size reads.

    s3transfer first asks for exactly one part: the part already read is handed over as
    it is, without copying 8 MiB.
    """

    def __init__(self, pending: list[bytes], rest: HashingReader) -> None:
        self._pending = [p for p in pending if p]
        self._rest = rest

    def read(self, amount: int = -1) -> bytes:
        if self._pending and len(self._pending[0]) == amount:
            return self._pending.pop(0)
        wanted = None if amount is None or amount < 0 else amount
        pieces: list[bytes] = []
        while self._pending and (wanted is None or wanted > 0):
            head = self._pending.pop(0)
            if wanted is not None and len(head) > wanted:
                head, tail = head[:wanted], head[wanted:]
                self._pending.insert(0, tail)
            pieces.append(head)
            if wanted is not None:
                wanted -= len(head)
        if wanted is None:
            pieces.append(self._rest.read())
        elif wanted > 0:
            pieces.append(self._rest.read(wanted))
        return b"".join(pieces)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _source_error(name: str, source: S3Location, exc: ClientError) -> Exception:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    where = f"s3://{source.bucket}/{source.key}"
    if code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}:
        return PermanentOutputError(f"{name}: {where} does not exist")
    if code in {"403", "AccessDenied", "Forbidden"}:
        return PermanentOutputError(
            f"{name}: access denied to {where}: is the bucket in the stack's sourceBuckets, "
            "and, if a customer-managed KMS key encrypts it, the key in sourceKmsKeyArns?"
        )
    if status >= 500 or code in {"SlowDown", "InternalError", "ServiceUnavailable"}:
        return TransientOutputError(f"{name}: S3 answered {code or status} for {where}")
    return exc
