"""Cost profiles: measured handler durations and calls for the cost model's job sizes."""

from __future__ import annotations

from typing import Any

from benchmarks.common import Context, check_archived, warm_up
from benchmarks.results import Measurement, MiB, info, median
from local_aws.transcribe import GeneratedContent


def bench_profiles(ctx: Context) -> list[Measurement]:
    """Handler durations for the cost model's typical and large jobs (measured, not guessed)."""
    lab, out = ctx.lab, []
    shapes: dict[str, dict[str, Any]] = {
        "typical (1 MiB transcript)": {"outputs": {"transcript": GeneratedContent(MiB, seed=1)}},
        "large (40 MiB transcript + vtt + srt)": {
            "outputs": {"transcript": GeneratedContent(40 * MiB, seed=40)},
            "subtitle_formats": ["vtt", "srt"],
        },
    }
    with lab.worker("profiles") as worker:
        warm_up(lab, worker)
        worker.request("api_calls")  # start counting from here
        for label, shape in shapes.items():
            times: list[float] = []
            cpu: list[float] = []
            calls: dict[str, int] = {}
            link_gets = 0
            for _ in range(ctx.config.profile_reps):
                name = lab.new_job("profile", **shape)
                worker.request("api_calls")  # reset
                answer = worker.archive(lab.event(name))
                check_archived(answer, name)
                calls = worker.request("api_calls")["calls"]
                link_gets = lab.fake.link_requests(name)
                times.append(answer["seconds"])
                cpu.append(answer["cpu"])
                record = lab.record(name)
                lab.empty_bucket()
                lab.forget_job(name)
            sizes = {k: v["Bytes"] for k, v in record["Outputs"].items()}
            shown = ", ".join(f"{op.split('.')[-1]} {n}" for op, n in sorted(calls.items()))
            out.append(
                info(
                    "profiles",
                    f"handler duration, {label}",
                    median(times) * 1000,
                    "ms",
                    samples=[t * 1000 for t in times],
                    note=(
                        f"CPU {median(cpu) * 1000:.0f} ms; calls/job: {shown}; "
                        f"link GETs {link_gets}; item ~{_item_size(record)} B"
                    ),
                    details={
                        "cpu_ms": [c * 1000 for c in cpu],
                        "output_bytes": sizes,
                        "item_bytes": _item_size(record),
                        "api_calls_per_job": calls,
                        "link_gets_per_job": link_gets,
                    },
                )
            )
    return out


def _item_size(item: Any) -> int:
    """DynamoDB's item size estimate: attribute names plus values (UTF-8, numbers ~ digits)."""
    if isinstance(item, dict):
        return 3 + sum(len(str(k).encode()) + 1 + _item_size(v) for k, v in item.items())
    if isinstance(item, list | tuple):
        return 3 + sum(1 + _item_size(v) for v in item)
    if isinstance(item, bool) or item is None:
        return 1
    if isinstance(item, int | float):
        return 1 + (len(str(item).replace(".", "").replace("-", "")) + 1) // 2
    return len(str(item).encode())
