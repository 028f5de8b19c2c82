"""What the integration suites share: the world a test drives, and assertions on what a user
finds in S3 and DynamoDB."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import zlib
from typing import Any

from archiver.cli import main
from archiver.handler import handler
from archiver.store.archive_bucket import PART_SIZE
from archiver.store.record import from_dynamo

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe
from local_aws.transcribe.model import JobType, OutputName

#: Archive object name -> the double's output name.
OUTPUT_OF = {
    "transcript.json": "transcript",
    "redacted-transcript.json": "redacted",
    "subtitles.vtt": "vtt",
    "subtitles.srt": "srt",
    "clinical-document.json": "clinical_document",
}
CONTENT_TYPES = {
    "transcript.json": "application/json",
    "redacted-transcript.json": "application/json",
    "subtitles.vtt": "text/vtt",
    "subtitles.srt": "application/x-subrip",
    "job.json": "application/json",
    "clinical-document.json": "application/json",
}
#: Redacted audio (``redacted-media.{format}``) by format.
AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg"}
#: The history item's JobKind of each of the double's job kinds.
JOB_KIND = {
    "transcription": "TRANSCRIPTION",
    "call-analytics": "CALL_ANALYTICS",
    "medical": "MEDICAL",
    "medical-scribe": "MEDICAL_SCRIBE",
}
#: The member of each kind's job description that holds its status.
STATUS_MEMBER = {
    "transcription": "TranscriptionJobStatus",
    "call-analytics": "CallAnalyticsJobStatus",
    "medical": "TranscriptionJobStatus",
    "medical-scribe": "MedicalScribeJobStatus",
}
SECRETS = ("X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential", "ASIA")


class World:
    """The embedded AWS, the archive (bucket, table) and the local Transcribe a test drives,
    with the clients it reads them through; suites add their own steps in subclasses."""

    def __init__(self, aws: EmbeddedAWS, env: ArchiveEnv, fake: FakeTranscribe) -> None:
        self.aws, self.env, self.fake = aws, env, fake
        self.s3 = aws.client("s3")
        self.db = aws.client("dynamodb")
        self.bucket, self.table = env.bucket, env.table

    def invoke(self, event: dict[str, Any], **context: Any) -> dict[str, Any]:
        """The function's handler, invoked as Lambda would (``context``: FakeLambdaContext's)."""
        result: dict[str, Any] = handler(event, FakeLambdaContext(**context))
        return result

    def whole(self, name: str) -> dict[str, Any]:
        """The job's only run, checked archived whole (see :func:`assert_archived_whole`)."""
        return assert_archived_whole(self.s3, self.db, self.bucket, self.table, self.fake, name)


def output_of(name: str) -> OutputName | None:
    """The double's output an archive object was copied from (None: job.json)."""
    if name.startswith("redacted-media."):
        return "redacted_media"
    return OUTPUT_OF.get(name)  # type: ignore[return-value]


def content_type(name: str) -> str:
    if name.startswith("redacted-media."):
        return AUDIO_TYPES[name.rpartition(".")[2]]
    return CONTENT_TYPES[name]


def archive_names(fake: FakeTranscribe, job_name: str, kind: JobType | None = None) -> set[str]:
    """The objects a whole archive of the job holds: job.json and each output it produced."""
    names = {"job.json"}
    for name, output in OUTPUT_OF.items():
        with contextlib.suppress(KeyError):
            fake.output_content(job_name, output, kind=kind)  # type: ignore[arg-type]
            names.add(name)
    with contextlib.suppress(KeyError):
        fake.output_content(job_name, "redacted_media", kind=kind)
        names.add(f"redacted-media.{fake.describe(job_name, kind=kind)['MediaFormat']}")
    return names


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def runs(db: Any, table: str, job_name: str) -> list[dict[str, Any]]:
    page = db.query(
        TableName=table,
        KeyConditionExpression="JobName = :n",
        ExpressionAttributeValues={":n": {"S": job_name}},
        ConsistentRead=True,
    )
    return [from_dynamo(i) for i in page["Items"]]


def only_run(db: Any, table: str, job_name: str, kind: JobType | None = None) -> dict[str, Any]:
    """The one item of ``job_name`` (of that kind, when the name is used by both)."""
    found = runs(db, table, job_name)
    if kind is not None:
        found = [r for r in found if r.get("JobKind", "TRANSCRIPTION") == JOB_KIND[kind]]
    assert len(found) == 1, f"{job_name}: expected one item, found {len(found)}"
    return found[0]


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(keys)


def assert_archived_whole(
    s3: Any,
    db: Any,
    bucket: str,
    table: str,
    fake: FakeTranscribe,
    job_name: str,
    *,
    kind: JobType | None = None,
) -> dict[str, Any]:
    """The run's item is ARCHIVED and every output is in S3, byte-identical and described."""
    kind = kind or fake.kind_of(job_name)
    item = only_run(db, table, job_name, kind)
    assert item["ArchiveStatus"] == "ARCHIVED", item.get("ArchiveError")
    assert item["JobKind"] == JOB_KIND[kind]
    job = fake.describe(job_name, kind=kind)
    status = job[STATUS_MEMBER[kind]]
    assert item["JobStatus"] == status
    folder = item["ArchiveUri"].removeprefix(f"s3://{bucket}/")
    assert keys_under(s3, bucket, folder) == sorted(f"{folder}{n}" for n in item["Outputs"])
    for name, out in item["Outputs"].items():
        key = f"{folder}{name}"
        assert out["S3Uri"] == f"s3://{bucket}/{key}"
        assert out["ContentType"] == content_type(name)
        obj = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        body = obj["Body"].read()
        assert obj["ContentType"] == content_type(name)
        assert obj["Metadata"]["job-name"] == job_name
        assert obj["Metadata"]["job-status"] == status
        if job.get("LanguageCode"):
            assert obj["Metadata"]["language-code"] == job["LanguageCode"]
        assert out["Bytes"] == len(body)
        assert out["Sha256"] == hashlib.sha256(body).hexdigest()
        # The checksum S3 verified on arrival, and it is the body's: SHA-256 for one request
        # (or a server-side copy), the whole object's CRC32 for a multipart upload.
        if obj.get("ChecksumSHA256"):
            assert obj["ChecksumSHA256"] == b64(hashlib.sha256(body).digest()), name
        else:
            assert len(body) > PART_SIZE, f"{name}: no SHA-256 for a one-request object"
            assert obj.get("ChecksumType") == "FULL_OBJECT", f"{name}: {obj.get('ChecksumType')}"
            assert obj.get("ChecksumCRC32") == b64(zlib.crc32(body).to_bytes(4, "big")), name
        output = output_of(name)
        if output is not None:
            expected = fake.output_sha256(job_name, output, kind=kind)
            assert out["Sha256"] == expected, f"{name} differs from what Transcribe wrote"
        if len(body) <= PART_SIZE:  # one request: a whole-object checksum
            assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
        if name == "job.json":
            for secret in SECRETS:
                assert secret.encode() not in body, f"{secret} in job.json"
    return item


def cli(*argv: str) -> tuple[int, str, str]:
    """The CLI run in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def metrics_emitted(captured: str) -> dict[str, float]:
    """Totals of every metric the handler flushed (Powertools' EMF lines on stdout)."""
    totals: dict[str, float] = {}
    for line in captured.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if not isinstance(blob, dict) or "_aws" not in blob:
                continue
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals
