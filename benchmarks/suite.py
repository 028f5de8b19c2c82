"""The benchmarks of issue "Fast and lean at any size", and the command line that runs them.

Each benchmark drives the archiver's handler in its own child process (``benchmarks.worker``)
against the embedded AWS and the Transcribe double running in this process, and returns
measurements; comparisons are always made side by side in the same run, because the
machine is shared and noisy: ratios, medians, alternating order.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import cold_start
from benchmarks.harness import TEAM_BUCKET, Lab, WorkerProcess
from benchmarks.results import (
    Measurement,
    MiB,
    info,
    judged,
    median,
    plot_memory,
    render_table,
    write_json,
)
from local_aws.transcribe import OUTPUTS, Fault, GeneratedContent

HERE = Path(__file__).resolve().parent

# Targets (issue "Fast and lean at any size").
MEMORY_JUDGED_MIB = 256  # the output size the memory limit is judged at
MEMORY_LIMIT_MIB = 64.0  # peak RSS growth for a 256 MiB output
MEMORY_FLAT_MIB = 16.0  # growth(largest) - growth(256 MiB): "flat" = less than two parts
SPEED_MAX_RATIO = 1.2
PARALLEL_MAX_SECONDS = 2.0
PARALLEL_DELAY = 1.5
THROUGHPUT_MIN = 50.0
SERVER_COPY_MIB = 32


@dataclass(frozen=True)
class Config:
    quick: bool
    sizes_mib: tuple[int, ...]
    speed_mib: int
    speed_reps: int
    memory_reps: int
    parallel_reps: int
    copy_reps: int
    jobs: int
    threads: int
    cold_rounds: int
    profile_reps: int

    @classmethod
    def make(cls, quick: bool, max_mib: int | None) -> Config:
        sizes = (1, 16, 64, 256, 512, 1024)
        cap = max_mib or (256 if quick else 1024)
        return cls(
            quick=quick,
            sizes_mib=tuple(s for s in sizes if s <= cap) or (cap,),
            speed_mib=min(64 if quick else 256, cap),
            speed_reps=3 if quick else 7,
            memory_reps=1 if quick else 3,
            parallel_reps=1 if quick else 3,
            copy_reps=1 if quick else 3,
            jobs=60 if quick else 300,
            threads=4,
            cold_rounds=4 if quick else 10,
            profile_reps=1 if quick else 3,
        )


class Context:
    """What a benchmark gets: the lab, the configuration, and a place for the plot data."""

    def __init__(self, lab: Lab, config: Config) -> None:
        self.lab = lab
        self.config = config
        self.memory_points: list[dict[str, float]] = []


def _check_archived(answer: dict[str, Any], name: str) -> None:
    outcome = answer["result"].get("outcome")
    if outcome != "ARCHIVED":
        raise AssertionError(f"{name}: outcome {outcome}, errors {answer['result'].get('errors')}")


def _warm_up(lab: Lab, worker: WorkerProcess) -> None:
    """One small job: clients, pools and lazy imports exist before anything is measured."""
    name = lab.new_job("warmup")
    _check_archived(worker.archive(lab.event(name)), name)


def _sha_ok(lab: Lab, name: str) -> bool:
    """The record's transcript SHA-256 is that of the bytes the double serves."""
    stored = lab.record(name)["Outputs"]["transcript.json"]["Sha256"]
    return bool(stored == lab.fake.output_sha256(name, "transcript"))


# -- memory -------------------------------------------------------------------------------
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
    above = [s for s in growth if s > MEMORY_JUDGED_MIB]
    if MEMORY_JUDGED_MIB in growth and above:
        worst = max(above, key=lambda s: growth[s])
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


def _memory_once(lab: Lab, size: int) -> dict[str, float]:
    """Archive one output of ``size`` MiB in a fresh function process; its memory figures."""
    with lab.worker(f"memory-{size}") as worker:
        _warm_up(lab, worker)
        before = worker.memory()
        name = lab.new_job(
            f"memory-{size}", outputs={"transcript": GeneratedContent(size * MiB, seed=size)}
        )
        answer = worker.archive(lab.event(name), timeout=600)
        _check_archived(answer, name)
    if not _sha_ok(lab, name):
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


# -- speed --------------------------------------------------------------------------------
def bench_speed(ctx: Context) -> list[Measurement]:
    """Archiver vs a plain streaming copy of the same bytes between the same servers."""
    lab, size = ctx.lab, ctx.config.speed_mib
    content = GeneratedContent(size * MiB, seed=size)
    baseline: list[float] = []
    archiver: list[float] = []
    cpu: dict[str, list[float]] = {"baseline": [], "archiver": []}
    with lab.worker("speed") as worker:
        _warm_up(lab, worker)
        part_size = int(worker.ready["part_size"])
        warm = lab.new_job("speed-warmup", outputs={"transcript": GeneratedContent(3 * part_size)})
        _baseline_copy(lab, worker, warm)
        _check_archived(worker.archive(lab.event(warm)), warm)  # the multipart path, warm
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
                    _check_archived(answer, name)
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


# -- parallel outputs ---------------------------------------------------------------------
def bench_parallel(ctx: Context) -> list[Measurement]:
    """Four outputs that each take 1.5 s to answer: archived in about 1.5 s, not 6 s."""
    lab, times = ctx.lab, []
    with lab.worker("parallel") as worker:
        _warm_up(lab, worker)
        for _ in range(ctx.config.parallel_reps):
            name = lab.new_job(
                "parallel", redaction="redacted_and_unredacted", subtitle_formats=["vtt", "srt"]
            )
            for output in OUTPUTS:
                lab.fake.inject(name, output, [Fault.delay(PARALLEL_DELAY)])
            answer = worker.archive(lab.event(name))
            _check_archived(answer, name)
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


