"""Tracing costs nothing at import: the X-Ray SDK loads, and patches botocore, only when
tracing is on and the handler first runs. Checked in fresh interpreters, as Lambda starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from archiver.contract import Metric
from archiver.observability import RecordingMetrics, tracing_enabled
from aws_lambda_powertools.metrics import MetricUnit

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"

PROBE = """
import json, sys
import botocore.client
from archiver.observability import tracer

def loaded():
    return "aws_xray_sdk.core" in sys.modules

def patched():  # X-Ray wraps it with wrapt; botocore decorates it itself with a function
    return type(vars(botocore.client.BaseClient)["_make_api_call"]).__name__ == "FunctionWrapper"

seen = {"import": [loaded(), patched()]}
handler = tracer.capture_lambda_handler(lambda event, context: {"ok": True}, capture_response=False)
seen["decorated"] = [loaded(), patched()]
seen["answer"] = handler({}, None)
seen["invoked"] = [loaded(), patched()]
print(json.dumps(seen))
"""


def probe(**env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_"))}
    base |= {"PYTHONPATH": str(LAMBDAS), "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return seen


def test_given_tracing_on_in_lambda_then_x_ray_loads_and_patches_botocore_on_first_invocation() -> (
    None
):
    seen = probe(LAMBDA_TASK_ROOT=str(LAMBDAS))
    assert seen["import"] == [False, False]
    assert seen["decorated"] == [False, False]
    assert seen["answer"] == {"ok": True}
    assert seen["invoked"] == [True, True]


@pytest.mark.parametrize(
    "env",
    [
        {"LAMBDA_TASK_ROOT": str(LAMBDAS), "POWERTOOLS_TRACE_DISABLED": "true"},
        {},  # not in Lambda
        {"LAMBDA_TASK_ROOT": str(LAMBDAS), "AWS_SAM_LOCAL": "true"},
    ],
)
def test_given_tracing_off_then_the_x_ray_sdk_is_never_imported(env: dict[str, str]) -> None:
    seen = probe(**env)
    assert seen["answer"] == {"ok": True}
    assert seen["invoked"] == [False, False]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),
    ],
)
def test_given_an_environment_then_tracing_follows_powertools_rule(
    env: dict[str, str], expected: bool
) -> None:
    assert tracing_enabled(env) is expected


def test_given_no_cloudwatch_unit_then_recording_metrics_refuses_it_as_powertools_does() -> None:
    sink = RecordingMetrics()
    sink.add(Metric.JOBS_ARCHIVED, MetricUnit.Count, 1)
    sink.add(Metric.JOBS_ARCHIVED, "Count", 2)  # type: ignore[arg-type]
    for unit in (None, "Counts"):
        with pytest.raises(TypeError, match="not a CloudWatch unit"):
            sink.add(Metric.JOBS_ARCHIVED, unit, 1)  # type: ignore[arg-type]
    assert sink.totals == {Metric.JOBS_ARCHIVED: 3}
