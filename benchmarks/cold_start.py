"""Cold start: what importing the handler costs, next to what ``import boto3`` costs.

Every figure comes from fresh interpreter processes started with the environment a
Lambda function has (``LAMBDA_TASK_ROOT`` & co., Powertools' variables, the contract's
variables), the variants interleaved round by round so machine noise hits all of them
alike. Import cost = wall time of ``python -c "import X"`` minus that of ``python -c pass``.
Tracing is on as in Lambda (Powertools enables the X-Ray tracer when ``LAMBDA_TASK_ROOT``
is set and ``POWERTOOLS_TRACE_DISABLED`` is not); the disabled figure is reported too.
``-X importtime`` runs say what dominates.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Context
from benchmarks.results import Measurement, info, judged, median

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
BENCH = "cold-start"
#: Target (issue 13): importing the handler costs at most this many times ``import boto3``.
MAX_RATIO = 1.5

HANDLER_IMPORT = "import archiver.handler"
#: The import, then what the first traced invocation adds: the X-Ray SDK, botocore patched.
TRACER_BUILT = (
    "import archiver.handler\n"
    "from archiver.observability import tracer\n"
    "if getattr(tracer, 'enabled', False): tracer.get()"
)
VARIANTS: dict[str, str] = {
    "empty": "pass",
    "boto3": "import boto3",
    "handler_traced": HANDLER_IMPORT,
    "handler_untraced": HANDLER_IMPORT,
    "handler_traced_built": TRACER_BUILT,
}


def lambda_env(*, traced: bool, lambdas: Path = LAMBDAS) -> dict[str, str]:
    """The environment of the deployed function (see infra/constructs/archiver_function)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            # What the Lambda runtime sets.
            "LAMBDA_TASK_ROOT": str(lambdas),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "PYTHONPATH": str(lambdas),
            "_HANDLER": "archiver.handler.handler",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": "TranscribeArchiver-Archiver",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/TranscribeArchiver-Archiver",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            # Active tracing: the daemon address (nothing is sent while importing).
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
            "_AWS_XRAY_DAEMON_PORT": "2000",
            # The function's own configuration.
            "ARCHIVE_BUCKET": "transcribe-archive-bench",
            "ARCHIVE_PREFIX": "transcripts/",
            "JOBS_TABLE": "transcribe-jobs-bench",
            "ARCHIVE_UNREDACTED": "true",
            "ALLOWED_SOURCE_HOSTS": "",
            "MAX_OUTPUT_BYTES": str(5 * 1024**3),
            "POWERTOOLS_SERVICE_NAME": "transcribe-archiver",
            "POWERTOOLS_METRICS_NAMESPACE": "TranscribeArchiver",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    if not traced:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def _run(variant: str, lambdas: Path, *, importtime: bool = False) -> tuple[float, str]:
    args = [sys.executable]
    if importtime:
        args += ["-X", "importtime"]
    args += ["-c", VARIANTS[variant]]
    started = time.perf_counter()
    done = subprocess.run(
        args,
        env=lambda_env(traced=variant != "handler_untraced", lambdas=lambdas),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{variant}: {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stderr


_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def _importtime(stderr: str) -> tuple[float, dict[str, float]]:
    """(total seconds of top-level imports, self seconds per top-level package)."""
    total = 0.0
    by_package: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, module = match.groups()
        if len(indent) == 1:  # a top-level import: its cumulative time covers its subtree
            total += int(cumulative_us) / 1e6
        package = module.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(self_us) / 1e6
    return total, by_package


def _compile_seconds(lambdas: Path, repeats: int = 3) -> tuple[float, int]:
    """Compiling the archiver's sources: paid at every cold start when no .pyc is shipped."""
    files = sorted((lambdas / "archiver").rglob("*.py"))
    sources = [(str(f), f.read_text(encoding="utf-8")) for f in files]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for path, source in sources:
            compile(source, path, "exec", dont_inherit=True, optimize=0)
        best = min(best, time.perf_counter() - started)
    return best, len(files)


_TRACING_PROBE = TRACER_BUILT + (
    "\nimport sys, botocore.client\n"
    "print('aws_xray_sdk.core' in sys.modules, 'FunctionWrapper' == "
    "type(vars(botocore.client.BaseClient)['_make_api_call']).__name__)"
)


def _tracing_active(lambdas: Path, *, traced: bool) -> bool:
    """Whether, once the handler has run (the tracer built), X-Ray patched botocore.

    Untraced, the X-Ray SDK must never be loaded at all: tracing that is off costs nothing.
    """
    done = subprocess.run(
        [sys.executable, "-c", _TRACING_PROBE],
        env=lambda_env(traced=traced, lambdas=lambdas),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.split() == ["True", "True"]


def measure(rounds: int, importtime_runs: int = 3, lambdas: Path = LAMBDAS) -> list[Measurement]:
    tracing = {
        "handler_traced": _tracing_active(lambdas, traced=True),
        "handler_untraced": _tracing_active(lambdas, traced=False),
    }
    if not tracing["handler_traced"] or tracing["handler_untraced"]:
        raise RuntimeError(
            f"the Lambda environment did not switch X-Ray tracing as meant: {tracing}"
        )
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for _ in range(2):  # warm the page cache and the .pyc files before measuring
        for variant in order:
            _run(variant, lambdas)
    for round_ in range(rounds):
        rotation = order[round_ % len(order) :] + order[: round_ % len(order)]
        for variant in rotation:
            times[variant].append(_run(variant, lambdas)[0])

    empty = median(times["empty"])
    boto3_cost = median(times["boto3"]) - empty
    out: list[Measurement] = []

    def per_round(variant: str) -> list[float]:
        return [
            (h - e) / (b - e)
            for h, e, b in zip(times[variant], times["empty"], times["boto3"], strict=True)
            if b > e
        ]

    raw = {k: [round(t, 4) for t in v] for k, v in times.items()}
    for variant, label in (("handler_traced", "traced"), ("handler_untraced", "untraced")):
        cost = median(times[variant]) - empty
        ratio = cost / boto3_cost if boto3_cost > 0 else float("inf")
        out.append(
            judged(
                BENCH,
                f"import handler / import boto3 ({label})",
                ratio,
                "x",
                "<=",
                MAX_RATIO,
                samples=per_round(variant),
                note="per-round ratios; value = ratio of medians",
                details={
                    "handler_import_seconds": cost,
                    "boto3_import_seconds": boto3_cost,
                    "empty_interpreter_seconds": empty,
                    "raw_seconds": raw,
                    "tracing": label,
                    "tracer_active": tracing[variant],
                },
            )
        )
    built = median(times["handler_traced_built"]) - empty
    out.append(
        info(
            BENCH,
            "import + X-Ray built (first traced invocation) / boto3",
            built / boto3_cost if boto3_cost > 0 else float("inf"),
            "x",
            samples=per_round("handler_traced_built"),
            note=(
                f"the tracer is built when the handler first runs: "
                f"+{(built - (median(times['handler_traced']) - empty)) * 1000:.0f} ms, once"
            ),
        )
    )
    out.append(
        info(
            BENCH,
            "import handler, traced (wall - empty)",
            (median(times["handler_traced"]) - empty) * 1000,
            "ms",
            samples=[(t - empty) * 1000 for t in times["handler_traced"]],
        )
    )
    out.append(
        info(
            BENCH,
            "import boto3 (wall - empty)",
            boto3_cost * 1000,
            "ms",
            samples=[(t - empty) * 1000 for t in times["boto3"]],
        )
    )

    # -X importtime: totals and what dominates.
    totals: dict[str, list[float]] = {v: [] for v in VARIANTS}
    packages: dict[str, float] = {}
    for _ in range(importtime_runs):
        for variant in order:
            total, by_package = _importtime(_run(variant, lambdas, importtime=True)[1])
            totals[variant].append(total)
            if variant == "handler_traced":
                for package, seconds in by_package.items():
                    packages[package] = packages.get(package, 0.0) + seconds / importtime_runs
    base = median(totals["empty"])
    boto3_it = median(totals["boto3"]) - base
    traced_it = median(totals["handler_traced"]) - base
    top = sorted(packages.items(), key=lambda kv: -kv[1])[:12]
    out.append(
        judged(
            BENCH,
            "-X importtime handler / boto3 (traced)",
            traced_it / boto3_it if boto3_it > 0 else float("inf"),
            "x",
            "<=",
            MAX_RATIO,
            samples=[t - base for t in totals["handler_traced"]],
            note="cross-check of the wall-time ratio; samples = handler import s",
            details={
                "handler_traced_seconds": traced_it,
                "handler_untraced_seconds": median(totals["handler_untraced"]) - base,
                "boto3_seconds": boto3_it,
                "self_seconds_by_package": {k: round(v, 4) for k, v in top},
            },
            informational=True,
        )
    )
    out.append(
        info(
            BENCH,
            "heaviest packages (self time, traced)",
            None,
            "",
            note=", ".join(f"{k} {v * 1000:.0f} ms" for k, v in top[:6]),
            details={"self_seconds_by_package": {k: round(v, 4) for k, v in top}},
        )
    )
    compile_s, files = _compile_seconds(lambdas)
    out.append(
        info(
            BENCH,
            "compile archiver sources (no .pyc in asset)",
            compile_s * 1000,
            "ms",
            note=f"{files} files; paid per cold start if the asset ships no __pycache__",
        )
    )
    return out


def bench_cold_start(ctx: Context) -> list[Measurement]:
    return measure(
        ctx.config.cold_rounds,
        importtime_runs=1 if ctx.config.quick else 3,
        lambdas=ctx.lab.lambdas,
    )
