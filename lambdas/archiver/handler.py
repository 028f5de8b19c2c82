"""Lambda entry point: hand the event to the logic, nothing else.

Three kinds of invocation: the schedule's sweep request, an SQS batch from the event queue
(each body one EventBridge event), and a plain EventBridge event invoked directly.
"""

from __future__ import annotations

from typing import Any

if not __package__:
    # Loaded as a plain file (lambdas/archiver/handler.py) rather than as archiver.handler:
    # register the package from this folder, as Lambda's own import would find it.
    import importlib.util
    import sys
    from pathlib import Path

    _init = Path(__file__).resolve().with_name("__init__.py")
    _spec = importlib.util.spec_from_file_location(
        "archiver", _init, submodule_search_locations=[str(_init.parent)]
    )
    if _spec is not None and _spec.loader is not None and "archiver" not in sys.modules:
        sys.modules["archiver"] = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(sys.modules["archiver"])

from archiver.aws import clients
from archiver.contract import SWEEP_ACTION
from archiver.deadline import Deadline
from archiver.logic.archive import Archiver
from archiver.logic.batch import SerializedMetrics, handle_batch, is_sqs_batch
from archiver.logic.events import handle_event
from archiver.models.events import Origin
from archiver.observability import PowertoolsMetrics, logger, metrics, tracer
from archiver.settings import Settings

_archivers: dict[Settings, Archiver] = {}
#: One sink for the whole invocation: the records of a batch report from their own threads.
_metrics = SerializedMetrics(PowertoolsMetrics())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deadline = Deadline.from_context(context)
    # Events of another account or region name jobs this one never ran (a default bus also
    # receives what other accounts' rules forward): rejected, never recorded.
    origin = Origin.from_function_arn(getattr(context, "invoked_function_arn", None))
    if isinstance(event, dict) and event.get("action") == SWEEP_ACTION:
        from archiver.logic.sweep import scheduled_sweep  # noqa: PLC0415 - rare: not at import

        return scheduled_sweep(event, _archiver(), deadline=deadline, metrics=_metrics)
    if is_sqs_batch(event):
        return handle_batch(event, _archiver(), deadline=deadline, metrics=_metrics, origin=origin)
    outcome = handle_event(event, _archiver(), deadline=deadline, metrics=_metrics, origin=origin)
    return outcome.as_response()


def _archiver() -> Archiver:
    """One archiver per configuration, kept warm across invocations."""
    settings = Settings.from_env()
    aws = clients()
    archiver = _archivers.get(settings)
    if archiver is None or archiver.aws is not aws:
        archiver = Archiver(settings, aws, metrics=_metrics)
        _archivers[settings] = archiver
    return archiver
