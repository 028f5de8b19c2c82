"""Speed: the archiver next to other copies of the same bytes between the same servers.

Three copies stand beside the archiver, in the function's own process, in rotating order:

* ``default``: what a user writes instead, ``boto3.client("s3").upload_fileobj`` of the
  link's stream with boto3's defaults. The judged targets (issue 13) are against this one.
* ``default_tls``: the same without SHA-256 payload signing, which botocore does only over
  plain http (as against the local servers): what the default costs against real S3.
* ``matched``: the archiver's own part size and concurrency, no checksums at all.

Process CPU (all threads) is reported beside wall time: on a small Lambda (512 MB is about
0.3 vCPU) CPU per byte decides how long a large output takes.

Each copy's CompleteMultipartUpload is timed too. The embedded S3 (moto 5.2) does per-byte
work there that S3 does not: it joins the parts into one object, and for a full-object
checksum (``ChecksumType`` FULL_OBJECT, which the archiver sends, docs/contract.md) copies
the whole object once more and computes its CRC32 over it, where S3 can derive it from
the parts' CRCs (CRCs combine; that is why S3 offers full-object checksums for CRCs
only). boto3's default sends a composite checksum, which moto builds from the parts
alone. The "wall less completion" line shows the copies without that server-side step.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Context, check_archived, warm_up
from benchmarks.harness import Lab, WorkerProcess
from benchmarks.results import Measurement, MiB, info, judged, median
from local_aws.transcribe import GeneratedContent

# Targets (issue 13), against boto3's default streaming copy, same run.
WALL_MAX_RATIO = 1.1
CPU_MAX_RATIO = 1.5

KINDS = ("archiver", "default", "default_tls", "matched")
LABELS = {
    "default": "boto3 default upload_fileobj",
    "default_tls": "boto3 default, as over https (no payload signing)",
    "matched": "matched copy (archiver's parts and threads, no checksums)",
}


def bench_speed(ctx: Context) -> list[Measurement]:
    """The archiver and the three other copies of the same content, paired by round."""
    lab, size = ctx.lab, ctx.config.speed_mib
    content = GeneratedContent(size * MiB, seed=size)
    wall: dict[str, list[float]] = {k: [] for k in KINDS}
    cpu: dict[str, list[float]] = {k: [] for k in KINDS}
    completion: dict[str, list[float]] = {k: [] for k in KINDS}
    with lab.worker("speed") as worker:
        warm_up(lab, worker)
        part_size = int(worker.ready["part_size"])
        warm = lab.new_job("speed-warmup", outputs={"transcript": GeneratedContent(3 * part_size)})
        for kind in KINDS[1:]:
            _copy(lab, worker, kind, warm)  # clients, pools and threads exist before timing
        check_archived(worker.archive(lab.event(warm)), warm)  # the multipart path, warm
        lab.empty_bucket()
        for rep in range(ctx.config.speed_reps):
            for kind in KINDS[rep % len(KINDS) :] + KINDS[: rep % len(KINDS)]:
                name = lab.new_job(f"speed-{kind}", outputs={"transcript": content})
                answer = _copy(lab, worker, kind, name)
                wall[kind].append(answer["seconds"])
                cpu[kind].append(answer["cpu"])
                completion[kind].append(answer["completion_seconds"])
                lab.empty_bucket()
                lab.forget_job(name)

    def ratios(figures: dict[str, list[float]], other: str) -> list[float]:
        return [a / b for a, b in zip(figures["archiver"], figures[other], strict=True)]

    out = [
        judged(
            "speed",
            f"wall: archiver / boto3 default @ {size} MiB",
            median(ratios(wall, "default")),
            "x",
            "<=",
            WALL_MAX_RATIO,
            samples=ratios(wall, "default"),
            note="median of per-round ratios (rotating order)",
            details={"seconds": wall, "part_size": part_size},
        ),
        judged(
            "speed",
            f"CPU: archiver / boto3 default @ {size} MiB",
            median(ratios(cpu, "default")),
            "x",
            "<=",
            CPU_MAX_RATIO,
            samples=ratios(cpu, "default"),
            note="process CPU, all threads; median of per-round ratios",
            details={"cpu_seconds": cpu},
        ),
    ]
    rest = {k: [w - c for w, c in zip(wall[k], completion[k], strict=True)] for k in KINDS}
    out.append(
        info(
            "speed",
            "wall less CompleteMultipartUpload: archiver / default",
            median(ratios(rest, "default")),
            "x",
            samples=ratios(rest, "default"),
            note=(
                f"the embedded S3's completion took {median(completion['archiver']):.2f} s "
                f"(full-object CRC32) vs {median(completion['default']):.2f} s (composite)"
            ),
        )
    )
    for other in ("default_tls", "matched"):
        out.append(
            info(
                "speed",
                f"wall / CPU: archiver / {other}",
                median(ratios(wall, other)),
                "x",
                samples=ratios(wall, other),
                note=f"CPU {median(ratios(cpu, other)):.2f}x; {LABELS[other]}",
            )
        )
    for kind in KINDS:
        out.append(
            info(
                "speed",
                f"{kind} @ {size} MiB",
                median(wall[kind]),
                "s",
                samples=wall[kind],
                note=(
                    f"{size / median(wall[kind]):.0f} MiB/s; CPU {median(cpu[kind]):.2f} s "
                    f"({median(cpu[kind]) / size * 1000:.1f} ms/MiB)"
                ),
            )
        )
    return out


def _copy(lab: Lab, worker: WorkerProcess, kind: str, name: str) -> dict[str, Any]:
    """One copy of ``name``'s transcript by ``kind``; checks what arrived."""
    if kind == "archiver":
        answer = worker.archive(lab.event(name), timeout=600)
        check_archived(answer, name)
        return answer
    url = lab.fake.describe(name)["Transcript"]["TranscriptFileUri"]  # a fresh presigned link
    content = lab.fake.output_content(name, "transcript")
    expected = content.size if isinstance(content, GeneratedContent) else len(content)
    target: dict[str, Any] = {"url": url, "bucket": lab.archive.bucket, "key": f"{kind}/{name}"}
    if kind == "matched":
        answer = worker.request(
            "baseline",
            **target,
            part_size=worker.ready["part_size"],
            concurrency=worker.ready["upload_concurrency"],
            timeout=600,
        )
    else:
        answer = worker.request(
            "default_copy", **target, tls_like=kind == "default_tls", timeout=600
        )
    if answer["bytes"] != expected:
        raise AssertionError(f"{kind} copied {answer['bytes']} of {expected} bytes")
    return answer
