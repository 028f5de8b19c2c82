"""Server-side copies: a team-bucket output is copied by S3, never through the function."""

from __future__ import annotations

import base64

from benchmarks.common import Context, check_archived, warm_up
from benchmarks.harness import TEAM_BUCKET
from benchmarks.results import Measurement, MiB, info, judged, median
from local_aws.transcribe import GeneratedContent

SERVER_COPY_MIB = 32


def bench_server_copy(ctx: Context) -> list[Measurement]:
    """A team-bucket output: S3 copies it, the link server serves nothing, SHA from S3."""
    lab = ctx.lab
    content = GeneratedContent(SERVER_COPY_MIB * MiB, seed=SERVER_COPY_MIB)
    times: list[float] = []
    served: list[float] = []
    sha_matches = 0
    s3_checksum_matches = 0
    link_gets = 0
    with lab.worker("server-copy") as worker:
        warm_up(lab, worker)
        for _ in range(ctx.config.copy_reps):
            name = lab.new_job(
                "team-copy", output_bucket=TEAM_BUCKET, outputs={"transcript": content}
            )
            before = lab.fake.bytes_served
            answer = worker.archive(lab.event(name), timeout=300)
            check_archived(answer, name)
            served.append(float(lab.fake.bytes_served - before))
            link_gets += lab.fake.link_requests(name)
            times.append(answer["seconds"])
            record = lab.record(name)["Outputs"]["transcript.json"]
            if record["Sha256"] == lab.fake.output_sha256(name, "transcript"):
                sha_matches += 1
            bucket, _, key = record["S3Uri"].removeprefix("s3://").partition("/")
            head = lab.s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            s3_sha = base64.b64decode(head.get("ChecksumSHA256", "").split("-")[0]).hex()
            if s3_sha == record["Sha256"]:
                s3_checksum_matches += 1
            lab.empty_bucket()
            lab.empty_bucket(TEAM_BUCKET)
            lab.forget_job(name)
    reps = ctx.config.copy_reps
    return [
        judged(
            "server-copy",
            f"record SHA-256 = content's ({SERVER_COPY_MIB} MiB)",
            sha_matches,
            f"of {reps}",
            "==",
            reps,
            note=f"and = S3's stored checksum in {s3_checksum_matches} of {reps}",
            details={"s3_checksum_matches": s3_checksum_matches},
        ),
        judged(
            "server-copy",
            "bytes served by the link server",
            sum(served),
            "B",
            "==",
            0,
            samples=served,
            note=f"{link_gets} GETs of the job's links",
            details={"link_gets": link_gets},
        ),
        info(
            "server-copy",
            f"server-side copy @ {SERVER_COPY_MIB} MiB",
            median(times),
            "s",
            samples=times,
            note="handler wall time (GetTranscriptionJob, HEAD, CopyObject, records)",
        ),
    ]
