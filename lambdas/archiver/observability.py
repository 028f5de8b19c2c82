"""The function's Powertools Logger, Tracer and Metrics, and a metrics seam for the CLI.

Logs go to stderr so that CLI output on stdout (JSON, CSV) stays clean; Lambda sends both
streams to CloudWatch Logs. The Tracer patches only boto3/botocore: patching http.client
would put every presigned output link, query string and all, into X-Ray traces.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from archiver.contract import METRICS_NAMESPACE, METRICS_SERVICE, Metric

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", METRICS_SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)

logger = Logger(service=SERVICE, stream=sys.stderr)

# At DEBUG, botocore logs response bodies (GetTranscriptionJob's presigned links) and
# urllib3 logs every request line, query string and all. Never let them go below INFO,
# whatever the root level is: presigned tokens must not reach the logs.
for _name in ("botocore", "boto3", "s3transfer", "urllib3"):
    logging.getLogger(_name).setLevel(max(logging.getLogger(_name).level, logging.INFO))
tracer = Tracer(service=SERVICE, patch_modules=["boto3", "botocore"])
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)


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
        self.totals[name] = self.totals.get(name, 0.0) + value
