"""The function's Powertools Logger, Tracer and Metrics, and a metrics seam for the CLI.

Logs go to stderr so that CLI output on stdout (JSON, CSV) stays clean; Lambda sends both
streams to CloudWatch Logs. The Tracer patches only botocore: patching http.client would
put every presigned output link, query string and all, into X-Ray traces.

Tracing costs nothing at import: Powertools' Tracer imports the X-Ray SDK (~40 ms of a cold
start) as soon as it is built, even disabled, so it is built only when tracing is on (in
Lambda, unless ``POWERTOOLS_TRACE_DISABLED``; Powertools' own rule), and only when the
handler first runs.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from archiver.contract import METRICS_NAMESPACE, METRICS_SERVICE, Metric

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", METRICS_SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)

logger = Logger(service=SERVICE, stream=sys.stderr)

# At DEBUG, botocore logs response bodies (GetTranscriptionJob's presigned links) and
# urllib3 logs every request line, query string and all. Never let them go below INFO,
# whatever the root level is: presigned tokens must not reach the logs.
for _name in ("botocore", "boto3", "s3transfer", "urllib3"):
    logging.getLogger(_name).setLevel(max(logging.getLogger(_name).level, logging.INFO))
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)


def tracing_enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether Powertools would trace here: in Lambda, not in a local emulator, not off."""
    if resolve_truthy_env_var_choice(env=env.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    emulated = env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE")
    return bool(env.get("LAMBDA_TASK_ROOT")) and not emulated


class LazyTracer:
    """Powertools' Tracer, built by the first traced invocation instead of at import.

    Building it imports the X-Ray SDK (with asyncio, ~40 ms) and patches botocore, which
    then traces every client, those made before included. When tracing is off it is never
    built, so the SDK is never imported.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    def get(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                self._tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
            return self._tracer

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        """Powertools' decorator of the same name, applied when the handler first runs."""
        if lambda_handler is None:
            return functools.partial(
                self.capture_lambda_handler,
                capture_response=capture_response,
                capture_error=capture_error,
            )
        if not self.enabled:
            return lambda_handler
        traced: list[Callable[..., Any]] = []
        original = lambda_handler

        @functools.wraps(original)
        def handler(event: Any, context: Any) -> Any:
            if not traced:
                traced.append(
                    self.get().capture_lambda_handler(
                        original, capture_response=capture_response, capture_error=capture_error
                    )
                )
            return traced[0](event, context)

        return handler


tracer = LazyTracer(tracing_enabled())


#: Kept under its old name for callers; the names themselves live in the contract.
MetricNames = Metric


class MetricsSink(Protocol):
    """Where the archiving logic reports figures: Powertools in Lambda, nothing in the CLI."""

    def add(self, name: str, unit: MetricUnit, value: float) -> None: ...


class PowertoolsMetrics:
    """Forwards to Powertools Metrics (flushed as EMF by ``@metrics.log_metrics``)."""

    def add(self, name: str, unit: MetricUnit, value: float) -> None:
        metrics.add_metric(name=name, unit=unit, value=value)


class NoMetrics:
    """For the CLI and scripts: figures are shown to the user, not sent to CloudWatch."""

    def add(self, name: str, unit: MetricUnit, value: float) -> None:
        return None


class RecordingMetrics:
    """Keeps totals in memory: for tests and the demo's summary."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, name: str, unit: MetricUnit, value: float) -> None:
        # What Powertools refuses (a unit that is not one of CloudWatch's) is refused here
        # too, so a test that records metrics also checks what the function would send.
        try:
            MetricUnit(unit)
        except ValueError:
            raise TypeError(f"metric {name!r}: {unit!r} is not a CloudWatch unit") from None
        self.totals[name] = self.totals.get(name, 0.0) + value
