"""Memory: peak RSS growth of the function's process per output size, and its flatness."""

from __future__ import annotations

from typing import Any

from benchmarks.common import Context, check_archived, sha_ok, warm_up
from benchmarks.harness import Lab
from benchmarks.results import Measurement, MiB, info, judged, median
from local_aws.transcribe import GeneratedContent

# Targets (issue 13).
MEMORY_JUDGED_MIB = 256  # the output size the memory limit is judged at
MEMORY_LIMIT_MIB = 32.0  # peak RSS growth for a 256 MiB output, and for every larger one
MEMORY_FLAT_MIB = 16.0  # growth(largest) - growth(256 MiB): "flat" = less than two parts
#: Call Analytics' redacted audio is the largest output a job has; until the Transcribe
#: double serves such jobs, a transcript of the same size stands in (see redacted_audio_job).
REDACTED_AUDIO_BYTES = 200_000_000


def redacted_audio_job(lab: Lab) -> str:
    """A finished job whose largest output is the size of a Call Analytics redacted audio.

    The one place to change when the double serves Call Analytics jobs: add such a job
    (its redacted media of REDACTED_AUDIO_BYTES) and return its name; ``lab.event`` then
    gives its Call Analytics event.
    """
    return lab.new_job(
        "memory-redacted-audio",
        outputs={"transcript": GeneratedContent(REDACTED_AUDIO_BYTES, seed=200)},
    )


def bench_memory(ctx: Context) -> list[Measurement]:
    """Peak RSS growth of the function's process per output size (a fresh process each).

    Growth = peak RSS (VmHWM) minus RSS after imports and a small warm-up job. The
    judged size (256 MiB) is measured ``memory_reps`` times, in fresh processes; median.
    """
    lab, out = ctx.lab, []
    growth: dict[int, float] = {}
    for size in ctx.config.sizes_mib:
        reps = ctx.config.memory_reps if size == MEMORY_JUDGED_MIB else 1
        samples = [_memory_once(lab, size) for _ in range(reps)]
        grew = median([m["growth_mib"] for m in samples])
        growth[size] = grew
        first = samples[0]
        ctx.memory_points.append(
            {
                "size_mib": size,
                "growth_mib": grew,
                "peak_mib": median([m["peak_mib"] for m in samples]),
                "baseline_mib": median([m["baseline_mib"] for m in samples]),
            }
        )
        seconds = median([m["archive_seconds"] for m in samples])
        note = f"peak {first['peak_mib']:.0f} MiB, {size / seconds:.0f} MiB/s"
        common: dict[str, Any] = {
            "samples": [m["growth_mib"] for m in samples] if reps > 1 else (),
            "note": note,
            "details": {"runs": samples},
        }
        name = f"peak RSS growth @ {size} MiB"
        if size == MEMORY_JUDGED_MIB:
            out.append(judged("memory", name, grew, "MiB", "<=", MEMORY_LIMIT_MIB, **common))
        else:
            out.append(info("memory", name, grew, "MiB", **common))
    audio = _memory_once(lab, REDACTED_AUDIO_BYTES / MiB, job=redacted_audio_job(lab))
    out.append(
        judged(
            "memory",
            f"peak RSS growth @ {REDACTED_AUDIO_BYTES / 1e6:.0f} MB (redacted-audio size)",
            audio["growth_mib"],
            "MiB",
            "<=",
            MEMORY_LIMIT_MIB,
            note=f"peak {audio['peak_mib']:.0f} MiB; a transcript of that size stands in",
            details={"runs": [audio]},
        )
    )
    above = [s for s in growth if s > MEMORY_JUDGED_MIB]
    if MEMORY_JUDGED_MIB in growth and above:
        worst = max(above, key=lambda s: growth[s])
        out.append(
            judged(
                "memory",
                f"peak RSS growth, worst of {MEMORY_JUDGED_MIB + 1}-{max(above)} MiB",
                growth[worst],
                "MiB",
                "<=",
                MEMORY_LIMIT_MIB,
                samples=[growth[s] for s in sorted(above)],
                note=f"worst at {worst} MiB",
            )
        )
        out.append(
            judged(
                "memory",
                f"flat: max growth {MEMORY_JUDGED_MIB + 1}-{max(above)} MiB - growth 256",
                growth[worst] - growth[MEMORY_JUDGED_MIB],
                "MiB",
                "<=",
                MEMORY_FLAT_MIB,
                samples=[growth[s] for s in sorted(growth)],
                note=f"worst at {worst} MiB; samples = growth per size",
            )
        )
    else:
        out.append(
            Measurement(
                "memory",
                "flat from 256 MiB to 1 GiB",
                None,
                "",
                f"<= {MEMORY_FLAT_MIB:g} MiB",
                "SKIP",
                note="needs sizes above 256 MiB (not in --quick)",
            )
        )
    return out


def _memory_once(lab: Lab, size: float, job: str | None = None) -> dict[str, float]:
    """Archive one output of ``size`` MiB in a fresh function process; its memory figures.

    ``job``: an existing job to archive instead of a new one with a transcript of ``size``.
    """
    with lab.worker(f"memory-{size:g}") as worker:
        warm_up(lab, worker)
        before = worker.memory()
        name = job or lab.new_job(
            f"memory-{size:g}",
            outputs={"transcript": GeneratedContent(int(size * MiB), seed=int(size))},
        )
        answer = worker.archive(lab.event(name), timeout=600)
        check_archived(answer, name)
    if not sha_ok(lab, name):
        raise AssertionError(f"{name}: archived SHA-256 differs from the content's")
    lab.empty_bucket()
    lab.forget_job(name)
    after = answer["memory"]
    return {
        "growth_mib": (after["hwm"] - before["rss"]) / MiB,
        "peak_mib": after["hwm"] / MiB,
        "baseline_mib": before["rss"] / MiB,
        "hwm_after_warmup_mib": before["hwm"] / MiB,
        "ru_maxrss_mib": after["ru_maxrss"] / MiB,
        "archive_seconds": answer["seconds"],
        "archive_cpu_seconds": answer["cpu"],
    }