# -- server-side copies -------------------------------------------------------------------
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
        _warm_up(lab, worker)
        for _ in range(ctx.config.copy_reps):
            name = lab.new_job(
                "team-copy", output_bucket=TEAM_BUCKET, outputs={"transcript": content}
            )
            before = lab.fake.bytes_served
            answer = worker.archive(lab.event(name), timeout=300)
            _check_archived(answer, name)
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


# -- cold start ---------------------------------------------------------------------------
def bench_cold_start(ctx: Context) -> list[Measurement]:
    return cold_start.measure(
        ctx.config.cold_rounds,
        importtime_runs=1 if ctx.config.quick else 3,
        lambdas=ctx.lab.lambdas,
    )


# -- throughput ---------------------------------------------------------------------------
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
        _warm_up(lab, worker)
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
    return [
        judged(
            "throughput",
            "small jobs/s (best of sequential, pool)",
            best,
            "jobs/s",
            ">=",
            THROUGHPUT_MIN,
            note="end to end against the embedded AWS, one warm process",
        ),
        info(
            "throughput",
            "handler, sequential",
            rate("handler", 1),
            "jobs/s",
            note=describe("handler", 1),
            details=details("handler", 1),
        ),
        info(
            "throughput",
            f"handler, {pool_label}",
            rate("handler", threads),
            "jobs/s",
            note=describe("handler", threads),
            details=details("handler", threads),
        ),
        info(
            "throughput",
            "floor (same servers, minimum requests), sequential",
            rate("floor", 1),
            "jobs/s",
            note=describe("floor", 1),
            details=details("floor", 1),
        ),
        info(
            "throughput",
            f"floor, {pool_label}",
            rate("floor", threads),
            "jobs/s",
            note=describe("floor", threads),
            details=details("floor", threads),
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


# -- cost profiles ------------------------------------------------------------------------
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
        _warm_up(lab, worker)
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
                _check_archived(answer, name)
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


BENCHMARKS: dict[str, Callable[[Context], list[Measurement]]] = {
    "memory": bench_memory,
    "speed": bench_speed,
    "parallel": bench_parallel,
    "server-copy": bench_server_copy,
    "cold-start": bench_cold_start,
    "throughput": bench_throughput,
    "profiles": bench_profiles,
}


# -- command line -------------------------------------------------------------------------
def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks against the embedded AWS and the local Transcribe double.",
        epilog=(
            "Exit status: 0 when every benchmark ran (even if a target was missed: the table "
            "says FAIL), 1 when a benchmark could not run (ERROR), or with --strict when a "
            "target was missed. BENCH_QUICK=1 means --quick."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "").lower() in ("1", "true", "yes"),
        help="fewer repetitions, outputs up to 256 MiB (well under a minute)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--max-mib", type=int, help="largest output size for the memory curve")
    parser.add_argument(
        "--lambdas",
        type=Path,
        help="benchmark the archiver from this source tree instead (e.g. a patched copy "
        "of lambdas/); the servers and baselines stay the same",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when any target is missed")
    parser.add_argument("--json", type=Path, default=HERE / "results.json", help="results file")
    parser.add_argument("--png", type=Path, default=HERE / "memory.png", help="memory plot")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    config = Config.make(args.quick, args.max_mib)
    # A pipe (make bench | tee) gets a wide table rather than rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=170)
    selected = args.only or list(BENCHMARKS)
    measurements: list[Measurement] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="archiver-bench-") as logs,
        Lab(Path(logs), args.lambdas) as lab,
    ):
        ctx = Context(lab, config)
        for name in selected:
            console.print(f"[bold]running[/] {name} ...")
            t0 = time.perf_counter()
            try:
                found = BENCHMARKS[name](ctx)
            except Exception as exc:
                detail = f"{exc.__class__.__name__}: {exc}"
                console.print(f"[red]{name} failed:[/] {detail}")
                found = [Measurement(name, "could not run", None, "", None, "ERROR", note=detail)]
            measurements.extend(found)
            console.print(f"  done in {time.perf_counter() - t0:.1f} s")
        errors = lab.fake.handler_errors
        if errors:
            measurements.append(
                Measurement(
                    "harness",
                    "Transcribe double errors",
                    len(errors),
                    "",
                    "== 0",
                    "ERROR",
                    note=errors[0][-300:],
                )
            )
        points = list(ctx.memory_points)
    seconds = time.perf_counter() - started
    render_table(
        measurements,
        console,
        f"Transcribe Archiver benchmarks ({'quick' if config.quick else 'full'}, {seconds:.0f} s)",
    )
    settings = {
        "quick": config.quick,
        "only": selected,
        "config": config.__dict__,
        "lambdas": str(args.lambdas or HERE.parent / "lambdas"),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, measurements, settings=settings, seconds=seconds)
    console.print(f"results: {args.json}")
    if points:
        plot_memory(args.png, points, MEMORY_LIMIT_MIB)
        console.print(f"memory plot: {args.png}")
    statuses = {m.status for m in measurements}
    if "ERROR" in statuses:
        return 1
    if args.strict and "FAIL" in statuses:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
