"""Throughput: small jobs per second through one warm process, next to the servers' floor."""

from __future__ import annotations

import math
import os
from typing import Any

from benchmarks.common import Context, warm_up
from benchmarks.results import Measurement, info, judged, median

# Targets: issue "Fast and lean at any size" (absolute), issue 13 (against the floor).
THROUGHPUT_MIN = 50.0
#: The handler's best rate against a client making only the required requests, in order.
FLOOR_MIN_RATIO = 0.8


def bench_throughput(ctx: Context) -> list[Measurement]:
    """Small jobs per second through one warm process, next to what the servers allow.

    Four batches, interleaved: the handler in order, the "floor" in order (only the
    requests a small job needs, with plain clients: what the embedded AWS costs per job),
    then both again from a pool of threads (Lambda concurrency within one process).
    CPU seconds are taken from the function's process and from the servers' (this one).
    """
    lab, jobs, threads = ctx.lab, ctx.config.jobs, ctx.config.threads
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    with lab.worker("throughput") as worker:
        warm_up(lab, worker)
        for floor in (False, True):
            warm = [lab.event(lab.new_job("tp-warmup")) for _ in range(10)]
            worker.request("batch", events=warm, threads=1, floor=floor)
        for pool in (1, threads):
            for kind in ("handler", "floor"):
                events = [lab.event(lab.new_job(f"tp-{kind}-{pool}")) for _ in range(jobs)]
                servers_before = _own_cpu_seconds()
                answer = worker.request(
                    "batch", events=events, threads=pool, floor=kind == "floor", timeout=900
                )
                answer["servers_cpu"] = _own_cpu_seconds() - servers_before
                runs[(kind, pool)] = answer
                for event in events:
                    lab.forget_job(event["detail"]["TranscriptionJobName"])
                lab.empty_bucket()

    def rate(kind: str, pool: int) -> float:
        answer = runs[(kind, pool)]
        archived = int(answer["outcomes"].get("ARCHIVED", 0))
        return archived / answer["wall"] if archived == jobs else 0.0

    def describe(kind: str, pool: int) -> str:
        answer = runs[(kind, pool)]
        per_job = sorted(answer["seconds"])
        p95 = per_job[min(len(per_job) - 1, math.ceil(0.95 * len(per_job)) - 1)]
        function_ms = answer["cpu"] / jobs * 1000
        servers_ms = answer["servers_cpu"] / jobs * 1000
        text = (
            f"{answer['outcomes'].get('ARCHIVED', 0)}/{jobs} in {answer['wall']:.1f} s; per job "
            f"p50 {median(per_job) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; CPU/job: function "
            f"{function_ms:.1f} ms, servers {servers_ms:.1f} ms"
        )
        if answer["outcomes"].get("ARCHIVED", 0) != jobs:
            text += f"; outcomes {answer['outcomes']}"
        return text

    def details(kind: str, pool: int) -> dict[str, Any]:
        answer = runs[(kind, pool)]
        return {
            "threads": pool,
            "jobs": jobs,
            "wall_seconds": answer["wall"],
            "function_cpu_seconds": answer["cpu"],
            "servers_cpu_seconds": answer["servers_cpu"],
            "outcomes": answer["outcomes"],
            "per_job_ms": [round(x * 1000, 2) for x in answer["seconds"]],
        }

    best = max(rate("handler", 1), rate("handler", threads))
    pool_label = f"{threads} threads"
    handler_cpu = runs[("handler", 1)]["cpu"] / jobs
    floor_cpu = runs[("floor", 1)]["cpu"] / jobs
    floor_rate = rate("floor", 1)
    return [
        judged(
            "throughput",
            "small jobs/s, handler (best) / sequential floor",
            best / floor_rate if floor_rate else 0.0,
            "x",
            ">=",
            FLOOR_MIN_RATIO,
            note=f"{best:.1f} vs {floor_rate:.1f} jobs/s, same servers, same run",
        ),
        judged(
            "throughput",
            "small jobs/s (best of sequential, pool)",
            best,
            "jobs/s",
            ">=",
            THROUGHPUT_MIN,
            note="end to end against the embedded AWS, one warm process",
        ),
        *(
            info(
                "throughput",
                f"{label}, {pool_label if pool > 1 else 'sequential'}",
                rate(kind, pool),
                "jobs/s",
                note=describe(kind, pool),
                details=details(kind, pool),
            )
            for kind, label in (
                ("handler", "handler"),
                ("floor", "floor (same servers, minimum requests)"),
            )
            for pool in (1, threads)
        ),
        judged(
            "throughput",
            "function CPU per small job (ceiling = 1/CPU)",
            handler_cpu * 1000,
            "ms",
            "<=",
            1000 / THROUGHPUT_MIN,
            note=(
                f"ceiling {1 / handler_cpu:.0f} jobs/s on one core with instant servers; "
                f"floor's client CPU {floor_cpu * 1000:.1f} ms/job"
            ),
            informational=True,
        ),
    ]


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
