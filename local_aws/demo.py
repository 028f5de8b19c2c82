"""`make demo`: the whole pipeline on an embedded AWS, no account needed.

moto's server (127.0.0.1) plays S3, DynamoDB, EventBridge and SQS; the Transcribe double
plays Transcribe and serves real output links. The bucket, table and EventBridge rule are
built from the same definitions the stack uses (archiver.contract). Each job's state-change
event goes through the rules (one per job kind) into an SQS queue — plus one duplicate
delivery — and the emulated event source mapping (local_aws.event_source_mapping) hands
the queue to the archiver's handler in batches, as the stack's does. Medical and
HealthScribe jobs send no event: the scheduled sweep (the handler's ``sweep`` action) finds
them, as the stack's schedule does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from archiver import contract
from rich.console import Console
from rich.table import Table

from local_aws.archive_env import archiver_environment
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.event_source_mapping import EventSourceMapping, MappingReport
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe

ARCHIVE_BUCKET = "transcribe-archive-demo"
TEAM_BUCKET = "team-transcribe-output"
TABLE = "transcribe-jobs-demo"
QUEUE = "archiver-events"
RULE = "transcribe-job-finished"

# Wide enough for the tables even when the output is piped (rich would pick 80 columns).
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def add_jobs(fake: FakeTranscribe) -> list[tuple[str, str]]:
    """One job of every shape the archiver handles; returns (name, what it shows)."""
    fake.add_job("support-call-0001")
    fake.add_job(
        "media-interview-team-bucket",
        output_bucket=TEAM_BUCKET,
        subtitle_formats=["vtt", "srt"],
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    )
    fake.add_job(
        "sales-call-redacted",
        redaction="redacted_and_unredacted",
        tags={"Department": "Sales", "CostCenter": "4711"},
    )
    fake.add_job("webinar-subtitles", subtitle_formats=["vtt", "srt"])
    fake.add_job("broken-upload", status="FAILED", failure_reason="Unsupported media format")
    fake.add_job(
        "town-hall-multilingual",
        language_code=None,
        identify_language=True,
        language_codes=[("en-US", 1820.5), ("es-US", 611.0)],
        identified_language_score=0.97,
    )
    fake.add_job("kundengespraech-de", language_code="de-DE", tags={"Department": "Support"})
    fake.add_job("seoul-branch-call", language_code="ko-KR")
    fake.add_call_analytics_job(
        "contact-center-call-0042",
        redaction="redacted_and_unredacted",
        tags={"Queue": "Billing"},
    )
    return [
        ("support-call-0001", "plain job, service-managed bucket (presigned links)"),
        ("media-interview-team-bucket", "team's own output bucket, VTT + SRT (S3 copy)"),
        ("sales-call-redacted", "PII redaction (redacted + unredacted), tagged"),
        ("webinar-subtitles", "subtitles from the service bucket"),
        ("broken-upload", "FAILED at Transcribe: job.json and the reason"),
        ("town-hall-multilingual", "multi-language identification"),
        ("kundengespraech-de", "German, tagged"),
        ("seoul-branch-call", "Korean UTF-8 transcript"),
        ("contact-center-call-0042", "Call Analytics, two channels, redacted transcript + audio"),
    ]


def add_swept_jobs(fake: FakeTranscribe) -> list[tuple[str, str]]:
    """Jobs of the kinds no event announces: the sweep finds them."""
    fake.add_medical_job(
        "clinic-dictation-0007",
        output_bucket=TEAM_BUCKET,
        type="DICTATION",
        content_identification="PHI",
        tags={"Clinic": "North"},
    )
    fake.add_medical_scribe_job(
        "clinic-visit-0042", output_bucket=TEAM_BUCKET, note_template="HISTORY_AND_PHYSICAL"
    )
    return [
        ("clinic-dictation-0007", "Transcribe Medical dictation, PHI labelled (sweep, S3 copy)"),
        ("clinic-visit-0042", "HealthScribe visit: transcript + clinical note (sweep, S3 copy)"),
    ]


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main() -> int:
    started = time.monotonic()
    with EmbeddedAWS() as aws:
        s3 = aws.client("s3")
        with FakeTranscribe(s3_client=s3) as fake:
            err.print(
                f"[dim]embedded AWS on {aws.endpoint_url}, Transcribe double on "
                f"{fake.endpoint_url}[/dim]"
            )
            aws.create_archive(ARCHIVE_BUCKET, TABLE)
            aws.create_bucket(TEAM_BUCKET)
            queue_url = _route_events_to_queue(aws)
            jobs = add_jobs(fake)
            swept = add_swept_jobs(fake)

            env = archiver_environment(aws, fake, bucket=ARCHIVE_BUCKET, table=TABLE) | {
                "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would drown the tables
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
            with environment(env):
                from archiver.cli import main as cli_main  # noqa: PLC0415 - env first
                from archiver.handler import handler  # noqa: PLC0415 - env first

                events = aws.client("events")
                entries = [_entry(fake.event_for(name)) for name, _ in jobs]
                # A duplicate delivery and events no rule may match.
                entries.append(_entry(fake.event_for(jobs[0][0])))
                entries.append(_vocabulary_event())
                entries.append(_post_call_event())
                for batch in (entries[i : i + 10] for i in range(0, len(entries), 10)):
                    failed = events.put_events(Entries=batch)["FailedEntryCount"]  # type: ignore[arg-type]
                    if failed:
                        err.print(f"[red]EventBridge refused {failed} events[/red]")
                        return 1

                deliveries, report = _drain(aws, queue_url, handler)
                sweep = handler({"action": contract.SWEEP_ACTION}, FakeLambdaContext())
                recorded = _recorded(aws, jobs + swept)
                _print_outcomes(jobs + swept, deliveries, recorded)
                console.print(
                    f"The sweep listed {sweep.get('listed')} finished jobs of every kind and "
                    f"archived {sweep.get('recovered')} that no event had announced."
                )
                console.rule("History (transcribe-archiver history list)")
                cli_main(["history", "list", "--table", TABLE])
                console.rule("Archive objects")
                _print_objects(s3)
                console.rule("One job (transcribe-archiver history show sales-call-redacted)")
                cli_main(["history", "show", "sales-call-redacted", "--table", TABLE])
                console.rule("A Call Analytics job (history show contact-center-call-0042)")
                cli_main(["history", "show", "contact-center-call-0042", "--table", TABLE])
                console.rule("A HealthScribe job (history show clinic-visit-0042)")
                cli_main(["history", "show", "clinic-visit-0042", "--table", TABLE])

    elapsed = time.monotonic() - started
    delivered = sum(deliveries.values())
    # Every job archived, once, although the first was delivered twice; no record failed;
    # the vocabulary and post-call streaming events never matched a rule.
    # The Medical and HealthScribe jobs, which send no event, were archived by the sweep.
    ok = (
        all(recorded[name] == ["ARCHIVED"] for name, _ in jobs + swept)
        and sweep.get("recovered") == len(swept)
        and delivered == len(jobs) + 1
        and deliveries[jobs[0][0]] == 2
        and not report.reported_failures
        and not report.failed_batches
    )
    console.print(
        f"\n{delivered} events delivered by the rules ({len(entries)} sent) in "
        f"{report.invocations} batches, {len(jobs + swept)} job runs recorded, in "
        f"{elapsed:.1f} s. "
        "Everything stopped."
    )
    if not ok:
        err.print(f"[red]demo failed: deliveries {dict(deliveries)}, recorded {recorded}[/red]")
    return 0 if ok else 1


def _route_events_to_queue(aws: EmbeddedAWS) -> str:
    sqs = aws.client("sqs")
    events = aws.client("events")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    for kind, pattern in contract.EVENT_PATTERNS.items():
        rule = f"{RULE}-{kind.option}"
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(
            Rule=rule, Targets=[{"Id": "archiver", "Arn": arn["Attributes"]["QueueArn"]}]
        )
    return queue_url


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }


def _vocabulary_event() -> dict[str, Any]:
    return {
        "Source": "aws.transcribe",
        "DetailType": "Vocabulary State Change",
        "Detail": json.dumps({"VocabularyName": "product-names", "VocabularyState": "READY"}),
        "Resources": [],
    }


def _post_call_event() -> dict[str, Any]:
    """What a streaming Call Analytics session sends: no batch job to archive."""
    return {
        "Source": "aws.transcribe",
        "DetailType": "Call Analytics Post Call Job State Change",
        "Detail": json.dumps({"StreamingSessionId": "session-1", "PostCallStatus": "COMPLETED"}),
        "Resources": [],
    }


def _drain(aws: EmbeddedAWS, queue_url: str, handler: Any) -> tuple[Counter[str], MappingReport]:
    """Hand the queued events to the handler as the event source mapping does: batches of
    contract.QUEUE_BATCH_SIZE, partial batch responses. Returns deliveries per job."""
    bodies: dict[str, str] = {}

    def remember(records: list[dict[str, Any]]) -> None:
        bodies.update((record["messageId"], record["body"]) for record in records)

    # One execution environment: the handler runs in this process, whose environment the
    # demo has set.
    with ThreadPoolExecutor(max_workers=1) as pool:
        mapping = EventSourceMapping(
            aws.client("sqs"),
            queue_url,
            executor=pool,
            handler=handler,
            max_concurrency=1,
            batch_size=contract.QUEUE_BATCH_SIZE,
            before_invoke=remember,
        )
        report = mapping.run(timeout=60)
    deliveries: Counter[str] = Counter()
    for message_id, body in bodies.items():
        detail = json.loads(body).get("detail", {})
        # A Call Analytics event names its job JobName.
        name = detail.get("TranscriptionJobName") or detail.get("JobName") or "?"
        deliveries[name] += report.received[message_id]
    return deliveries, report


def _recorded(aws: EmbeddedAWS, jobs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The ArchiveStatus of every run the table holds, per job."""
    db = aws.client("dynamodb")
    return {
        name: [
            item["ArchiveStatus"]["S"]
            for item in db.query(
                TableName=TABLE,
                KeyConditionExpression="JobName = :n",
                ExpressionAttributeValues={":n": {"S": name}},
            )["Items"]
        ]
        for name, _ in jobs
    }


