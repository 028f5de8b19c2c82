"""``replay``: re-process the events held in a dead-letter queue."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from archiver.aws import clients
from archiver.cli import common
from archiver.cli.render import REASON_WIDTH, shorten, text
from archiver.logic.archive import Archiver
from archiver.logic.replay import Replay, ReplayResult
from archiver.sources.dead_letters import DeadLetterQueue


def add_parser(commands: Any, options: argparse.ArgumentParser) -> None:
    replay = commands.add_parser(
        "replay",
        parents=[options],
        help="re-process the events held in a dead-letter queue",
        description=(
            "Re-process the events held in a dead-letter queue (the event queue's DLQ, "
            "output OnFailureDlqUrl, or the rules' target DLQ, TargetDlqUrl). A message is "
            "deleted once its job run is recorded; others stay in the queue."
        ),
    )
    replay.add_argument(
        "--queue-url", default=os.environ.get("DLQ_URL"), help="the queue (default: $DLQ_URL)"
    )
    replay.add_argument("--dry-run", action="store_true", help="list, change nothing")
    replay.set_defaults(run=run, parser=replay)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if not args.queue_url:
        args.parser.error("the dead-letter queue is needed: pass --queue-url or set DLQ_URL")
    settings = common.settings(args)
    aws = clients(args.region, args.endpoint_url)
    archiver = None if args.dry_run else Archiver(settings, aws)
    replay = Replay(DeadLetterQueue(aws.sqs, args.queue_url), archiver)
    waiting = replay.waiting()
    with common.progress(err) as progress:
        verb = "Reading" if args.dry_run else "Replaying"
        task = progress.add_task(f"{verb} dead-letter queue", total=waiting or None)

        def advance(result: ReplayResult) -> None:
            total = progress.tasks[task].total or 0
            done = progress.tasks[task].completed + 1
            progress.update(task, completed=done, total=max(total, done))

        report = replay.run(on_result=advance)

    title = (
        f"{len(report.results)} messages in the queue (nothing changed)"
        if args.dry_run
        else f"Replayed {len(report.results)} messages"
    )
    table = Table(title=title)
    for column in ("Job", "Status", "Event time", "Shape", "Result", "Reason"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        parked = result.parked
        table.add_row(
            text(parked.job_name or "?"),
            text(parked.job_status),
            text(parked.event_time),
            text(parked.shape),
            text(result.verdict, "red" if result.verdict == "KEPT" else ""),
            text(shorten(result.reason, 2 * REASON_WIDTH)),
        )
    out.print(table)
    if report.failed:
        kept = len(report.with_verdict("KEPT"))
        what = "1 message" if kept == 1 else f"{kept} messages"
        verb = "stays" if kept == 1 else "stay"
        raise common.RunError(f"{what} could not be replayed and {verb} in the queue")
    return 0
