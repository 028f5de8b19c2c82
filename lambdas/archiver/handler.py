"""Lambda entry point: parse the event, archive the job run it reports, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if not __package__:
    # Loaded as a plain file (lambdas/archiver/handler.py) rather than as archiver.handler:
    # make the package importable the way Lambda sees it.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import ValidationError, parse

from archiver.aws import clients
from archiver.logic.archive import Archiver, Deadline
from archiver.models import TranscribeJobStateChange
from archiver.observability import MetricNames, PowertoolsMetrics, logger, metrics, tracer
from archiver.settings import Settings

_archivers: dict[Settings, Archiver] = {}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_event(event, context, _archiver())


def process_event(event: Any, context: Any, archiver: Archiver) -> dict[str, Any]:
    """Archive the job run an event reports; reject (log, count, return) anything else."""
    try:
        parsed = parse(event=event, model=TranscribeJobStateChange)
    except (ValidationError, ValueError, TypeError) as exc:
        reasons = _reasons(exc)
        metrics.add_metric(name=MetricNames.EVENTS_REJECTED, unit=MetricUnit.Count, value=1)
        logger.warning(
            "event rejected: not a Transcribe job state change for COMPLETED or FAILED",
            extra={
                "reasons": reasons,
                "event_source": event.get("source") if isinstance(event, dict) else None,
                "event_detail_type": event.get("detail-type") if isinstance(event, dict) else None,
                "event_id": event.get("id") if isinstance(event, dict) else None,
            },
        )
        return {"outcome": "REJECTED", "reasons": reasons}

    detail = parsed.detail
    # Thread-local keys: one process may serve several events at once (replay, tests).
    logger.thread_safe_append_keys(job_name=detail.TranscriptionJobName, event_id=parsed.id)
    deadline = Deadline.from_context(context) if _has_clock(context) else None
    try:
        result = archiver.archive_job(
            detail.TranscriptionJobName,
            event_time=parsed.time,
            event_status=detail.TranscriptionJobStatus,
            deadline=deadline,
        )
    except Exception:
        metrics.add_metric(name=MetricNames.ARCHIVE_ERRORS, unit=MetricUnit.Count, value=1)
        logger.exception("archiving failed; Lambda retries the event, then parks it in the DLQ")
        raise
    finally:
        logger.thread_safe_clear_keys()
    return {
        "outcome": result.outcome,
        "jobName": result.job_name,
        "createdAt": result.created_at,
        "archiveUri": result.archive_uri,
        "errors": result.errors,
    }


def _archiver() -> Archiver:
    settings = Settings.from_env()
    aws = clients()
    archiver = _archivers.get(settings)
    if archiver is None or archiver.aws is not aws:
        archiver = Archiver(settings, aws, metrics=PowertoolsMetrics())
        _archivers[settings] = archiver
    return archiver


def _has_clock(context: Any) -> bool:
    return callable(getattr(context, "get_remaining_time_in_millis", None))


def _reasons(exc: Exception) -> list[str]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return [
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"[:200]
                for e in errors()
            ][:10]
        except Exception:  # noqa: S110 - fall back to the plain message below
            pass
    return [str(exc)[:200]]