def _print_outcomes(
    jobs: list[tuple[str, str]], deliveries: Counter[str], recorded: dict[str, list[str]]
) -> None:
    table = Table(title="Simulated Transcribe jobs and what the archiver did")
    table.add_column("job")
    table.add_column("shape")
    table.add_column("deliveries", justify="right")
    table.add_column("recorded runs")
    for name, shape in jobs:
        table.add_row(name, shape, str(deliveries[name]), ", ".join(recorded[name]) or "-")
    console.print(table)


def _print_objects(s3: Any) -> None:
    for prefix in (
        contract.DEFAULT_ARCHIVE_PREFIX,
        contract.DEFAULT_CALL_ANALYTICS_PREFIX,
        contract.DEFAULT_MEDICAL_PREFIX,
        contract.DEFAULT_MEDICAL_SCRIBE_PREFIX,
    ):
        table = Table(title=f"s3://{ARCHIVE_BUCKET}/{prefix}")
        table.add_column("job")
        table.add_column("run")
        table.add_column("object")
        table.add_column("bytes", justify="right")
        table.add_column("content type")
        table.add_column("metadata")
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=ARCHIVE_BUCKET, Prefix=prefix):
            for obj in page.get("Contents", []):
                head = s3.head_object(Bucket=ARCHIVE_BUCKET, Key=obj["Key"])
                meta = " ".join(f"{k}={v}" for k, v in sorted(head["Metadata"].items()))
                job, run, name = obj["Key"].removeprefix(prefix).split("/", 2)
                table.add_row(job, run, name, str(obj["Size"]), head["ContentType"], meta)
        console.print(table)


if __name__ == "__main__":
    sys.exit(main())
