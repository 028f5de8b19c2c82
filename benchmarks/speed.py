"""Speed: the archiver next to a plain streaming copy of the same bytes, same servers."""

from __future__ import annotations

from typing import Any

from benchmarks.common import Context, check_archived, warm_up
from benchmarks.harness import Lab, WorkerProcess
from benchmarks.results import Measurement, MiB, info, judged, median
from local_aws.transcribe import GeneratedContent

# Target (issue "Fast and lean at any size"): archiving at most this much slower.
SPEED_MAX_RATIO = 1.2


def bench_speed(ctx: Context) -> list[Measurement]:
    """Archiver vs a plain streaming copy of the same bytes between the same servers."""
    lab, size = ctx.lab, ctx.config.speed_mib
    content = GeneratedContent(size * MiB, seed=size)
    baseline: list[float] = []
    archiver: list[float] = []
    cpu: dict[str, list[float]] = {"baseline": [], "archiver": []}
    with lab.worker("speed") as worker:
        warm_up(lab, worker)
        part_size = int(worker.ready["part_size"])
        warm = lab.new_job("speed-warmup", outputs={"transcript": GeneratedContent(3 * part_size)})
        _baseline_copy(lab, worker, warm)
        check_archived(worker.archive(lab.event(warm)), warm)  # the multipart path, warm
        lab.empty_bucket()
        for rep in range(ctx.config.speed_reps):
            order = ("baseline", "archiver") if rep % 2 == 0 else ("archiver", "baseline")
            for kind in order:
                name = lab.new_job(f"speed-{kind}", outputs={"transcript": content})
                if kind == "baseline":
                    answer = _baseline_copy(lab, worker, name)
                    baseline.append(answer["seconds"])
                else:
                    answer = worker.archive(lab.event(name), timeout=600)
                    check_archived(answer, name)
                    archiver.append(answer["seconds"])
                cpu[kind].append(answer["cpu"])
                lab.empty_bucket()
                lab.forget_job(name)
    ratios = [a / b for a, b in zip(archiver, baseline, strict=True)]
    return [
        judged(
            "speed",
            f"archiver / plain copy @ {size} MiB",
            median(ratios),
            "x",
            "<=",
            SPEED_MAX_RATIO,
            samples=ratios,
            note="median of paired runs (alternating order)",
            details={
                "archiver_seconds": archiver,
                "baseline_seconds": baseline,
                "part_size": worker.ready["part_size"],
                "upload_concurrency": worker.ready["upload_concurrency"],
            },
        ),
        info(
            "speed",
            "CPU archiver / plain copy",
            median(cpu["archiver"]) / median(cpu["baseline"]),
            "x",
            samples=[a / b for a, b in zip(cpu["archiver"], cpu["baseline"], strict=True)],
            note=(
                f"CPU s: archiver {median(cpu['archiver']):.2f}, plain "
                f"{median(cpu['baseline']):.2f} (hashing, verification); less noisy than wall"
            ),
            details=cpu,
        ),
        info(
            "speed",
            f"archiver @ {size} MiB",
            median(archiver),
            "s",
            samples=archiver,
            note=f"{size / median(archiver):.0f} MiB/s",
        ),
        info(
            "speed",
            f"plain copy @ {size} MiB",
            median(baseline),
            "s",
            samples=baseline,
            note=f"{size / median(baseline):.0f} MiB/s",
        ),
    ]


def _baseline_copy(lab: Lab, worker: WorkerProcess, name: str) -> dict[str, Any]:
    url = lab.fake.describe(name)["Transcript"]["TranscriptFileUri"]  # a fresh presigned link
    size = lab.fake.output_content(name, "transcript")
    expected = size.size if isinstance(size, GeneratedContent) else len(size)
    answer = worker.request(
        "baseline",
        url=url,
        bucket=lab.archive.bucket,
        key=f"baseline/{name}",
        # The archiver's own settings, as the worker's archiver package has them.
        part_size=worker.ready["part_size"],
        concurrency=worker.ready["upload_concurrency"],
        timeout=600,
    )
    if answer["bytes"] != expected:
        raise AssertionError(f"baseline copied {answer['bytes']} of {expected} bytes")
    return answer
