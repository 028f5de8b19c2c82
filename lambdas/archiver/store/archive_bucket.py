"""Writes into the archive bucket: streamed uploads, server-side copies, small objects.

Every object gets the contract's user metadata and a checksum S3 verifies on arrival
(docs/contract.md, "Archive layout"): the SHA-256 of an object stored in one request, a
full-object CRC32 of a multipart one (see :mod:`archiver.store.multipart`). What S3 then
stores is compared with what was read. An upload that fails midway leaves nothing under its
key (PutObject and CompleteMultipartUpload are atomic; a failed multipart upload is
aborted), so a retry simply starts again.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from archiver.errors import PermanentOutputError, TransientOutputError
from archiver.models.outputs import S3Location, StoredObject
from archiver.store.multipart import PartPool, upload_multipart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

MiB = 1024 * 1024
#: Part size for streamed uploads (S3's smallest): an output up to this size goes up in
#: one PutObject. Small parts let more of them be in flight within the memory below.
PART_SIZE = 5 * MiB
#: Parts of one output in memory at once (one being read, the others being sent): memory
#: stays near this many x PART_SIZE per output, whatever the output's size.
UPLOAD_CONCURRENCY = 5
#: Largest object a single CopyObject may copy; larger ones use UploadPartCopy.
MAX_SINGLE_COPY = 5 * 1024 * MiB
#: S3 errors that mean "the bytes were damaged on the way": sending them again may work.
_DAMAGED = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "IncompleteBody"}


class HashingReader(Protocol):
    """What an upload reads from: a stream that hashes and counts what passes through it."""

    bytes_read: int

    def read(self, amount: int) -> bytes:
        """Exactly ``amount`` bytes, fewer only at the end of the stream."""
        ...

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer``; fewer bytes only at the end of the stream."""
        ...

    @property
    def sha256_hex(self) -> str: ...

    @property
    def sha256_b64(self) -> str: ...


class ArchiveBucket:
    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        part_size: int = PART_SIZE,
        upload_concurrency: int = UPLOAD_CONCURRENCY,
    ) -> None:
        if upload_concurrency < 2:
            # The first two parts are read before the upload starts (is there a second?).
            raise ValueError(f"upload_concurrency must be at least 2, not {upload_concurrency}")
        self._s3 = s3
        self.bucket = bucket
        self.part_size = part_size
        self._concurrency = upload_concurrency

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
        anything. Larger ones go up in parts, each with its CRC32, completed with the whole
        object's CRC32; S3 checks both, and we compare the stored object with them after.
        """
        first = reader.read(self.part_size)  # as big as the output, if that is smaller
        if len(first) < self.part_size:
            return self.put_bytes(
                name, key, first, content_type, metadata, tags, sha256_b64=reader.sha256_b64
            )
        pool = PartPool(self._concurrency, self.part_size)
        pending = [pool.hold(first), pool.fill(reader)]
        del first  # its bytes live on in the pool's first buffer
        if pending[1].size == 0:  # exactly one part
            body = bytes(pending[0].buffer)
            return self.put_bytes(
                name, key, body, content_type, metadata, tags, sha256_b64=reader.sha256_b64
            )
        try:
            uploaded = upload_multipart(
                self._s3,
                self.bucket,
                key,
                pending,
                reader,
                pool,
                object_args=_object_args(content_type, metadata, tags),
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500 or _code(exc) in _DAMAGED:
                raise TransientOutputError(
                    f"S3 answered {_code(exc) or status} while uploading"
                ) from None
            raise
        head = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        stored_crc = head.get("ChecksumCRC32")
        if head["ContentLength"] != reader.bytes_read or stored_crc != uploaded.crc32_b64:
            raise TransientOutputError(
                f"{name}: stored object does not match the bytes read "
                f"({head['ContentLength']} vs {reader.bytes_read} bytes, "
                f"CRC32 {stored_crc} vs {uploaded.crc32_b64})"
            )
        return StoredObject(name, self.uri(key), reader.bytes_read, reader.sha256_hex, content_type)

    def put_bytes(
        self,
        name: str,
        key: str,
        body: bytes,
        content_type: str,
        metadata: dict[str, str],
        tags: Mapping[str, str],
        *,
        sha256_b64: str | None = None,
    ) -> StoredObject:
        """A small object in one request; S3 rejects it unless it matches our SHA-256.

        ``sha256_b64``: the body's SHA-256 when the caller has it already (never hashed twice).
        """
        digest = base64.b64decode(sha256_b64) if sha256_b64 else hashlib.sha256(body).digest()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest).decode(),
            **_object_args(content_type, metadata, tags),
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
        """Server-side copy from the team's output bucket: the bytes never pass through us.

        The copy is then compared with the source as measured before it: the same length,
        and the SHA-256 S3 stored with the copy must equal the one in the copy's answer
        (if any) and the source's own full-object SHA-256 (if it has one).
        """
        try:
            head = self._s3.head_object(
                Bucket=source.bucket, Key=source.key, ChecksumMode="ENABLED"
            )
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
        answered: str | None = None
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
                    Tagging=urlencode(tags),
                    ContentType=content_type,
                    Metadata=metadata,
                    ChecksumAlgorithm="SHA256",
                )
                # S3 may leave the checksum out of a copy's answer (docs/transcribe-facts.md,
                # "Encrypted output buckets"): the stored object's is read below either way.
                answered = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
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
                        "Tagging": urlencode(tags),
                        "ChecksumAlgorithm": "SHA256",
                    },
                    Config=TransferConfig(multipart_threshold=MAX_SINGLE_COPY),
                )
        except ClientError as exc:
            if _code(exc) in {"PreconditionFailed", "412"}:
                raise TransientOutputError(f"{name}: source changed while being copied") from None
            raise _source_error(name, source, exc) from None
        stored = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        checksum = stored.get("ChecksumSHA256", "")
        _check_copy(name, head, answered, stored["ContentLength"], checksum)
        # S3 computed this over the bytes it wrote; for a multipart copy it is the composite
        # checksum ("<digest>-<parts>") and is recorded as such.
        digest, _, parts = checksum.partition("-")
        sha_hex = base64.b64decode(digest).hex() + (f"-{parts}" if parts else "")
        return StoredObject(name, self.uri(key), size, sha_hex, content_type)


def _check_copy(
    name: str,
    source: HeadObjectOutputTypeDef,
    answered: str | None,
    stored_size: int,
    stored_sha256: str,
) -> None:
    """Raise TransientOutputError (a retry copies again) unless the copy is the source."""
    if not stored_sha256:
        raise TransientOutputError(f"{name}: S3 returned no SHA-256 checksum for the copy")
    if stored_size != source["ContentLength"]:
        raise TransientOutputError(
            f"{name}: the copy holds {stored_size} bytes, the source "
            f"{source['ContentLength']}: not the same object"
        )
    expected = {answered} if answered else set()
    if source.get("ChecksumSHA256") and source.get("ChecksumType") != "COMPOSITE":
        expected.add(source["ChecksumSHA256"])
    if expected - {stored_sha256}:
        raise TransientOutputError(
            f"{name}: the copy's SHA-256 ({stored_sha256}) differs from the source's "
            f"or from the copy's answer ({', '.join(sorted(expected))})"
        )


def _object_args(
    content_type: str, metadata: dict[str, str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """What every object is written with: its type, the contract's metadata, and the tags
    that lifecycle rules target (URL-encoded, as S3's Tagging parameter takes them)."""
    return {"ContentType": content_type, "Metadata": metadata, "Tagging": urlencode(tags)}


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
