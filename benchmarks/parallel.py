"""Parallel outputs: slow links are fetched side by side, not one after another."""

from __future__ import annotations

from benchmarks.common import Context, check_archived, warm_up
from benchmarks.results import Measurement, judged, median
from local_aws.transcribe import Fault, OutputName

# Target (issue 13, kept from "Fast and lean at any size").
PARALLEL_MAX_SECONDS = 1.6
PARALLEL_DELAY = 1.5
#: The four links a redacted, subtitled transcription job has (``redacted_media`` is a
#: Call Analytics job's).
SLOW_OUTPUTS: tuple[OutputName, ...] = ("transcript", "redacted", "vtt", "srt")


def bench_parallel(ctx: Context) -> list[Measurement]:
    """Four outputs that each take 1.5 s to answer: archived in about 1.5 s, not 6 s."""
    lab, times = ctx.lab, []
    with lab.worker("parallel") as worker:
        warm_up(lab, worker)
        for _ in range(ctx.config.parallel_reps):
            name = lab.new_job(
                "parallel", redaction="redacted_and_unredacted", subtitle_formats=["vtt", "srt"]
            )
            for output in SLOW_OUTPUTS:
                lab.fake.inject(name, output, [Fault.delay(PARALLEL_DELAY)])
            answer = worker.archive(lab.event(name))
            check_archived(answer, name)
            stored = sorted(lab.record(name)["Outputs"])
            if len(stored) != 5:
                raise AssertionError(f"{name}: expected 4 outputs + job.json, got {stored}")
            times.append(answer["seconds"])
            lab.forget_job(name)
    return [
        judged(
            "parallel",
            f"4 outputs x {PARALLEL_DELAY:g} s delay",
            median(times),
            "s",
            "<=",
            PARALLEL_MAX_SECONDS,
            samples=times,
            note=f"one at a time would take >= {4 * PARALLEL_DELAY:g} s",
        )
    ]
