from __future__ import annotations

from archiver.observability import NAMESPACE, SERVICE, MetricNames

from infra import schema


def test_given_runtime_and_stack_when_compared_then_metric_names_agree() -> None:
    runtime = {v for k, v in vars(MetricNames).items() if k.isupper()}
    stack = {v for k, v in vars(schema).items() if k.startswith("METRIC_")}
    assert runtime == stack
    assert schema.METRICS_NAMESPACE == NAMESPACE
    assert schema.METRICS_SERVICE == SERVICE
