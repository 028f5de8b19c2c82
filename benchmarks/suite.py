"""``python -m benchmarks``: the command line that runs the benchmarks of issue "Fast and lean
at any size" and shows their results.

Each benchmark (one module per concern) drives the archiver's handler in its own child
process (``benchmarks.worker``) against the embedded AWS and the Transcribe double running
in this process, and returns measurements; comparisons are always made side by side in the
same run, because the machine is shared and noisy: ratios, medians, alternating order.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from benchmarks import cold_start, memory, parallel, profiles, server_copy, speed, throughput
from benchmarks.common import Config, Context
from benchmarks.harness import Lab
from benchmarks.results import Measurement, plot_memory, render_table, write_json

HERE = Path(__file__).resolve().parent


BENCHMARKS: dict[str, Callable[[Context], list[Measurement]]] = {
    "memory": memory.bench_memory,
    "speed": speed.bench_speed,
    "parallel": parallel.bench_parallel,
    "server-copy": server_copy.bench_server_copy,
    "cold-start": cold_start.bench_cold_start,
    "throughput": throughput.bench_throughput,
    "profiles": profiles.bench_profiles,
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
        plot_memory(args.png, points, memory.MEMORY_LIMIT_MIB)
        console.print(f"memory plot: {args.png}")
    statuses = {m.status for m in measurements}
    if "ERROR" in statuses:
        return 1
    if args.strict and "FAIL" in statuses:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
